"""Third-party recipients (with their data-security agreement) and the record of every disclosure to them.

A recipient is an organisation, managed by privacy staff through the API (its agreement is signed, renewed and
expires on a business calendar, so it is data with an audit trail rather than policy in a release). Disclosures
keep the pseudonymous subject id without a foreign key: the record that data left to a third party outlives an
erasure (CCPA 1798.105(c) and PIPL Art. 47 ask that recipients be told), and it holds field names, never values.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Uuid
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
