"""Subjects: the people govern keeps personal data about, their profile fields and their records."""

# What the subjects keep under the master key, told to crypto (govern/crypto/keyed.py).
from govern.subjects import keyed as _keyed  # noqa: F401
