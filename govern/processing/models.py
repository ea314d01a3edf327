"""The records of processing as they were, and the handler's duties as they were done: append-only tables.

`processing_record_versions` keeps every version of every record of processing (the controller's header, each
activity, each impact assessment) from the moment it took effect; a retired activity or a superseded assessment is a
last version saying so, its content still there (PIPL Art. 56: kept at least three years; govern never deletes them).
`compliance_duty_events` keeps what staff recorded as done and when a threshold was first reached. On PostgreSQL a
trigger refuses UPDATE and DELETE on both; the ORM refuses them on every database (govern/processing/records.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class RecordVersion(Base):
    """One version of one record of processing, stored when it took effect and never changed."""

    __tablename__ = "processing_record_versions"
    __table_args__ = (
        UniqueConstraint("kind", "key", "version", name="uq_processing_record_versions_kind_key_version"),
        Index("ix_processing_record_versions_effective", "kind", "key", "effective_at"),
    )

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # controller | activity | assessment
    key: Mapped[str] = mapped_column(String(100), nullable=False)  # "controller", a purpose, an assessment reference
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # in_force | retired | superseded
    content: Mapped[dict] = mapped_column(JSON, nullable=False)  # no personal data: policy and the recipient register
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # SHA-256, or `sm3:` + SM3 (crypto.suites.named_hash): service.digest
    policy_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class DutyEvent(Base):
    """A duty done (recorded by staff) or a threshold first reached (recorded by govern when it counted)."""

    __tablename__ = "compliance_duty_events"
    __table_args__ = (Index("ix_compliance_duty_events_duty", "duty", "kind", "occurred_on"),)

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    duty: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)  # done | threshold_reached
    occurred_on: Mapped[date] = mapped_column(Date, nullable=False)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)  # a report, minutes or ticket number
    subjects: Mapped[int | None] = mapped_column(BigIntegerPK, nullable=True)  # the count when a threshold was reached
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
