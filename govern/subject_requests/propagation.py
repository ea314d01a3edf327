"""A request's side of telling recipients (GDPR Art. 19): which data a rectification, erasure or restriction changes,
which recipients a webhook tells (govern/webhooks), and the rules of sharing/propagation.py for every other one.
requests.flows.complete refuses to complete while a recipient owed a notice is accounted for in no way; staff record
a manual task or an exemption through these functions (the routes in sharing/api.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import SharingAction
from govern.errors import Conflict
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.sharing import propagation
from govern.sharing.models import PropagationStep
from govern.subject_requests import service as requests
from govern.subject_requests.models import DataSubjectRequest
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks

Owed = propagation.Owed
view = propagation.view  # the recipients as the answer and the certificate name them


def changed_fields(req: DataSubjectRequest) -> list[str] | None:
    """The field names the request changes; None for the whole subject (an erasure of everything, a restriction). A
    partial erasure of record types only changes no disclosed field (disclosures carry fields, never records)."""
    if req.type == "rectification":
        return list(req.details.get("fields") or [])
    if req.type in ("erasure", "account_closure") and (req.details.get("fields") or req.details.get("record_types")):
        return list(req.details.get("fields") or [])
    return None


def owed(*, session: Session, req: DataSubjectRequest) -> list[Owed]:
    """Every recipient this request owes a notice, with how each is told (None: not accounted for yet)."""
    event_type = webhooks.REQUEST_EVENTS.get(req.type)
    if event_type is None:
        return []
    return propagation.account(
        session=session, request_id=req.id, subject_id=req.subject_id, fields=changed_fields(req),
        webhook_recipients=webhooks.recipients_listening(session=session, event_type=event_type),
    )


def require_told(*, session: Session, req: DataSubjectRequest) -> list[Owed]:
    """The hook of requests.flows.complete, before anything is changed: 409 recipients_not_told while a recipient owed
    a notice has no webhook, no manual task and no recorded exemption; else the recipients, for the answer."""
    result = owed(session=session, req=req)
    propagation.require_accounted(result, request_ref=requests._ref(req))
    return result


def recipients(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID) -> tuple[DataSubjectRequest, list[Owed]]:
    """The recipients a request owes a notice and how each is told; audited (it names the subject's recipients)."""
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    result = owed(session=session, req=req)
    audit.append(session=session, actor=actor, action=SharingAction.DISCLOSURE_LIST, subject_id=req.subject_id, resource=f"{requests._ref(req)}/recipients")
    return req, result


def record(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, recipient_id: uuid.UUID, method: str,
    reason: str | None = None, due_on: date | None = None, now: datetime | None = None,
) -> PropagationStep:
    """Records a manual notice task or an exemption for one recipient of an open request; audited."""
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.closed_at is not None:
        raise Conflict("request_closed", "Request closed", f"The request is {req.state}: how recipients are told is settled when it completes.")
    return propagation.record(
        session=session, policy=policy, actor=actor, request_id=req.id, subject_id=req.subject_id, owed=owed(session=session, req=req),
        recipient_id=recipient_id, method=method, reason=reason, due_on=due_on, now=now,
    )


def done(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, recipient_id: uuid.UUID, occurred_at: datetime | None = None,
    occurred_reason: str | None = None, now: datetime | None = None,
) -> PropagationStep:
    """A manual notice task carried out (the recipient was told); audited. Staff enter a notice sent earlier (a letter)
    with its real time and why, as any step of the request (`requests.recorded_time`): never in the future, never before
    the request was received."""
    now = as_utc(now) if now else utcnow()
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    at, why = requests.recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now,
                                     not_before=req.received_at, subject_id=req.subject_id)
    return propagation.mark_done(session=session, actor=actor, request_id=req.id, recipient_id=recipient_id, done_at=at if why else None,
                                 because=why, now=now)
