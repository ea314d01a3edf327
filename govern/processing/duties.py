"""The handler's own duties as tasks with due dates: the thresholds on the number of people govern holds (PIPL Art.
52: a personal information protection officer at 1,000,000; Art. 54 and the CAC compliance-audit measures: an audit
at least every two years above 10,000,000), the network-log retention floor (Cybersecurity Law Art. 21), and the
periodic duties of the company's data-security policy (incident drills, access reviews, the privacy notice review).

Every figure, period and source is policy data (processing.yaml `handler_duties`). What was done is recorded by staff
(`record_done`, audited, append-only); when the count first reached a threshold is recorded by govern the first time
it counts it. Dates are counted by the calendar (months and years by `add_months`, working days on the calendar the
policy names), never approximated in days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ProcessingAction
from govern.errors import Conflict, NotFound, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.processing.models import DutyEvent
from govern.processing.policy import DutyPeriod
from govern.retention.policy import RetentionPeriod
from govern.subject_requests.deadlines import add_working_days
from govern.subjects import service as subjects
from govern.timeutil import add_months, utcnow

DONE, REACHED = "done", "threshold_reached"


def add_period(start: date, period: DutyPeriod, policy: Policy, calendar: str | None = None) -> date:
    """`start` plus a duty's period, in its own unit: days, working days on the named calendar, months, years."""
    if period.unit == "d":
        return start + timedelta(days=period.amount)
    if period.unit == "m":
        return add_months(start, period.amount)
    if period.unit == "y":
        return add_months(start, 12 * period.amount)
    return add_working_days(start, period.amount, policy.calendars[calendar or ""])


@dataclass
class Task:
    key: str
    kind: str  # threshold | periodic | log_retention
    label: dict[str, str]
    applies: bool
    status: str  # not_applicable | due | overdue | done | never_done | met | not_met
    period: str | None
    last_done: date | None
    last_reference: str | None
    next_due: date | None
    source: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "kind": self.kind, "label": self.label, "applies": self.applies, "status": self.status, "period": self.period,
            "last_done": self.last_done.isoformat() if self.last_done else None, "last_reference": self.last_reference,
            "next_due": self.next_due.isoformat() if self.next_due else None, "source": self.source, "detail": self.detail,
        }


def _events(session: Session) -> list[DutyEvent]:
    return list(session.scalars(select(DutyEvent).order_by(DutyEvent.occurred_on, DutyEvent.id)))


def _due_status(next_due: date | None, today: date) -> str:
    if next_due is None:
        return "due"
    return "overdue" if today > next_due else "due"


def _add(start: date, period: DutyPeriod, policy: Policy, calendar: str | None, detail: dict[str, Any]) -> date | None:
    try:
        return add_period(start, period, policy, calendar)
    except Conflict as exc:  # a working-day calendar without the year: say so instead of guessing
        detail["problem"] = exc.detail
        return None


