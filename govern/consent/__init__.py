"""Consent: versioned notices, append-only consent events with receipts, the derived state and the purpose check."""
