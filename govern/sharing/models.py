"""Third-party recipients (with their data-security agreement) and the record of every disclosure to them.

A recipient is an organisation, managed by privacy staff through the API (its agreement is signed, renewed and
expires on a business calendar, so it is data with an audit trail rather than policy in a release). Disclosures
keep the pseudonymous subject id without a foreign key: the record that data left to a third party outlives an
erasure (CCPA 1798.105(c) and PIPL Art. 47 ask that recipients be told), and it holds field names, never values.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base
from govern.timeutil import utcnow


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    contact: Mapped[str] = mapped_column(String(200), nullable=False)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    categories: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    transfer_mechanism: Mapped[str | None] = mapped_column(String(32))
    agreement_ref: Mapped[str] = mapped_column(String(100), nullable=False)
    agreement_expires_on: Mapped[date] = mapped_column(Date, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_recipients_purpose", "purpose"),)


class Disclosure(Base):
    __tablename__ = "disclosures"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipients.id"), nullable=False, index=True)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    field_names: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    basis: Mapped[str] = mapped_column(String(32), nullable=False)  # separate_consent | contract | legal_obligation | …
    consent_receipt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    agreement_ref: Mapped[str] = mapped_column(String(100), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_disclosures_subject", "subject_id", "occurred_at"),)


class PropagationStep(Base):
    """How a recipient that received a subject's data is told of a request's rectification, erasure or restriction
    when no webhook tells it (GDPR Art. 19): a manual task with its due date, or the specific reason why telling it is
    impossible or would involve disproportionate effort. One per request and recipient; ids and an operator's
    explanation (checked for personal data), never a value. No foreign key to the request, like a disclosure: the
    record that a recipient was considered outlives the erased subject (GDPR Art. 5(2))."""

    __tablename__ = "propagation_steps"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("recipients.id"), nullable=False)
    method: Mapped[str] = mapped_column(String(32), nullable=False)  # manual | impossible | disproportionate_effort
    due_on: Mapped[date | None] = mapped_column(Date)  # a manual task's due date
    reason: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a manual task: when the recipient was told
    done_by: Mapped[str | None] = mapped_column(String(100))
    done_because: Mapped[str | None] = mapped_column(String(300))  # why done_at was entered afterwards (a letter sent last week)

    __table_args__ = (
        UniqueConstraint("request_id", "recipient_id", name="uq_propagation_steps_request_recipient"),
        Index("ix_propagation_steps_open", "method", "done_at", "due_on"),
    )
