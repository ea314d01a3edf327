"""Third-party sharing: recipients with their data-security agreements, and every disclosure to them."""

# The register answers consent's port for the recipients a grant or a notice names (govern/consent/recipients.py).
from govern.sharing import register as _register  # noqa: F401
