"""Retention: legal holds, saved purge plans (with the exact items that were due), and purge runs.

No personal data in any of these tables: ids, rule names, field and record-type names, counts and times.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class Hold(Base):
    """A legal hold (法律保全): on a whole subject, on one record type of a subject, or on single records."""

    __tablename__ = "retention_holds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)  # subject | record_type | records
    record_type: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64), nullable=False)  # a code from retention.yaml hold_reasons
    note: Mapped[str | None] = mapped_column(String(500))  # case number, matter name: never personal data
    owner: Mapped[str] = mapped_column(String(100), nullable=False)
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lift_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_retention_holds_subject", "subject_id", "lifted_at"),)


class HoldRecord(Base):
    """The records a `records`-scoped hold covers."""

    __tablename__ = "retention_hold_records"

    hold_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("retention_holds.id", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)


class Plan(Base):
    """A dry run, saved: per-rule counts and samples (`summary`), and the exact items due at `as_of` (PlanItem).

    draft → approved (by a second person) → executed; or expired when not executed within plan_valid_for.
    """

    __tablename__ = "retention_plans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    policy_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    items: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    unattended: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(500))
    # The staff member working the plan (the console's plan queue: assign to me / to someone), audited as
    # retention:plan:assign. Migration 0033_retention_plans_assignee.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (Index("ix_retention_plans_created", "created_at"), Index("ix_retention_plans_assignee", "assignee_id"))


class PlanItem(Base):
    """One thing a plan purges: a field (kind 0), a record (1), or the shredding of a subject left empty (2).

    `seq` orders execution: fields and records grouped by subject, then the shreds. A run's cursor is the last seq
    it committed, so a resumed run neither repeats nor skips an item. Deleted when the plan is executed.
    """

    __tablename__ = "retention_plan_items"

    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("retention_plans.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    field_name: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    record_type: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64), nullable=False)


class Run(Base):
    """One execution of a plan: started, resumed after an interruption, completed. Counts are committed with each
    batch, together with the cursor, so they are exact whatever stopped the process."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("retention_plans.id"), nullable=False, unique=True)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)  # plan | all_due
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # running | interrupted | completed | failed
    cursor: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    rules: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    started_by: Mapped[str] = mapped_column(String(100), nullable=False)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_retention_runs_started", "started_at"),)
