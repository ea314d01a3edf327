"""Read-only figures about requests: for /metrics and the alerts (govern/alerts), which open ones are due soon or
overdue, by type and jurisdiction, with ids and due dates only; for the console's charts, counts per week (received,
completed, answered on time, median days to close). Nothing here is audited: it names no subject and reads no value."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from statistics import median

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govern import figures as figures_kernel
from govern.policy import Policy
from govern.subject_requests.models import DataSubjectRequest
from govern.subject_requests.service import OPEN, compute_deadlines, events_of
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


# --- the charts of the console's home and reports pages (issue 19 item 5): aggregates only ---------------------------


ANSWERED_STATES = ("completed", "refused")


@dataclass(frozen=True)
class Weekly:
    """Requests per ISO week (Monday first, UTC): received and completed by type or jurisdiction, the share of those
    closed that week answered by their deadline, and the median days from receipt to closing."""

    weeks: list[date]
    received: dict[date, Counter[str]]
    completed: dict[date, Counter[str]]
    closed: dict[date, int]
    on_time: dict[date, int]
    median_days: dict[date, float | None]


def weekly(*, session: Session, since: date, until: date, by: str = "type", zone: tzinfo = timezone.utc) -> Weekly:
    """Counts per week in [since, until] by `by` ("type" or "jurisdiction"), days and weeks in `zone` (the console
    passes the policy's time zone): no id, no subject, nothing to audit."""
    key = DataSubjectRequest.type if by == "type" else DataSubjectRequest.jurisdiction
    start, end = figures_kernel.span(since, until, zone)
    all_weeks = figures_kernel.weeks(since, until)
    received: dict[date, Counter[str]] = {w: Counter() for w in all_weeks}
    completed: dict[date, Counter[str]] = {w: Counter() for w in all_weeks}
    for k, received_at in session.execute(select(key, DataSubjectRequest.received_at).where(
            DataSubjectRequest.received_at >= start, DataSubjectRequest.received_at < end)):
        received[figures_kernel.week_of(as_utc(received_at), zone)][k] += 1
    # Answered: completed or refused (a withdrawn or duplicate request was not answered, so it has no deadline kept).
    closed: dict[date, int] = dict.fromkeys(all_weeks, 0)
    on_time: dict[date, int] = dict.fromkeys(all_weeks, 0)
    spans: dict[date, list[float]] = {w: [] for w in all_weeks}
    for k, state, received_at, closed_at, due_at in session.execute(
        select(key, DataSubjectRequest.state, DataSubjectRequest.received_at, DataSubjectRequest.closed_at, DataSubjectRequest.due_at)
        .where(DataSubjectRequest.closed_at >= start, DataSubjectRequest.closed_at < end, DataSubjectRequest.state.in_(ANSWERED_STATES))
    ):
        week = figures_kernel.week_of(as_utc(closed_at), zone)
        if state == "completed":
            completed[week][k] += 1
        closed[week] += 1
        on_time[week] += as_utc(closed_at) <= as_utc(due_at)
        spans[week].append((as_utc(closed_at) - as_utc(received_at)).total_seconds() / 86400)
    return Weekly(all_weeks, received, completed, closed, on_time, {w: round(median(v), 1) if v else None for w, v in spans.items()})
