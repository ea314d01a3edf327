"""The subjects' fields are sealed under their data keys, themselves under the master key (crypto's subject_keys,
rewrapped by the rotation itself): a subject row means the database holds data a new keyring would orphan."""

from __future__ import annotations

from sqlalchemy import select

from govern.crypto.keyed import KeyedData, register
from govern.subjects.models import Subject

register(KeyedData(name="subjects", probe=select(Subject.id)))
