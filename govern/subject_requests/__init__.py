"""Data-subject requests: filing, identity verification, deadlines, and carrying them out."""