def tasks(*, session: Session, policy: Policy, actor: Actor, today: date | None = None) -> dict[str, Any]:
    """Every duty of the handler with its status and due date; the first time a threshold is reached is recorded."""
    today = today or utcnow().date()
    count = subjects.count_subjects(session=session)
    events = _events(session)
    done = {e.duty: e for e in events if e.kind == DONE}  # the latest, events being in date order
    reached = {}
    for e in events:
        if e.kind == REACHED:
            reached.setdefault(e.duty, e)  # the first
    out: list[Task] = []
    for t in policy.processing.thresholds:
        applies = count >= t.at_least
        if applies and t.key not in reached:
            reached[t.key] = _record(session, actor, t.key, REACHED, today, None, count)
        first = reached.get(t.key)
        last = done.get(t.key)
        detail: dict[str, Any] = {"subjects_at_least": t.at_least, "threshold_reached_on": first.occurred_on.isoformat() if first else None}
        if t.due_within is not None:  # one-off: within the period of reaching the threshold
            next_due = _add(first.occurred_on, t.due_within, policy, t.calendar, detail) if first else None
            status = "done" if last else ("not_applicable" if not applies else _due_status(next_due, today))
            period = str(t.due_within)
        else:  # recurring: within the period of the last time (of reaching the threshold, the first time)
            base = last.occurred_on if last else (first.occurred_on if first else None)
            next_due = _add(base, t.every, policy, t.calendar, detail) if (base and t.every) else None
            status = "not_applicable" if not applies else _due_status(next_due, today)
            period = str(t.every)
        out.append(Task(t.key, "threshold", dict(t.label), applies, status, period, last.occurred_on if last else None,
                        last.reference if last else None, next_due, t.source, detail))
    for p in policy.processing.periodic:
        last = done.get(p.key)
        next_due = add_period(last.occurred_on, p.every, policy) if last else today
        status = _due_status(next_due, today) if last else "never_done"
        out.append(Task(p.key, "periodic", dict(p.label), True, status, str(p.every), last.occurred_on if last else None,
                        last.reference if last else None, next_due, p.source, {}))
    out.append(_log_retention(policy, today))
    audit.append(session=session, actor=actor, action=ProcessingAction.DUTIES_READ, resource="duties", reason=f"subjects={count}")
    return {"as_of": today.isoformat(), "subjects": count, "tasks": [t.as_dict() for t in out]}


def _log_retention(policy: Policy, today: date) -> Task:
    """Met when the audit log's keep_days covers the longest span the legal minimum can have (six months: 184 days),
    so it holds for every six-month span, not for an average month."""
    lr = policy.processing.log_retention
    minimum = RetentionPeriod(int(lr.minimum[:-1]), lr.minimum[-1])
    needed = minimum.longest().days
    kept = policy.audit.retention_days
    return Task("log_retention", "log_retention", dict(lr.label), True, "met" if kept >= needed else "not_met", lr.minimum, None, None, None, lr.source,
                {"audit_keep_days": kept, "days_needed_for_every_span": needed, "audit_policy_source": policy.audit.source})


def _record(session: Session, actor: Actor, duty: str, kind: str, on: date, reference: str | None, count: int | None) -> DutyEvent:
    row = DutyEvent(duty=duty, kind=kind, occurred_on=on, reference=reference, subjects=count, actor_id=actor.principal_id, actor_name=actor.name[:100], recorded_at=utcnow())
    session.add(row)
    session.flush()  # the id, for the audit event
    action = ProcessingAction.THRESHOLD_REACHED if kind == REACHED else ProcessingAction.DUTY_DONE
    audit.append(session=session, actor=actor, action=action, resource=f"duty:{duty}:{row.id}", reason=f"on={on.isoformat()}")
    return row


def record_done(*, session: Session, policy: Policy, actor: Actor, duty: str, done_on: date, reference: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Staff record that a duty was done on a date (a drill held, a review finished, an audit report delivered)."""
    today = today or utcnow().date()
    if duty not in policy.processing.duty_keys:
        raise NotFound("duty")
    errors: dict[str, list[str]] = {}
    if done_on > today:
        errors["done_on"] = ["may not be in the future"]
    if reference is not None and not (1 <= len(reference) <= 200):
        errors["reference"] = ["1 to 200 characters"]
    if errors:
        raise validation_failed(errors)
    row = _record(session, actor, duty, DONE, done_on, reference, None)
    return {"duty": duty, "done_on": row.occurred_on.isoformat(), "reference": row.reference, "recorded_by": row.actor_name, "id": row.id}


def history(*, session: Session, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    """What was recorded (done, thresholds reached), oldest first; [start, end] by the date it happened."""
    out = []
    for e in _events(session):
        if (start and e.occurred_on < start) or (end and e.occurred_on > end):
            continue
        out.append({"duty": e.duty, "kind": e.kind, "on": e.occurred_on.isoformat(), "reference": e.reference, "subjects": e.subjects,
                    "recorded_by": e.actor_name, "recorded_at": e.recorded_at.isoformat()})
    return out
