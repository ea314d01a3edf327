"""Subjects, their encrypted profile fields (one row per field) and their encrypted typed records."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base
from govern.timeutil import utcnow


class Subject(Base):
    """A person. Holds no personal data itself: identifiers, jurisdiction and lifecycle only."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    jurisdiction: Mapped[str] = mapped_column(String(16), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="zh")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    # When the account was closed (status `closed`); retention counts closed accounts' grace period from it.
    # Added by migration 0005_retention.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # An EU subject's member state (ISO 3166-1 alpha-2): the age of digital consent follows it (GDPR Art. 8(1);
    # jurisdictions.yaml minors_age_by_member_state). Added by migration 0016_collection_bases.
    member_state: Mapped[str | None] = mapped_column(String(2))
    # A deceased subject (PIPL Art. 49): the date of death, the reference of the evidence staff saw (a certificate's
    # number, never its text) and whether the deceased arranged otherwise (then next of kin exercise no rights).
    # Set by govern/subject_requests/deceased.py; added by migration 0019_requests_deceased.
    deceased_on: Mapped[date | None] = mapped_column(Date)
    deceased_evidence: Mapped[str | None] = mapped_column(String(100))
    deceased_arranged_otherwise: Mapped[bool | None] = mapped_column(Boolean)

    __mapper_args__ = {"version_id_col": version}
    # Shredded subjects whose records are still being deleted (govern/subjects/erasure.py `sweep`): few, found at once.
    # Added by migration 0009_objections.
    __table_args__ = (
        Index("ix_subjects_erased", "id", postgresql_where=text("status = 'erased'"), sqlite_where=text("status = 'erased'")),
    )


class ProfileField(Base):
    """One field value of a subject, sealed under the subject's data key; `blind_index` only when searchable."""

    __tablename__ = "profile_fields"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    blind_index: Mapped[str | None] = mapped_column(String(64))
    collected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    __table_args__ = (Index("ix_profile_fields_lookup", "name", "blind_index"),)


class Record(Base):
    """A typed record of a subject (purchase, ticket, …): a sealed JSON payload with its time of occurrence."""

    __tablename__ = "records"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_records_subject_time", "subject_id", "occurred_at", "id"),
        Index("ix_records_type_time", "type", "occurred_at"),
        # Whether a subject holds records of a type, and its newest: an erasure decides what it must keep with one
        # probe per type instead of reading every record (migration 0009_objections).
        Index("ix_records_subject_type", "subject_id", "type", "occurred_at"),
    )
