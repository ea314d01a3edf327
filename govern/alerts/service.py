"""What is wrong now, and telling people once per change of it.

`conditions` reads each domain's read-only figures (requests due soon or overdue, breach notification clocks, failing
webhook endpoints, the unsealed audit backlog, and what `SOURCES` adds: the scheduler's failed jobs). `check_and_notify`
compares them with `alert_states`: a condition not yet there is inserted by a conditional insert (ON CONFLICT DO
NOTHING on the key subject + level), and only the check whose insert took writes the notices — so two hosts checking at
the same moment tell people once. A state no longer met is deleted, so the same condition met again later is told again.
Every raise, clear, send and give-up is audited; messages carry ids, types, kinds, counts and times only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from govern.alerts.models import AlertNotice, AlertState
from govern.alerts.policy import AlertPolicy, Recipient
from govern.alerts.senders import send_email, send_webhook
from govern.audit import chain
from govern.audit import service as audit
from govern.audit.service import Outcome
from govern.audit.tags import AlertAction
from govern.breach import board
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subject_requests import figures as request_figures
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks
from govern.webhooks.egress import Guard

ACTOR = Actor(name="govern-alerts", kind="system", roles=("system",))


@dataclass(frozen=True)
class Condition:
    """One thing wrong now: what it is about (`subject`, an id with its kind, never a person), its kind and level, and
    the facts its message names."""

    subject: str
    kind: str
    level: str
    facts: Mapping[str, Any] = field(default_factory=dict)


# Further sources of conditions, registered by the modules that own them (the scheduler adds its failed jobs with
# `job_failed`): each is called with the check's session, policy and time.
Source = Callable[[Session, Policy, datetime], Iterable[Condition]]
SOURCES: list[Source] = []


def job_failed(*, job: str, at: datetime, error: str) -> Condition:
    """The condition a failed scheduled job raises (until its next run succeeds): `error` is a short code or an
    exception's type, never a message that could carry data."""
    return Condition(subject=f"job:{job}", kind="job", level="failed", facts={"job": job, "at": _when(at), "error": error[:100]})


def _when(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def conditions(*, session: Session, policy: Policy, now: datetime) -> list[Condition]:
    """Everything wrong at `now`, at most one level per subject (the most severe met)."""
    settings: AlertPolicy = policy.alerts
    out: list[Condition] = []
    for d in request_figures.due(session=session, policy=policy, now=now, within_days=settings.request_due_within_days):
        out.append(Condition(f"request:{d.id}", "request", "overdue" if d.overdue else "due_soon",
                             {"id": str(d.id), "type": d.type, "jurisdiction": d.jurisdiction, "due_at": _when(d.due_at)}))
    for c in board.running_clocks(session=session, now=now):
        level = "expired" if c["seconds_left"] < 0 else next(
            (f"clock_{p}" for p in reversed(settings.incident_levels) if c["used"] * 100 >= p), None)
        if level:
            out.append(Condition(f"breach-notification:{c['id']}", "incident", level,
                                 {"id": str(c["id"]), "incident": c["incident"], "kind": c["kind"], "jurisdiction": c["jurisdiction"], "due_at": _when(c["due_at"])}))
    for e in webhooks.figures(session=session)["failing_endpoints"]:
        out.append(Condition(f"webhook-endpoint:{e['id']}", "webhook", "failing", {"id": str(e["id"]), "name": e["name"], "failed": e["failed"]}))
    backlog = chain.backlog(session, now)
    bound = policy.audit.max_unsealed_seconds
    if backlog["unsealed"] > settings.max_unsealed_events or backlog["oldest_age_seconds"] > bound:
        out.append(Condition("audit:unsealed", "audit", "unsealed",
                             {"unsealed": backlog["unsealed"], "oldest_seconds": int(backlog["oldest_age_seconds"]), "max_seconds": bound}))
    for source in SOURCES:
        out.extend(source(session, policy, now))
    return out


@dataclass
class Checked:
    """What one check did: states raised and cleared (subject, level), notices sent, failed for good, left to retry."""

    raised: list[tuple[str, str]] = field(default_factory=list)
    cleared: list[tuple[str, str]] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    retrying: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"raised": [f"{s} {lvl}" for s, lvl in self.raised], "cleared": [f"{s} {lvl}" for s, lvl in self.cleared],
                "sent": self.sent, "failed": self.failed, "retrying": self.retrying}


def _insert(session: Session):
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(AlertState)


def _render(policy: AlertPolicy, c: Condition, language: str) -> tuple[str, str]:
    message = policy.messages[(f"{c.kind}.{c.level}", language)]
    facts = {k: str(v) for k, v in c.facts.items()}
    return message.subject.format_map(facts), message.body.format_map(facts)


def _channels(r: Recipient) -> list[str]:
    return [name for name, address in (("email", r.email), ("webhook", r.webhook)) if address]


