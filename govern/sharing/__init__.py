"""Third-party sharing: recipients with their data-security agreements, and every disclosure to them."""
