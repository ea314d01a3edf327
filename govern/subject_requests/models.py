"""Data-subject requests and their timeline. No personal data in either table: ids, names of fields and purposes,
codes, times. Values a request carries (a rectification's new values) are sealed under the subject's data key, so
that erasing the subject erases them too. Requests keep no foreign key to the subject: the request log outlives an
erased subject (CCPA regs §7101: 24 months)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class DataSubjectRequest(Base):
    __tablename__ = "dsr_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    jurisdiction: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="zh")
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)  # names only, never values
    sealed_details: Mapped[bytes | None] = mapped_column(LargeBinary)  # values, under the subject's data key
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Derived from the events by the deadline engine, stored so the queue can sort and filter in SQL.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acknowledge_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extended: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    verification_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verification_method: Mapped[str | None] = mapped_column(String(16))
    verified_by: Mapped[str | None] = mapped_column(String(100))
    verification_ref: Mapped[str | None] = mapped_column(String(100))
    verification_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    otp_hash: Mapped[str | None] = mapped_column(String(64))
    otp_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    otp_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    filed_by: Mapped[str] = mapped_column(String(100), nullable=False)
    filed_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refusal_reason: Mapped[str | None] = mapped_column(String(64))
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # what was done: counts, names, hashes, kept items
    # A close relative acting for a deceased subject (PIPL Art. 49): the relationship as a policy code and the
    # reference of the check that proved it, never the relative's name or papers. Migration 0019_requests_deceased.
    requester_relationship: Mapped[str | None] = mapped_column(String(32))
    requester_verification_ref: Mapped[str | None] = mapped_column(String(100))
    # The staff member working the request (the console's queue: assign to me / to someone), audited as
    # requests:request:assign with a timeline event. Migration 0026_requests_assignee.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        Index("ix_dsr_requests_queue", "state", "due_at"),
        Index("ix_dsr_requests_subject", "subject_id", "type", "state"),
        Index("ix_dsr_requests_closed", "closed_at"),
        Index("ix_dsr_requests_assignee", "assignee_id"),
    )


class RequestEvent(Base):
    """One step of a request's timeline: every state change and every clock event, in order."""

    __tablename__ = "dsr_events"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dsr_requests.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(1000))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_dsr_events_request", "request_id", "id"),)


class DownloadToken(Base):
    """A one-time download of what a request hands out (the access or portability package), for the data subject: the
    service that filed the request receives the token once, to pass on; govern keeps only its keyed hash (HMAC under
    the blind-index key), so a copy of this table downloads nothing. Redeeming it sets `used_at` in one conditional
    UPDATE, so two concurrent redemptions cannot both win."""

    __tablename__ = "dsr_download_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dsr_requests.id", ondelete="CASCADE"), nullable=False)
    artefact: Mapped[str] = mapped_column(String(16), nullable=False)  # package
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    issued_to: Mapped[str] = mapped_column(String(100), nullable=False)
    issued_to_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_dsr_download_tokens_request", "request_id"),)