def transition(*, session: Session, policy: Policy, now: datetime, found: Iterable[Condition]) -> Checked:
    """Raises what is newly wrong (writing its notices) and clears what is no longer, in the caller's transaction."""
    settings: AlertPolicy = policy.alerts
    done = Checked()
    current = {(c.subject, c.level): c for c in found}
    stored = {(subject, level) for subject, level in session.execute(select(AlertState.subject, AlertState.level))}
    for key in sorted(current.keys() - stored):
        c = current[key]
        taken = session.execute(_insert(session).values(subject=c.subject, level=c.level, kind=c.kind, raised_at=now, facts=dict(c.facts))
                                .on_conflict_do_nothing().returning(AlertState.subject)).first()
        if taken is None:
            continue  # another check raised it first: it tells people, this one does not
        done.raised.append(key)
        audit.append(session=session, actor=ACTOR, action=AlertAction.RAISE, resource=f"alert:{c.subject}"[:200], reason=f"{c.kind}.{c.level}")
        for r in settings.recipients:
            if c.kind not in r.kinds:
                continue
            title, text = _render(settings, c, r.language)
            for channel in _channels(r):
                session.add(AlertNotice(
                    id=uuid.uuid4(), subject=c.subject, level=c.level, kind=c.kind, recipient=r.name, channel=channel, language=r.language,
                    state="pending", attempts=0, created_at=now, title=title[:200], body=text, facts=dict(c.facts),
                ))
    for subject, level in sorted(stored - current.keys()):
        gone = session.execute(delete(AlertState).where(AlertState.subject == subject, AlertState.level == level)).rowcount
        if gone == 1:
            done.cleared.append((subject, level))
            audit.append(session=session, actor=ACTOR, action=AlertAction.CLEAR, resource=f"alert:{subject}"[:200], reason=level)
    session.flush()
    return done


def _lease(settings: AlertPolicy) -> timedelta:
    return timedelta(seconds=2 * settings.timeout_seconds + 30)


def _send(runtime, notice: AlertNotice, now: datetime) -> str | None:
    settings: AlertPolicy = runtime.policy.alerts
    recipient = next((r for r in settings.recipients if r.name == notice.recipient), None)
    if recipient is None:
        return "recipient_removed_from_policy"
    if notice.channel == "email":
        return send_email(smtp_url=runtime.settings.smtp_url, sender=settings.sender, to=recipient.email or "", subject=notice.title,
                          body=notice.body, timeout=settings.timeout_seconds)
    payload = {"type": "govern.alert", "id": str(notice.id), "kind": notice.kind, "level": notice.level, "subject": notice.subject,
               "raised_at": as_utc(notice.created_at).isoformat(), "language": notice.language, "title": notice.title, "text": notice.body,
               "facts": notice.facts}
    return send_webhook(guard=Guard.of(runtime), url=recipient.webhook or "", payload=payload, message_id=f"alert_{notice.id}",
                        timeout=settings.timeout_seconds)


def send_pending(runtime, now: datetime, done: Checked) -> None:
    """Sends every pending notice this check can claim (a conditional update: one sender per notice at a time)."""
    settings: AlertPolicy = runtime.policy.alerts
    free = or_(AlertNotice.lease_until.is_(None), AlertNotice.lease_until < now)
    with runtime.database.unit_of_work() as session:
        ids = list(session.scalars(select(AlertNotice.id).where(AlertNotice.state == "pending", free).order_by(AlertNotice.created_at).limit(500)))
    for nid in ids:
        with runtime.database.unit_of_work() as session:
            claimed = session.execute(update(AlertNotice).where(AlertNotice.id == nid, AlertNotice.state == "pending", free)
                                      .values(lease_until=now + _lease(settings), attempts=AlertNotice.attempts + 1)).rowcount
        if claimed != 1:
            continue
        with runtime.database.unit_of_work() as session:
            notice = session.get(AlertNotice, nid)
            error = _send(runtime, notice, now)
            notice.last_error = error
            notice.lease_until = None
            if error is None:
                notice.state, notice.sent_at = "sent", now
                done.sent += 1
                audit.append(session=session, actor=ACTOR, action=AlertAction.SENT, resource=f"alert-notice:{notice.id}",
                             reason=f"{notice.channel} {notice.recipient}"[:64])
            elif notice.attempts >= settings.max_attempts:
                notice.state = "failed"
                done.failed += 1
                audit.append(session=session, actor=ACTOR, action=AlertAction.FAILED, outcome=Outcome.FAILED,
                             resource=f"alert-notice:{notice.id}", reason=error[:64])
            else:
                done.retrying += 1


def check_and_notify(runtime, now: datetime | None = None) -> Checked:
    """One check: what is wrong now against what was, people told of each change, pending notices sent. Safe to run on
    several hosts at once (see the module's docstring); the scheduler runs it, or `govern alerts check` from cron."""
    now = as_utc(now or utcnow())
    with runtime.database.unit_of_work() as session:
        done = transition(session=session, policy=runtime.policy, now=now, found=conditions(session=session, policy=runtime.policy, now=now))
    send_pending(runtime, now, done)
    return done
