"""Subjects: the people govern keeps personal data about, their profile fields and their records."""
