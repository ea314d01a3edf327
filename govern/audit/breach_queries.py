"""Read-only queries of the audit log for breach response (govern/breach): which subjects and fields given principals
read or changed in a window, what a recipient was sent, what an export contained. Nothing here writes; the caller
audits its own use of the answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session

from govern.audit.models import AuditEvent


@dataclass
class Touched:
    """What the log shows of one subject: the field names (never values), how many events, first and last time."""

    fields: set[str] = field(default_factory=set)
    events: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None

    def add(self, names: str, at: datetime) -> None:
        self.fields.update(n for n in names.split(",") if n)
        self.events += 1
        self.first_at = at if self.first_at is None or at < self.first_at else self.first_at
        self.last_at = at if self.last_at is None or at > self.last_at else self.last_at


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    occurred_at: datetime
    action: str
    resource: str | None
    subject_id: uuid.UUID | None
    field_names: tuple[str, ...]
    outcome: str


def _collect(session: Session, query: Executable) -> dict[uuid.UUID, Touched]:
    out: dict[uuid.UUID, Touched] = {}
    for sid, names, at in session.execute(query):
        out.setdefault(sid, Touched()).add(names or "", at)
    return out


def touched_by_principals(
    *, session: Session, principal_ids: list[uuid.UUID], time_from: datetime | None, time_to: datetime | None,
) -> dict[uuid.UUID, Touched]:
    """subject id -> what these principals read or changed of it in [time_from, time_to): every allowed event that names
    a subject (reads, look-ups, creates, updates, record reads, disclosures). Refused events are left out: nothing left."""
    if not principal_ids:
        return {}
    query = select(AuditEvent.subject_id, AuditEvent.field_names, AuditEvent.occurred_at).where(
        AuditEvent.actor_id.in_(principal_ids), AuditEvent.subject_id.is_not(None), AuditEvent.outcome == "allowed",
    )
    if time_from is not None:
        query = query.where(AuditEvent.occurred_at >= time_from)
    if time_to is not None:
        query = query.where(AuditEvent.occurred_at < time_to)
    return _collect(session, query.order_by(AuditEvent.id))


def sent_to_resource(
    *, session: Session, action: str, resource: str, time_from: datetime | None = None, time_to: datetime | None = None,
) -> dict[uuid.UUID, Touched]:
    """subject id -> the fields of every allowed `action` event on `resource` (e.g. disclosures to `recipient:<id>`)."""
    query = select(AuditEvent.subject_id, AuditEvent.field_names, AuditEvent.occurred_at).where(
        AuditEvent.action == action, AuditEvent.resource == resource, AuditEvent.subject_id.is_not(None), AuditEvent.outcome == "allowed",
    )
    if time_from is not None:
        query = query.where(AuditEvent.occurred_at >= time_from)
    if time_to is not None:
        query = query.where(AuditEvent.occurred_at < time_to)
    return _collect(session, query.order_by(AuditEvent.id))


def subjects_logged_between(*, session: Session, time_from: datetime | None, time_to: datetime | None) -> dict[uuid.UUID, Touched]:
    """subject id -> the field names its events mention in [time_from, time_to): what an audit export of that range
    holds about each subject (ids and field names; the log never holds values)."""
    query = select(AuditEvent.subject_id, AuditEvent.field_names, AuditEvent.occurred_at).where(AuditEvent.subject_id.is_not(None))
    if time_from is not None:
        query = query.where(AuditEvent.occurred_at >= time_from)
    if time_to is not None:
        query = query.where(AuditEvent.occurred_at < time_to)
    return _collect(session, query.order_by(AuditEvent.id))


def event(*, session: Session, event_id: int) -> LoggedEvent | None:
    """One event by id (an export's own event, to find what the export contained)."""
    e = session.get(AuditEvent, event_id)
    if e is None:
        return None
    return LoggedEvent(
        id=e.id, occurred_at=e.occurred_at, action=e.action, resource=e.resource, subject_id=e.subject_id,
        field_names=tuple(n for n in (e.field_names or "").split(",") if n), outcome=e.outcome,
    )
