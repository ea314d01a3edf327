"""Incidents, their timeline, assessments, frozen affected-subject snapshots, notifications and letters.

No plaintext personal data in these tables: subject ids (pseudonymous), field and category names, counts, times and
the staff's own descriptions. A letter to a subject is sealed under that subject's data key, so erasing the subject
erases its letter too. Affected subjects keep no foreign key to subjects: the record of a breach outlives an erasure
(GDPR Art. 33(5)).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK
from govern.timeutil import utcnow


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    drill: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    critical_infrastructure: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    aware_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    occurred_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    occurred_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_by: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    assessing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notifying_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The incident report for the file, rendered once at closing and kept as it was (GDPR Art. 33(5)).
    report_zh: Mapped[str | None] = mapped_column(Text)
    report_en: Mapped[str | None] = mapped_column(Text)
    # The staff member working the incident (issue 19 item 1), or nobody: set by board.assign with a timeline event
    # and breach:incident:assign. No foreign key, as dsr_requests.assignee_id: a disabled account keeps its row, and the
    # queue names a gone one as former staff. Migration 0032_incidents_assignee.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (Index("ix_incidents_state", "state", "drill"), Index("ix_incidents_assignee", "assignee_id"))


class IncidentEvent(Base):
    """One step of the timeline: a transition, a scope, an assessment, a containment action, a letter batch, a filing."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_incident_events_incident", "incident_id", "id"),)


class Assessment(Base):
    """One recorded risk assessment; a re-assessment is a new version, never an edit."""

    __tablename__ = "incident_assessments"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (UniqueConstraint("incident_id", "version", name="uq_incident_assessments_version"),)


class AffectedSnapshot(Base):
    """A frozen, versioned list of affected subjects: written once, never updated; a new computation is a new version."""

    __tablename__ = "affected_snapshots"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)  # principals | export | recipient
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    subjects: Mapped[int] = mapped_column(Integer, nullable=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)  # hash of the sorted list, to prove it unchanged (crypto.suites.named_hash)

    __table_args__ = (UniqueConstraint("incident_id", "version", name="uq_affected_snapshots_version"),)


class AffectedSubject(Base):
    __tablename__ = "affected_subjects"

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("affected_snapshots.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(16), nullable=False)
    fields: Mapped[list[str]] = mapped_column(JSON, nullable=False)  # names, never values
    categories: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, nullable=False)
    minor: Mapped[bool | None] = mapped_column(Boolean)  # None: date of birth unknown

    __table_args__ = (Index("ix_affected_subjects_subject", "subject_id"),)


class Notification(Base):
    """One notification the law may require (from jurisdictions.yaml), derived again on every change of the facts."""

    __tablename__ = "breach_notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    jurisdiction: Mapped[str] = mapped_column(String(16), nullable=False)
    recipient: Mapped[str] = mapped_column(String(16), nullable=False)  # authority | subjects
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # required | not_required | exempt | unknown
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    people: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provisional: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # counted from an anchor not yet reached
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))
    sent_reference: Mapped[str | None] = mapped_column(String(200))
    late_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("incident_id", "key", name="uq_breach_notifications_key"),
        Index("ix_breach_notifications_due", "status", "sent_at", "due_at"),
    )


class Letter(Base):
    """A generated letter: to an authority (a filing, in phases where allowed) or to one subject (sealed)."""

    __tablename__ = "breach_letters"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    notification_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("breach_notifications.id", ondelete="CASCADE"), nullable=False)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    phase: Mapped[str | None] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)  # an authority letter: no personal data
    sealed_body: Mapped[bytes | None] = mapped_column(LargeBinary)  # a subject's letter, under that subject's data key
    # HMAC of the text under govern's key, bound to the letter's id (Envelope.keyed_digest): a bare SHA-256 of a letter
    # naming a person let anyone with a listing or a backup confirm a guessed name. None for a letter made before
    # migration 0015 until it is next opened.
    digest: Mapped[str | None] = mapped_column(String(64))
    # A subject's letter: where its recipient's name stands in the text (JSON, sealed under the subject's data key), so
    # a reader who sees names masked is shown it masked. None for an authority's letter and for letters made before 0015.
    sealed_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    snapshot_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_breach_letters_notification", "notification_id", "subject_id"),)
