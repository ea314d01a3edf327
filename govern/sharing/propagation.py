"""Telling every recipient that received a subject's data of a rectification, erasure or restriction (GDPR Art. 19;
CCPA regs §7022(b)(3) for deletion; PIPL Art. 47 and 23): the rules, and the record of how each recipient is told.

A recipient is owed a notice when a disclosure gave it data the request changes (the fields named, or any field when
the request is about the whole subject). Each one owed is accounted for in one of three ways: a webhook endpoint of
its own subscribed to the event (the caller, which knows the webhooks, says which recipients have one), a manual task
recorded here with a due date (policies/sharing.yaml), or a recorded, specific reason why telling it is impossible or
would involve disproportionate effort — the only two exemptions Art. 19 allows. A request with a recipient accounted
for in none of these ways cannot complete (409 recipients_not_told, naming them), and the recipients go into the
completion's answer and certificate, so the subject can be told who they are (Art. 19, second sentence).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Collection, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import SharingAction
from govern.errors import Conflict, NotFound, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.sharing.models import PropagationStep, Recipient
from govern.sharing.service import recipients_of
from govern.timeutil import as_utc, utcnow
from govern.validators import free_text_problem

WEBHOOK = "webhook"
MANUAL = "manual"
EXEMPTIONS = ("impossible", "disproportionate_effort")  # GDPR Art. 19: "unless this proves impossible or involves disproportionate effort"
METHODS = (MANUAL, *EXEMPTIONS)


@dataclass(frozen=True)
class Owed:
    """One recipient owed a notice by one request: what it received of the changed data, and how it is (to be) told."""

    recipient: Recipient
    fields: frozenset[str]
    how: str | None  # webhook | manual | impossible | disproportionate_effort | None: not accounted for yet
    step: PropagationStep | None


def affected(*, session: Session, subject_id: uuid.UUID, fields: Collection[str] | None) -> dict[uuid.UUID, frozenset[str]]:
    """The recipients that received data the change touches, with the field names they received of it: of `fields`,
    or any field when `fields` is None (the whole subject is erased or restricted)."""
    held = recipients_of(session=session, subject_id=subject_id)
    if fields is None:
        return dict(held)
    named = set(fields)
    return {rid: names & named for rid, names in held.items() if names & named}


def steps_of(*, session: Session, request_id: uuid.UUID) -> dict[uuid.UUID, PropagationStep]:
    return {s.recipient_id: s for s in session.scalars(select(PropagationStep).where(PropagationStep.request_id == request_id))}


def account(
    *, session: Session, request_id: uuid.UUID, subject_id: uuid.UUID, fields: Collection[str] | None, webhook_recipients: Collection[uuid.UUID],
) -> list[Owed]:
    """Every recipient the request owes a notice, by name, with how each is told (None: not yet accounted for)."""
    owed = affected(session=session, subject_id=subject_id, fields=fields)
    if not owed:
        return []
    steps = steps_of(session=session, request_id=request_id)
    listening = set(webhook_recipients)
    recipients = {r.id: r for r in session.scalars(select(Recipient).where(Recipient.id.in_(sorted(owed))))}
    out = []
    for rid, names in owed.items():
        step = steps.get(rid)
        how = WEBHOOK if rid in listening else step.method if step is not None else None
        out.append(Owed(recipient=recipients[rid], fields=names, how=how, step=step))
    return sorted(out, key=lambda o: (o.recipient.name, str(o.recipient.id)))


def require_accounted(owed: Collection[Owed], *, request_ref: str) -> None:
    """Refuses (409 recipients_not_told, naming them) while a recipient owed a notice is accounted for in no way."""
    missing = [o for o in owed if o.how is None]
    if missing:
        names = ", ".join(o.recipient.name for o in missing)
        raise Conflict(
            "recipients_not_told", "Recipients not told",
            f"{len(missing)} recipient(s) that received the affected data have no webhook for this event: record a manual notice task "
            f"or the reason why telling them is impossible or disproportionate (GDPR Art. 19) before completing {request_ref}: {names}.",
            extra={"open_recipients": [{"id": str(o.recipient.id), "name": o.recipient.name, "fields": sorted(o.fields)} for o in missing]},
        )


def view(owed: Collection[Owed]) -> list[dict[str, Any]]:
    """The recipients as the subject may be told them (Art. 19, second sentence) and the file keeps them: ids, the
    organisation's name and country, the field names it received, how it is told. Never a value."""
    out = []
    for o in owed:
        item: dict[str, Any] = {
            "id": str(o.recipient.id), "name": o.recipient.name, "country": o.recipient.country, "fields": sorted(o.fields), "told_by": o.how,
        }
        if o.step is not None and o.how != WEBHOOK:
            item["recorded_at"] = as_utc(o.step.recorded_at).isoformat()
            if o.step.due_on is not None:
                item["due_on"] = o.step.due_on.isoformat()
            if o.step.done_at is not None:
                item["done_at"] = as_utc(o.step.done_at).isoformat()
            if o.step.reason:
                item["reason"] = o.step.reason
        out.append(item)
    return out


