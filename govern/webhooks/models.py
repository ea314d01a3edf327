"""Webhook endpoints (who is told, where, of what), the durable outbox of deliveries, and every delivery attempt.

No personal data in any of these tables: a delivery's body carries ids, the action and the names of fields or
purposes. Deliveries keep the pseudonymous subject id without a foreign key: the record that an erasure was
propagated outlives the erased subject (GDPR Art. 5(2), 19). An endpoint's signing secret is sealed under a data key
of its own, wrapped by the master key, so the database alone never yields it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    owner_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # principal (a CRM component) | recipient
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The secret: sealed under this endpoint's data key (AAD: endpoint id and secret generation); the data key is
    # wrapped by the master key of `master_key_version`. The previous secret stays valid for the policy's grace period
    # after a rotation, so a receiver can switch without losing deliveries.
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    master_key_version: Mapped[int] = mapped_column(Integer, nullable=False)
    secret_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    previous_sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_webhook_endpoints_owner", "owner_kind", "owner_id"),)


class WebhookDelivery(Base):
    """One message of the outbox: one event for one endpoint, written in the transaction that caused the event."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_endpoints.id"), nullable=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # the exact JSON that is signed and sent: ids and names only
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # since it was (re)queued
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # A worker's claim: nobody else sends the row until the lease ends (longer than the request timeout).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # The staff member following a failed delivery up (the console's deliveries: assign to me / to someone), audited
    # as webhooks:delivery:assign. Migration 0034_webhook_deliveries_assignee.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "state"),
        Index("ix_webhook_deliveries_subject", "subject_id"),
        Index("ix_webhook_deliveries_request", "request_id"),
        Index("ix_webhook_deliveries_assignee", "assignee_id"),
    )


class WebhookAttempt(Base):
    """Every POST made, per endpoint: when, how long, the answer's status (or the error's kind), what followed."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, … over the delivery's whole life
    worker: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # delivered | retry | failed | lease_lost

    __table_args__ = (Index("ix_webhook_attempts_endpoint", "endpoint_id", "started_at"),)
