"""Breach response: incidents from detection to notification on the legal clocks, with the affected subjects
computed from the audit log."""