def _clean_reason(policy: Policy, method: str, reason: Any) -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise validation_failed({"reason": ["a text"]})
    reason = (reason or "").strip() or None
    minimum = policy.propagation.reason_min_length
    if method in EXEMPTIONS and (reason is None or len(reason) < minimum):
        raise validation_failed({"reason": [f"required for '{method}': say specifically why (at least {minimum} characters, GDPR Art. 19)"]})
    if reason is not None:
        if len(reason) > 1000 or not reason.isprintable():
            raise validation_failed({"reason": ["at most 1000 printable characters"]})
        if problem := free_text_problem(reason):
            raise validation_failed({"reason": [problem]})
    return reason


def record(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, subject_id: uuid.UUID, owed: Collection[Owed],
    recipient_id: uuid.UUID, method: str, reason: str | None = None, due_on: date | None = None, now: datetime | None = None,
) -> PropagationStep:
    """Records how a recipient the request owes a notice is told: a manual task due within the policy's days (by
    `due_on`, or on the last of them), or why telling it is impossible or disproportionate; audited. Once per
    recipient and request (409 propagation_recorded)."""
    now = as_utc(now) if now else utcnow()
    if method not in METHODS:
        raise validation_failed({"method": [f"one of {', '.join(METHODS)}"]})
    this = next((o for o in owed if o.recipient.id == recipient_id), None)
    if this is None:
        raise NotFound(detail="This recipient received none of the data this request changes: it is owed no notice.", code="recipient_not_owed",
                       title="Recipient not owed a notice")
    if this.how == WEBHOOK:
        raise Conflict("recipient_has_webhook", "Told by webhook", "This recipient has a webhook endpoint for the event: it is told by the webhook.")
    if this.step is not None:
        raise Conflict("propagation_recorded", "Already recorded", f"How this recipient is told is recorded already ({this.step.method}).")
    reason = _clean_reason(policy, method, reason)
    latest = now.date() + timedelta(days=policy.propagation.manual_due_days)
    if method == MANUAL:
        if due_on is not None and not (now.date() <= due_on <= latest):
            raise validation_failed({"due_on": [f"from today to {latest.isoformat()} ({policy.propagation.manual_due_days} days, policies/sharing.yaml)"]})
        due_on = due_on or latest
    elif due_on is not None:
        raise validation_failed({"due_on": ["only for a manual task"]})
    step = PropagationStep(
        id=uuid.uuid4(), request_id=request_id, subject_id=subject_id, recipient_id=recipient_id, method=method, due_on=due_on, reason=reason,
        recorded_at=now, recorded_by=actor.name,
    )
    session.add(step)
    audit.append(
        session=session, actor=actor, action=SharingAction.PROPAGATION_RECORD, subject_id=subject_id,
        resource=f"request:{request_id}/recipient:{recipient_id}", reason=method,
    )
    return step


def mark_done(
    *, session: Session, actor: Actor, request_id: uuid.UUID, recipient_id: uuid.UUID, done_at: datetime | None = None,
    because: str | None = None, now: datetime | None = None,
) -> PropagationStep:
    """A manual task carried out: the recipient was told (by whom and when, audited). Idempotent. `done_at` is when it
    really happened if it is entered afterwards, with `because` (the caller checked both: requests/propagation.py)."""
    now = as_utc(now) if now else utcnow()
    step = session.scalar(select(PropagationStep).where(PropagationStep.request_id == request_id, PropagationStep.recipient_id == recipient_id))
    if step is None or step.method != MANUAL:
        raise NotFound(detail="No manual notice task for this recipient and request.", code="no_manual_task", title="No manual task")
    if step.done_at is None:
        at = as_utc(done_at) if done_at is not None else now
        step.done_at, step.done_by, step.done_because = at, actor.name, because
        audit.append(
            session=session, actor=actor, action=SharingAction.PROPAGATION_DONE, subject_id=step.subject_id,
            resource=f"request:{request_id}/recipient:{recipient_id}", reason=f"entered:{(now - at).days}d" if because else None,
        )
    return step


def open_tasks(*, session: Session, actor: Actor, today: date | None = None, overdue_only: bool = False) -> list[PropagationStep]:
    """Manual notice tasks not yet done, the earliest due first (overdue ones, when asked); audited (they name subjects
    and their recipients)."""
    query = select(PropagationStep).where(PropagationStep.method == MANUAL, PropagationStep.done_at.is_(None))
    if overdue_only:
        query = query.where(PropagationStep.due_on < (today or utcnow().date()))
    rows = list(session.scalars(query.order_by(PropagationStep.due_on, PropagationStep.id)))
    audit.append(session=session, actor=actor, action=SharingAction.DISCLOSURE_LIST,
                 resource="recipients/notice-tasks" + ("?overdue=true" if overdue_only else ""))
    return rows


def step_view(step: PropagationStep) -> Mapping[str, Any]:
    return {
        "request_id": str(step.request_id), "subject_id": str(step.subject_id), "recipient_id": str(step.recipient_id), "method": step.method,
        "due_on": step.due_on.isoformat() if step.due_on else None, "reason": step.reason, "recorded_at": as_utc(step.recorded_at).isoformat(),
        "recorded_by": step.recorded_by, "done_at": as_utc(step.done_at).isoformat() if step.done_at else None, "done_by": step.done_by,
        "done_because": step.done_because,
    }
