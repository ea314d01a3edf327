"""The audit log: every read and change of personal data and every security-relevant act, append-only."""
