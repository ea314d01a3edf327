"""Consent events (append-only), the receipts issued for them, and the current state derived from the events.

`consent_states` is a projection kept in the same transaction as each event, one row per subject and purpose: it
makes the per-read check one primary-key look-up and serialises writers of the same subject and purpose (a row
lock), so the state always equals the last committed event. `govern consent verify` recomputes it from the events.
Events and receipts carry the pseudonymous subject id only (no foreign key): they outlive an erasure as proof of
what was consented to, with nothing readable left (a guardian's identity is sealed under the subject's data key).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class ConsentReceipt(Base):
    """What was handed back for one recorded act (one or more events): Kantara Consent Receipt fields, as issued."""

    __tablename__ = "consent_receipts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False, index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON, never re-rendered


class ConsentEvent(Base):
    __tablename__ = "consent_events"

    seq: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    receipt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("consent_receipts.id"), nullable=False, index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # grant | withdraw
    method: Mapped[str] = mapped_column(String(16), nullable=False)  # explicit | written | gpc
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    notice_version: Mapped[str | None] = mapped_column(String(32))
    notice_language: Mapped[str | None] = mapped_column(String(8))
    notice_sha256: Mapped[str | None] = mapped_column(String(64))
    separate: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    guardian: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    guardian_relationship: Mapped[str | None] = mapped_column(String(32))
    guardian_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    evidence: Mapped[str | None] = mapped_column(String(200))
    captured_by: Mapped[str | None] = mapped_column(String(100))
    # A grant covers what its notice version announced (fields, record types, method, provision): the scope as first
    # recorded for that version (NoticeScope), copied here. None on events recorded before scopes were kept.
    scope: Mapped[dict | None] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_by_name: Mapped[str] = mapped_column(String(100), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_consent_events_subject", "subject_id", "purpose", "seq"),)


class ConsentState(Base):
    """The current state of one subject's consent to one purpose: a projection of its latest event."""

    __tablename__ = "consent_states"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="none")  # none | granted | withdrawn
    last_event_seq: Mapped[int | None] = mapped_column(BigIntegerPK)
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notice_version: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str | None] = mapped_column(String(16))
    separate: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    guardian: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    scope: Mapped[dict | None] = mapped_column(JSON)  # what the granted notice version covered (ConsentEvent.scope)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    # Kept from a grant the subject gave as an adult: the minors' age it was checked against and a fingerprint of the
    # birth-date ciphertext it was checked on. Ages only grow, so while that ciphertext is unchanged (a rectified date
    # is a new ciphertext) and the minors' age has not risen, a check need not decrypt the date again. A cache: without
    # it the date is decrypted, as before; it is not derived from the events.
    adult_at_age: Mapped[int | None] = mapped_column(Integer)
    adult_evidence: Mapped[bytes | None] = mapped_column(LargeBinary(32))

    __table_args__ = (Index("ix_consent_states_purpose", "purpose", "status", "notice_version"),)


class NoticeScope(Base):
    """The scope a notice version announced (policies/notices/<purpose>/versions.yaml `scope`), as it read when the
    version was first used for a grant. Never updated: a later edit of the file that would widen what old consents
    cover is refused at the next grant (PIPL Art. 14 ¶2), and every grant copies this scope, not the file's."""

    __tablename__ = "notice_scopes"

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[dict] = mapped_column(JSON, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # of the canonical JSON of `scope`: SHA-256, or `sm3:` + SM3 (suites.named_hash)
    first_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# Objections to legitimate-interest processing (GDPR Art. 21(1)): what the read rule asks besides consent. No personal
# data: ids, purpose names, times, staff names and the grounds staff gave for lifting one.


class ProcessingObjection(Base):
    """A subject's objection to one legitimate-interest purpose, recorded by a completed objection request. It stops
    reads for that purpose until staff lift it on compelling legitimate grounds; a lifted objection stays, with who
    lifted it, when and why. No foreign key to the subject: erasure deletes these rows with the subject's other data."""

    __tablename__ = "processing_objections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_reason: Mapped[str | None] = mapped_column(String(1000))
    lifted_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_processing_objections_subject", "subject_id", "purpose", "lifted_at"),)


class CollectionBasis(Base):
    """The basis a sensitive field was written on (PIPL Art. 28–29, GDPR Art. 9(2), CCPA 1798.121), one row per field
    per write, never updated: a consent in force (its purpose and receipt) or another basis the write named with its
    reference. No values; the reference is a document or statute id, checked like a consent's evidence. Deleted with the
    subject (crypto-shredding removes the data the basis was for)."""

    __tablename__ = "collection_bases"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False)
    field: Mapped[str] = mapped_column(String(64), nullable=False)
    law: Mapped[str] = mapped_column(String(16), nullable=False)
    basis: Mapped[str] = mapped_column(String(32), nullable=False)  # consent | a code of sensitive_collection.bases | carried
    purpose: Mapped[str | None] = mapped_column(String(64))
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the consent receipt, for a consent
    guardian: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reference: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (Index("ix_collection_bases_subject", "subject_id", "field", "id"),)
