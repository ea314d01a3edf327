"""Wrapped data keys: one row per subject, so a master-key rotation rewraps one row per subject, not per value."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base
from govern.timeutil import utcnow


class SubjectKey(Base):
    __tablename__ = "subject_keys"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    master_key_version: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    rewrapped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class KeyCheck(Base):
    """A key-check value per key the data depends on: each master-key version, the blind-index key and the audit
    signing key's public part. Never the key: an HMAC of a fixed label under it (a public key's id for the signing key)."""

    __tablename__ = "key_checks"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # master | index | audit_signing
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    check_value: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_how: Mapped[str] = mapped_column(String(16), nullable=False)  # created | rotation | first_use
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
