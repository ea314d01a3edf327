"""govern: the system of record for a CRM's customer personal data."""

__version__ = "0.1.0"
