"""Read-only figures about open requests for /metrics and the alerts (govern/alerts): which are due soon or overdue,
by type and jurisdiction, with ids and due dates only. Nothing here is audited: it names no subject and reads no value."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govern.policy import Policy
from govern.requests.models import DataSubjectRequest
from govern.requests.service import OPEN, compute_deadlines, events_of
from govern.timeutil import as_utc


@dataclass(frozen=True)
class Due:
    """An open request due within the window or overdue: its id, type, jurisdiction and due time, nothing else."""

    id: uuid.UUID
    type: str
    jurisdiction: str
    due_at: datetime
    overdue: bool


def due(*, session: Session, policy: Policy, now: datetime, within_days: int) -> list[Due]:
    """Open requests due by `now + within_days` (overdue ones included), soonest first. A paused request's deadline
    moves every day, so it is computed as of now, as the queue does."""
    now = as_utc(now)
    horizon = now + timedelta(days=within_days)
    rows = session.execute(
        select(DataSubjectRequest.id, DataSubjectRequest.type, DataSubjectRequest.jurisdiction, DataSubjectRequest.due_at, DataSubjectRequest.paused)
        .where(DataSubjectRequest.state.in_(OPEN), or_(DataSubjectRequest.paused.is_(True), DataSubjectRequest.due_at <= horizon))
    ).all()
    out: list[Due] = []
    for rid, rtype, jurisdiction, due_at, paused in rows:
        due_at = as_utc(due_at)
        if paused:
            req = session.get(DataSubjectRequest, rid)
            due_at = compute_deadlines(policy=policy, req=req, events=events_of(session=session, request_id=rid), now=now).due_at
        if due_at <= horizon:
            out.append(Due(rid, rtype, jurisdiction, due_at, due_at < now))
    return sorted(out, key=lambda d: d.due_at)


def figures(*, session: Session, policy: Policy, now: datetime) -> dict[str, Counter[tuple[str, str]]]:
    """Counts of open requests due within requests.yaml `queue.due_soon_days` and overdue, by (type, jurisdiction)."""
    soon: Counter[tuple[str, str]] = Counter()
    overdue: Counter[tuple[str, str]] = Counter()
    for d in due(session=session, policy=policy, now=now, within_days=policy.requests.due_soon_days):
        (overdue if d.overdue else soon)[(d.type, d.jurisdiction)] += 1
    return {"due_soon": soon, "overdue": overdue}
