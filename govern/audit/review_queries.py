"""Read-only summaries of the audit log for the periodic access review (govern/identity/review.py): what each
principal did in a window, grouped, without loading events one by one. Nothing here writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from govern.audit.models import AuditEvent


@dataclass(frozen=True)
class Activity:
    """One principal's events of one action, purpose and outcome in the window."""

    actor_id: uuid.UUID | None
    actor_name: str
    action: str
    purpose: str | None
    outcome: str
    events: int
    subjects: int  # distinct subject ids among them
    last_at: datetime


def activity_since(*, session: Session, since: datetime) -> list[Activity]:
    """Events since `since`, grouped by actor, action, purpose and outcome (uses the (actor_id, occurred_at) index)."""
    rows = session.execute(
        select(
            AuditEvent.actor_id, AuditEvent.actor_name, AuditEvent.action, AuditEvent.purpose, AuditEvent.outcome,
            func.count(), func.count(distinct(AuditEvent.subject_id)), func.max(AuditEvent.occurred_at),
        )
        .where(AuditEvent.occurred_at >= since)
        .group_by(AuditEvent.actor_id, AuditEvent.actor_name, AuditEvent.action, AuditEvent.purpose, AuditEvent.outcome)
    ).all()
    return [Activity(*row) for row in rows]


def fields_read_since(*, session: Session, since: datetime, actions: tuple[str, ...]) -> dict[uuid.UUID, set[str]]:
    """actor id -> the field names (never values) of its allowed events of `actions` since `since`."""
    out: dict[uuid.UUID, set[str]] = {}
    rows = session.execute(
        select(AuditEvent.actor_id, AuditEvent.field_names)
        .distinct()
        .where(AuditEvent.occurred_at >= since, AuditEvent.action.in_(actions), AuditEvent.outcome == "allowed", AuditEvent.actor_id.is_not(None), AuditEvent.field_names != "")
    ).all()
    for actor_id, names in rows:
        out.setdefault(actor_id, set()).update(n for n in names.split(",") if n)  # type: ignore[arg-type]  # actor_id IS NOT NULL in the query
    return out


def subjects_read_since(*, session: Session, since: datetime, actions: tuple[str, ...]) -> dict[uuid.UUID, int]:
    """actor id -> how many distinct subjects its allowed events of `actions` touched since `since`."""
    rows = session.execute(
        select(AuditEvent.actor_id, func.count(distinct(AuditEvent.subject_id)))
        .where(AuditEvent.occurred_at >= since, AuditEvent.action.in_(actions), AuditEvent.outcome == "allowed", AuditEvent.actor_id.is_not(None))
        .group_by(AuditEvent.actor_id)
    ).all()
    return {actor_id: count for actor_id, count in rows}  # type: ignore[misc]  # actor_id IS NOT NULL in the query


def allowed_reads_between(
    *, session: Session, subject_id: uuid.UUID, purpose: str, actions: tuple[str, ...], start: datetime, end: datetime | None,
) -> tuple[int, datetime | None]:
    """How many allowed events of `actions` for one subject and purpose the log holds in [start, end), and the last one's
    time (for consent's reads after a withdrawal: govern/consent/reports.py)."""
    query = select(func.count(), func.max(AuditEvent.occurred_at)).where(
        AuditEvent.subject_id == subject_id, AuditEvent.purpose == purpose, AuditEvent.action.in_(actions),
        AuditEvent.outcome == "allowed", AuditEvent.occurred_at >= start,
    )
    if end is not None:
        query = query.where(AuditEvent.occurred_at < end)
    count, last = session.execute(query).one()
    return int(count), last
