"""Identity: principals (services and staff), their API keys, roles and what routes require of them."""
