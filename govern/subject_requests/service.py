"""The rules for data-subject requests: filing (acknowledged with an id and a due date), identity verification first,
deadlines computed from recorded events only, explicit states with refused illegal moves, and the queue.

States: received → identity_pending → in_progress → completed | refused | withdrawn; `duplicate` for a second request
of a verified subject for the same thing while the first is open. Carrying a request out (erasure, access package,
…) spans domains and lives in flows.py.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import delete, false, select, update
from sqlalchemy.orm import Session

from govern import validators
from govern.access import service as access
from govern.audit import service as audit
from govern.audit.service import Outcome
from govern.audit.tags import RequestAction
from govern.consent import objections
from govern.crypto.envelope import Envelope, KeyedDigest
from govern.errors import Conflict, Gone, Locked, NotFound, Problem, not_found, validation_failed
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.identity.permissions import Permission
from govern.policy import Policy
from govern.refusals import Refusal
from govern.subject_requests import deadlines, deceased
from govern.subject_requests.models import DataSubjectRequest, DownloadToken, RequestEvent
from govern.subject_requests.policy import REQUEST_TYPES, VERIFICATION_METHODS, RequestRule, RequestTerms
from govern.subjects import facts as subjects
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks

OPEN = ("received", "identity_pending", "in_progress")
TERMINAL = ("completed", "refused", "withdrawn", "duplicate")
STATES = OPEN + TERMINAL
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"identity_pending", "in_progress", "refused", "withdrawn"}),
    "identity_pending": frozenset({"in_progress", "refused", "withdrawn"}),
    "in_progress": frozenset({"completed", "refused", "withdrawn"}),
}
CHANNELS = ("web", "app", "wechat", "phone", "email", "paper", "in_store")
METHODS = VERIFICATION_METHODS
PACKAGE_TYPES = ("access", "portability")
REFUSAL_REASONS = ("identity_not_verified", "manifestly_unfounded", "excessive", "legal_exception", "not_applicable", "other")
# What a request may name (names only: a value a requester supplies goes sealed into sealed_details).
DETAIL_KEYS = {
    "access": ("fields", "record_types"),
    "portability": ("fields", "record_types"),
    "rectification": ("fields",),
    "erasure": ("fields", "record_types"),
    "account_closure": (),
    "restriction": ("purposes",),
    "objection": ("purposes",),
    "withdrawal": ("purposes",),
    "complaint": ("about_request",),
}
CLOCK_KINDS = ("received", "acknowledged", "extended", "paused", "resumed")


@dataclass(frozen=True)
class Filed:
    request: DataSubjectRequest
    deadlines: deadlines.Deadlines


@dataclass(frozen=True)
class Verification:
    verified: bool
    locked: bool
    failures: int
    failures_left: int
    reason: str | None = None


@dataclass(frozen=True)
class QueueItem:
    request: DataSubjectRequest
    due_at: datetime
    overdue: bool
    due_soon: bool
    acknowledgement_overdue: bool


# --- helpers ------------------------------------------------------------------------------------------------------


def terms_of(policy: Policy, req: DataSubjectRequest) -> tuple[RequestTerms, RequestRule]:
    terms = policy.request_terms[req.jurisdiction]
    return terms, terms.rules[req.type]


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else utcnow()


def _ref(req: DataSubjectRequest) -> str:
    return f"request:{req.id}"


def recorded_time(
    *, policy: Policy, actor: Actor, at: datetime | None, reason: str | None, now: datetime, field: str = "occurred_at",
    not_before: datetime | None = None, subject_id: uuid.UUID | None = None,
) -> tuple[datetime, str | None]:
    """When something really happened, as staff enter it afterwards (a letter received last month, a document checked
    at the counter yesterday): any past time, never a future one, never before `not_before`; only with
    requests:request:backdate (staff, roles.yaml) and a reason. None, or a time within the policy's clock skew, is now.
    Returns (the time, the reason or None)."""
    if at is None:
        return now, None
    if at.tzinfo is None:
        raise validation_failed({field: ["must carry a time zone offset"]})
    at = as_utc(at)
    skew = timedelta(minutes=policy.requests.clock_skew_minutes)
    if at > now + skew:
        raise validation_failed({field: ["must not be in the future"]})
    if not_before is not None and at < as_utc(not_before):
        raise validation_failed({field: [f"must not be before {as_utc(not_before).isoformat()} (the step before it)"]})
    if at >= now - skew:
        return min(at, now), None
    if not access.has_permission(policy, actor, Permission.REQUESTS_BACKDATE):
        raise access.refuse(
            "backdating_not_allowed", "Only privacy staff enter a time afterwards (requests:request:backdate, policies/roles.yaml).",
            Refusal(action=RequestAction.BACKDATE, reason="backdating_not_allowed", subject_id=subject_id),
        )
    why = _reason(reason, required=False)
    if not why:
        raise validation_failed({f"{field}_reason": ["required: why the time is entered afterwards (e.g. a letter opened late)"]})
    return at, why


# A completion entered afterwards records an answer given outside govern (a copy sent by post, a complaint answered by
# letter). Every other type is carried out by govern itself when it is completed (data shredded, corrected, restricted,
# consents withdrawn), so its completion is the moment govern did it and is never dated earlier.
ANSWERED_OUTSIDE = ("access", "portability", "complaint")


def closing_time(
    *, policy: Policy, actor: Actor, req: DataSubjectRequest, outcome: str, occurred_at: datetime | None, occurred_reason: str | None,
    now: datetime,
) -> tuple[datetime, str | None]:
    """When a request was really completed or refused, as staff enter it afterwards (`recorded_time`): never before it
    was received, nor (a completion) before the requester's identity was verified; a completion only for the types
    answered outside govern (ANSWERED_OUTSIDE). Returns (the time, the reason or None)."""
    if occurred_at is not None and outcome == "completed" and req.type not in ANSWERED_OUTSIDE:
        raise validation_failed({"occurred_at": [
            f"a {req.type} request is carried out by govern when it is completed: its completion is now and cannot be entered "
            "afterwards (a consent withdrawn earlier is recorded with its real time on /subjects/<id>/consents)"
        ]})
    steps = [as_utc(req.received_at)] + ([as_utc(req.verified_at)] if outcome == "completed" and req.verified_at else [])
    return recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now, not_before=max(steps), subject_id=req.subject_id)


def answered_on_time(req: DataSubjectRequest) -> bool | None:
    """Whether a completed or refused request was answered by its deadline, from the real answer time (closed_at, which
    staff may enter afterwards); None while it is open or when it ended otherwise (withdrawn, duplicate)."""
    if req.state not in ("completed", "refused") or req.closed_at is None:
        return None
    return as_utc(req.closed_at) <= as_utc(req.due_at)


def _backdated(session: Session, actor: Actor, req: DataSubjectRequest, kind: str, at: datetime, now: datetime) -> None:
    audit.append(session=session, actor=actor, action=RequestAction.BACKDATE, subject_id=req.subject_id, resource=_ref(req),
                 reason=f"{kind}:{(now - at).days}d")


def events_of(*, session: Session, request_id: uuid.UUID) -> list[RequestEvent]:
    return list(session.scalars(select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)))


def compute_deadlines(*, policy: Policy, req: DataSubjectRequest, events: list[RequestEvent], now: datetime) -> deadlines.Deadlines:
    terms, rule = terms_of(policy, req)
    clock = [deadlines.ClockEvent(e.kind, as_utc(e.occurred_at)) for e in events if e.kind in CLOCK_KINDS]
    return deadlines.compute(terms=terms, rule=rule, calendars=policy.calendars, events=clock, now=now)


def _refresh(session: Session, policy: Policy, req: DataSubjectRequest, now: datetime) -> deadlines.Deadlines:
    """Recomputes the stored deadline columns from the events (they are a cache for the queue, never typed in)."""
    session.flush()
    d = compute_deadlines(policy=policy, req=req, events=events_of(session=session, request_id=req.id), now=now)
    zone = deadlines.ZoneInfo(policy.request_terms[req.jurisdiction].time_zone)
    req.due_at = d.due_at
    req.acknowledge_by = deadlines.end_of_day(d.acknowledge_by, zone) if d.acknowledge_by else None
    req.extended = d.extensions > 0
    req.paused = d.paused
    return d


def _event(
    session: Session, req: DataSubjectRequest, actor: Actor, kind: str, now: datetime, *, to_state: str | None = None,
    reason: str | None = None, data: dict[str, Any] | None = None,
) -> RequestEvent:
    event = RequestEvent(
        request_id=req.id, kind=kind, occurred_at=now, actor_name=actor.name, actor_id=actor.principal_id,
        from_state=req.state if to_state else None, to_state=to_state, reason=reason, data=data,
    )
    session.add(event)
    if to_state is not None:
        req.state = to_state
        if to_state in TERMINAL:
            req.closed_at = now
    return event


def _illegal(req: DataSubjectRequest, action: str, to: str | None = None) -> Problem:
    return Conflict(
        "illegal_transition", "Not allowed in this state",
        f"A request in state '{req.state}' cannot be {action}" + (f" (→ {to})" if to else "") + ".",
        extra={"state": req.state},
    )


def transition(session: Session, actor: Actor, req: DataSubjectRequest, to: str, kind: str, now: datetime, *, action: str,
               reason: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Moves the request to `to` if the state machine allows it; records the event and the audit event."""
    if to not in TRANSITIONS.get(req.state, frozenset()):
        raise _illegal(req, kind, to)
    _event(session, req, actor, kind, now, to_state=to, reason=reason, data=data)
    audit.append(session=session, actor=actor, action=action, subject_id=req.subject_id, resource=_ref(req), reason=to)


def get_or_raise(*, session: Session, request_id: uuid.UUID, for_update: bool = False) -> DataSubjectRequest:
    query = select(DataSubjectRequest).where(DataSubjectRequest.id == request_id)
    if for_update:
        query = query.with_for_update()  # PostgreSQL: one change to a request at a time; SQLite holds the write lock anyway
    req = session.scalar(query)
    if req is None:
        raise not_found("request")
    return req


def sees_every_request(policy: Policy, actor: Actor) -> bool:
    """Staff working the queue (requests:request:manage, never a service role) and the operator's jobs see every
    request; a CRM service sees only the requests it filed."""
    return actor.kind in ("operator", "system") or access.has_permission(policy, actor, Permission.REQUESTS_MANAGE)


def get_for(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, for_update: bool = False) -> DataSubjectRequest:
    """The request if this actor may see it: another service's request answers 404 like a missing one (a 403 would
    tell that the id exists)."""
    req = get_or_raise(session=session, request_id=request_id, for_update=for_update)
    if not sees_every_request(policy, actor) and (actor.principal_id is None or req.filed_by_id != actor.principal_id):
        raise not_found("request")
    return req


def require_verified(req: DataSubjectRequest, *, action: str) -> None:
    """Nothing is disclosed or erased before the requester's identity is verified (GB/T 35273 §8.7, GDPR Art. 12(6))."""
    if req.verification_required and req.verified_at is None:
        raise Conflict(
            "identity_not_verified", "Identity not verified",
            "The requester's identity has not been verified: nothing is disclosed, changed or erased before it is.",
            extra={"reason": "identity_not_verified", "state": req.state},
            audit=Refusal(action=action, reason="identity_not_verified", subject_id=req.subject_id),
        )


def _names(value: Any, known: Mapping[str, Any], key: str, errors: dict[str, list[str]]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        errors[f"details.{key}"] = ["a non-empty list of names"]
        return []
    unknown = sorted(set(value) - set(known))
    if unknown:
        errors[f"details.{key}"] = [f"unknown name(s): {', '.join(unknown)}"]
    return sorted(set(value))


def _clean_details(policy: Policy, rtype: str, details: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The names a request asks about, and (rectification) the new values, validated like any write."""
    errors: dict[str, list[str]] = {}
    allowed = DETAIL_KEYS[rtype]
    for key in details:
        if key not in allowed:
            errors[f"details.{key}"] = [f"not a detail of a {rtype} request (allowed: {', '.join(allowed) or 'none'})"]
    clean: dict[str, Any] = {}
    values: dict[str, str] = {}
    if rtype == "rectification":
        given = details.get("fields")
        if not isinstance(given, dict) or not given:
            errors["details.fields"] = ["name each field to correct and its correct value"]
        else:
            for name, value in given.items():
                rule = policy.catalog.fields.get(name)
                if rule is None:
                    errors[f"details.fields.{name}"] = ["unknown field: not in policies/catalog.yaml"]
                    continue
                try:
                    values[name] = validators.clean(rule.validator, rule.validator_options, value)[0]
                except validators.FieldInvalid as exc:
                    errors[f"details.fields.{name}"] = [str(exc)]
            clean["fields"] = sorted(given)
    else:
        if "fields" in details:
            clean["fields"] = _names(details["fields"], policy.catalog.fields, "fields", errors)
        if "record_types" in details:
            clean["record_types"] = _names(details["record_types"], policy.catalog.record_types, "record_types", errors)
        if "purposes" in details:
            clean["purposes"] = _names(details["purposes"], policy.purposes, "purposes", errors)
        if "about_request" in details:
            try:
                clean["about_request"] = str(uuid.UUID(str(details["about_request"])))
            except ValueError:
                errors["details.about_request"] = ["a request id"]
    if errors:
        raise validation_failed(errors)
    return clean, values


# --- filing -------------------------------------------------------------------------------------------------------


def file(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, type: str, channel: str,
    jurisdiction: str | None = None, details: Mapping[str, Any] | None = None, received_at: datetime | None = None,
    acknowledge: bool = True, received_reason: str | None = None, next_of_kin: Mapping[str, Any] | None = None, now: datetime | None = None,
) -> Filed:
    """Records a request with its receipt time and computes its deadlines; a second one of a verified subject for the
    same thing while the first is open is recorded as a duplicate of it. A request that arrived earlier (a letter) is
    entered by staff with its real receipt time and the reason (`recorded_time`): every deadline counts from it. A
    close relative's request for a deceased subject carries `next_of_kin` (PIPL Art. 49, govern/subject_requests/deceased.py)."""
    now = _now(now)
    errors: dict[str, list[str]] = {}
    if type not in REQUEST_TYPES:
        errors["type"] = [f"one of {', '.join(REQUEST_TYPES)}"]
    if channel not in CHANNELS:
        errors["channel"] = [f"one of {', '.join(CHANNELS)}"]
    if jurisdiction is not None and jurisdiction not in policy.request_terms:
        errors["jurisdiction"] = [f"one of {', '.join(sorted(policy.request_terms))} (policies/jurisdictions.yaml)"]
    if received_at is not None and received_at.tzinfo is None:
        errors["received_at"] = ["must carry a time zone offset"]
    if errors:
        raise validation_failed(errors)
    received, received_why = recorded_time(
        policy=policy, actor=actor, at=received_at, reason=received_reason, now=now, field="received_at", subject_id=subject_id,
    )
    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    kin = deceased.kin_of(policy=policy, subject=subject, type=type, next_of_kin=next_of_kin)
    clean, values = _clean_details(policy, type, details or {})
    jur = jurisdiction or subject.jurisdiction
    rule = policy.request_terms[jur].rules[type]
    req = DataSubjectRequest(
        id=uuid.uuid4(), subject_id=subject.id, type=type, jurisdiction=jur, channel=channel, language=subject.language, state="received",
        details=clean, received_at=received, due_at=now, verification_required=rule.verification_required or kin is not None,
        filed_by=actor.name, filed_by_id=actor.principal_id,
        requester_relationship=kin.relationship if kin else None, requester_verification_ref=kin.verification_ref if kin else None,
    )
    session.add(req)
    session.flush()  # the request row must exist before its events reference it
    if values:
        req.sealed_details = subjects.seal_for_subject(
            session=session, envelope=envelope, subject_id=subject.id, slot=f"request:{req.id}", plaintext=json.dumps(values, ensure_ascii=False).encode(),
        )
    received_data: dict[str, Any] = {"channel": channel, "type": type, "jurisdiction": jur}
    if received_why:
        received_data["entered_at"] = now.isoformat()  # the timeline shows the real receipt time and when it was entered
    if kin is not None:
        received_data["next_of_kin"] = kin.relationship
    _event(session, req, actor, "received", req.received_at, reason=received_why, data=received_data)
    audit.append(session=session, actor=actor, action=RequestAction.FILE, subject_id=subject.id, resource=_ref(req), reason=type)
    if received_why:
        _backdated(session, actor, req, "received", req.received_at, now)
    if kin is not None and kin.refusal is not None:
        # Recorded, then refused with the reason and how to complain (PIPL Art. 49, 50): the request log keeps it.
        req.refusal_reason, req.legal_basis = kin.refusal, policy.requests.next_of_kin_source[:300]
        req.response = {"refusal": {"reason": kin.refusal, "legal_basis": req.legal_basis, "explanation": kin.explanation,
                                    "complaint": complaint_notice(policy, req)}}
        transition(session, actor, req, "refused", "refused", now, action=RequestAction.REFUSE, reason=kin.explanation,
                   data={"reason": kin.refusal, "legal_basis": req.legal_basis})
        return Filed(req, _refresh(session, policy, req, now))
    duplicates = select(DataSubjectRequest).where(
        DataSubjectRequest.subject_id == subject.id, DataSubjectRequest.type == type, DataSubjectRequest.state.in_(OPEN),
        DataSubjectRequest.id != req.id, DataSubjectRequest.verified_at.is_not(None),
    )
    if not sees_every_request(policy, actor):
        # Only among the service's own requests: `duplicate_of` must not hand it the id of another service's request.
        duplicates = duplicates.where(DataSubjectRequest.filed_by_id == actor.principal_id if actor.principal_id else false())
    original = session.scalar(duplicates.order_by(DataSubjectRequest.received_at))
    if original is not None and original.details == clean:
        req.duplicate_of = original.id
        _event(session, req, actor, "duplicate", now, to_state="duplicate", data={"duplicate_of": str(original.id)})
        audit.append(session=session, actor=actor, action=RequestAction.DUPLICATE, subject_id=subject.id, resource=_ref(req), reason=f"of:{original.id}"[:64])
        d = _refresh(session, policy, original, now)
        req.due_at = original.due_at
        return Filed(req, d)
    if acknowledge:
        _event(session, req, actor, "acknowledged", now)
        req.acknowledged_at = now
    if not req.verification_required:
        # e.g. a CCPA opt-out (regs §7026(d)): no verification; work starts at once.
        _event(session, req, actor, "started", now, to_state="in_progress", reason="verification not required", data={"source": rule.verification_source})
    return Filed(req, _refresh(session, policy, req, now))


def acknowledge(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, occurred_at: datetime | None = None,
    occurred_reason: str | None = None, now: datetime | None = None,
) -> deadlines.Deadlines:
    """Records that the requester was told the request was received (CCPA regs §7021(a): within 10 business days);
    staff enter an acknowledgement sent earlier (a letter) with its real time and why (`recorded_time`)."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state in TERMINAL:
        raise _illegal(req, "acknowledged")
    if req.acknowledged_at is not None:
        raise Conflict("already_acknowledged", "Already acknowledged", "The request was already acknowledged.")
    at, why = recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now, not_before=req.received_at, subject_id=req.subject_id)
    _event(session, req, actor, "acknowledged", at, reason=why, data={"entered_at": now.isoformat()} if why else None)
    req.acknowledged_at = at
    audit.append(session=session, actor=actor, action=RequestAction.ACKNOWLEDGE, subject_id=req.subject_id, resource=_ref(req))
    if why:
        _backdated(session, actor, req, "acknowledged", at, now)
    return _refresh(session, policy, req, now)


# --- identity verification ----------------------------------------------------------------------------------------


def _locked(req: DataSubjectRequest) -> Problem:
    return Locked(
        "verification_locked", "Verification locked",
        "Too many failed verifications: the request is locked; it can only be refused or withdrawn.", extra={"reason": "verification_locked"},
        audit=Refusal(action=RequestAction.VERIFY, reason="verification_locked", subject_id=req.subject_id),
    )


def _otp_digest(envelope: Envelope, req: DataSubjectRequest, code: str) -> KeyedDigest:
    # Keyed (a key of its own, derived from the keyring), so a copy of the table does not let anyone try the million
    # codes offline. A code sent before keyed digests had their own keys no longer matches: the requester asks again.
    # A code sent before `govern keys migrate-suite` still does: the stored digest names its algorithm (matches()).
    return envelope.keyed_digest("dsr-otp", str(req.id), code)


def _verifiable(req: DataSubjectRequest) -> None:
    if req.state not in ("received", "identity_pending"):
        raise _illegal(req, "verified")
    if req.verified_at is not None:
        raise Conflict("already_verified", "Already verified", "The requester's identity is already verified.")
    if req.locked_at is not None:
        raise _locked(req)


def issue_otp(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, request_id: uuid.UUID, now: datetime | None = None,
) -> tuple[str, datetime]:
    """A one-time code for the CRM to deliver to the requester (only its keyed hash is kept); replaces any earlier code."""
    now = _now(now)
    settings = policy.requests
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    _verifiable(req)
    code = f"{secrets.randbelow(10 ** settings.otp_digits):0{settings.otp_digits}d}"
    req.otp_hash = _otp_digest(envelope, req, code)
    req.otp_expires_at = now + timedelta(minutes=settings.otp_valid_minutes)
    req.otp_attempts = 0
    if req.state == "received":
        _event(session, req, actor, "identity_pending", now, to_state="identity_pending", data={"method": "otp"})
    _event(session, req, actor, "otp_issued", now, data={"expires_at": req.otp_expires_at.isoformat()})
    audit.append(session=session, actor=actor, action=RequestAction.OTP_ISSUE, subject_id=req.subject_id, resource=_ref(req))
    return code, req.otp_expires_at


def _role_kinds(policy: Policy, actor: Actor) -> set[str]:
    return {policy.roles[r].kind for r in actor.roles if r in policy.roles}


def verify(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, request_id: uuid.UUID, method: str, code: str | None = None,
    reference: str | None = None, passed: bool = True, occurred_at: datetime | None = None, occurred_reason: str | None = None,
    now: datetime | None = None,
) -> Verification:
    """Records a verification attempt. A failure counts (and is committed); enough failures lock the request. Staff
    enter a document check done earlier (at the counter) with its real time and why (`recorded_time`). A close
    relative's request for a deceased subject (PIPL Art. 49) is verified by a staff document check only."""
    now = _now(now)
    settings = policy.requests
    errors: dict[str, list[str]] = {}
    if method not in METHODS:
        errors["method"] = [f"one of {', '.join(METHODS)}"]
    if method == "otp" and not code:
        errors["code"] = ["the code the requester returned"]
    if occurred_at is not None and method != "document":
        errors["occurred_at"] = ["only a staff document check is entered afterwards; a session or code is checked now"]
    if method in ("crm_session", "document") and (not reference or len(reference) > 100 or not reference.isprintable()):
        errors["reference"] = ["1–100 printable characters: the session or document-check id (no personal data)"]
    errors.update(validators.free_text_errors({k: v for k, v in {"reference": reference}.items() if k not in errors}))
    if errors:
        raise validation_failed(errors)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    _verifiable(req)
    if req.requester_relationship is not None and method != "document":
        raise Conflict(
            "document_check_required", "A document check is required",
            "A close relative acting for a deceased subject is verified by privacy staff checking documents (PIPL Art. 49), never by the "
            "deceased's session or a code.", extra={"reason": "document_check_required"},
        )
    if method == "crm_session" and not (_role_kinds(policy, actor) & {"service", "any"}):
        raise access.refuse("not_a_crm_service", "Only a CRM service can assert an authenticated session.", Refusal(action=RequestAction.VERIFY, reason="not_a_crm_service", subject_id=req.subject_id))
    if method == "document" and not access.has_permission(policy, actor, Permission.REQUESTS_MANAGE):
        raise access.refuse("not_staff", "Only privacy staff check documents.", Refusal(action=RequestAction.VERIFY, reason="not_staff", subject_id=req.subject_id))
    failure: str | None = None
    if method == "otp":
        if req.otp_hash is None:
            failure = "otp_not_issued"
        elif req.otp_expires_at is None or as_utc(req.otp_expires_at) < now:
            failure = "otp_expired"
            req.otp_hash, req.otp_expires_at = None, None
        elif not _otp_digest(envelope, req, str(code)).matches(req.otp_hash):
            failure = "otp_wrong"
            req.otp_attempts += 1
            if req.otp_attempts >= settings.otp_max_attempts:
                req.otp_hash, req.otp_expires_at = None, None  # this code is spent: a new one must be issued
    elif not passed:
        failure = f"{method}_failed"
    if failure is not None:
        req.verification_failures += 1
        _event(session, req, actor, "verification_failed", now, reason=failure, data={"method": method})
        audit.append(session=session, actor=actor, action=RequestAction.VERIFY, outcome=Outcome.FAILED, subject_id=req.subject_id, resource=_ref(req), reason=failure)
        if req.state == "received":
            _event(session, req, actor, "identity_pending", now, to_state="identity_pending", data={"method": method})
        locked = req.verification_failures >= settings.max_failures
        if locked:
            req.locked_at = now
            _event(session, req, actor, "locked", now, reason=f"{req.verification_failures} failed verifications")
            audit.append(session=session, actor=actor, action=RequestAction.LOCK, subject_id=req.subject_id, resource=_ref(req))
        return Verification(False, locked, req.verification_failures, max(settings.max_failures - req.verification_failures, 0), failure)
    at, why = recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now, not_before=req.received_at, subject_id=req.subject_id)
    req.verified_at, req.verification_method, req.verified_by, req.verification_ref = at, method, actor.name, reference
    req.otp_hash, req.otp_expires_at = None, None
    data = {"method": method, "reference": reference} | ({"entered_at": now.isoformat()} if why else {})
    _event(session, req, actor, "verified", at, to_state="in_progress", reason=why, data=data)
    audit.append(session=session, actor=actor, action=RequestAction.VERIFY, subject_id=req.subject_id, resource=_ref(req), reason=method)
    if why:
        _backdated(session, actor, req, "verified", at, now)
    _refresh(session, policy, req, now)
    return Verification(True, False, req.verification_failures, max(settings.max_failures - req.verification_failures, 0))


# --- the clock ----------------------------------------------------------------------------------------------------


def _reason(reason: str | None, *, required: bool) -> str | None:
    if reason is not None:
        reason = reason.strip()
    if required and not reason:
        raise validation_failed({"reason": ["required: the law wants the reasons told to the requester"]})
    if reason and (len(reason) > 1000 or not reason.isprintable()):
        raise validation_failed({"reason": ["at most 1000 printable characters"]})
    problem = validators.free_text_problem(reason) if reason else None
    if problem:  # the console reaches this without the API's schema (govern.openapi.FreeText)
        raise validation_failed({"reason": [problem]})
    return reason or None


def extend(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, reason: str | None, occurred_at: datetime | None = None,
    occurred_reason: str | None = None, now: datetime | None = None,
) -> deadlines.Deadlines:
    """Extends the deadline where the law allows, with the reasons, told within the original period; staff enter an
    extension told earlier (by letter) with the day it was told and why it is entered late (`recorded_time`)."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state not in OPEN:
        raise _illegal(req, "extended")
    terms, rule = terms_of(policy, req)
    if rule.extension is None:
        raise Conflict("extension_not_allowed", "No extension", f"{policy.jurisdictions[req.jurisdiction].law} allows no extension of a {req.type} request here (policies/jurisdictions.yaml).")
    reason = _reason(reason, required=rule.extension.reason_required)
    at, why = recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now, not_before=req.received_at, subject_id=req.subject_id)
    current = compute_deadlines(policy=policy, req=req, events=events_of(session=session, request_id=req.id), now=now)
    if current.extensions >= rule.extension.max_times:
        raise Conflict("extension_exhausted", "Already extended", f"The deadline can be extended {rule.extension.max_times} time(s) only.")
    zone = deadlines.ZoneInfo(terms.time_zone)
    if deadlines.local_date(at, zone) > current.original_due:
        raise Conflict(
            "extension_too_late", "Too late to extend",
            f"An extension must be told within the original period (by {current.original_due.isoformat()}): {rule.extension.source}.",
            extra={"original_due": current.original_due.isoformat()},
        )
    data = {"period": rule.extension.period, "unit": rule.extension.unit} | ({"entered_at": now.isoformat(), "entered_because": why} if why else {})
    _event(session, req, actor, "extended", at, reason=reason, data=data)
    audit.append(session=session, actor=actor, action=RequestAction.EXTEND, subject_id=req.subject_id, resource=_ref(req))
    if why:
        _backdated(session, actor, req, "extended", at, now)
    return _refresh(session, policy, req, now)


def _last_clock_at(session: Session, req: DataSubjectRequest) -> datetime:
    """The latest receipt, pause or resumption of the request: a pause or resumption entered afterwards may not
    precede it (the clock's pauses stay in order)."""
    times = [as_utc(e.occurred_at) for e in events_of(session=session, request_id=req.id) if e.kind in ("received", "paused", "resumed")]
    return max(times, default=as_utc(req.received_at))


def pause(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, reason: str | None, occurred_at: datetime | None = None,
    occurred_reason: str | None = None, now: datetime | None = None,
) -> deadlines.Deadlines:
    """Stops the clock while waiting for the requester, where the law lets it stop; staff enter a question sent
    earlier (by letter) with its real time and why (`recorded_time`)."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state not in OPEN:
        raise _illegal(req, "paused")
    _, rule = terms_of(policy, req)
    if not rule.pause_allowed:
        raise Conflict("pause_not_allowed", "The clock cannot stop", f"The deadline runs regardless: {rule.pause_source}.")
    if req.paused:
        raise Conflict("already_paused", "Already paused", "The clock is already stopped.")
    why_paused = _reason(reason, required=True)
    at, why = recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now,
                            not_before=_last_clock_at(session, req), subject_id=req.subject_id)
    _event(session, req, actor, "paused", at, reason=why_paused, data={"entered_at": now.isoformat(), "entered_because": why} if why else None)
    audit.append(session=session, actor=actor, action=RequestAction.PAUSE, subject_id=req.subject_id, resource=_ref(req))
    if why:
        _backdated(session, actor, req, "paused", at, now)
    return _refresh(session, policy, req, now)


def resume(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, occurred_at: datetime | None = None,
    occurred_reason: str | None = None, now: datetime | None = None,
) -> deadlines.Deadlines:
    """Restarts the clock; staff enter the requester's answer that arrived earlier (by post) at its real time and why
    (`recorded_time`): the pause ends then, not when it was typed in."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state not in OPEN:
        raise _illegal(req, "resumed")
    if not req.paused:
        raise Conflict("not_paused", "Not paused", "The clock is running.")
    at, why = recorded_time(policy=policy, actor=actor, at=occurred_at, reason=occurred_reason, now=now,
                            not_before=_last_clock_at(session, req), subject_id=req.subject_id)
    _event(session, req, actor, "resumed", at, reason=why, data={"entered_at": now.isoformat()} if why else None)
    audit.append(session=session, actor=actor, action=RequestAction.RESUME, subject_id=req.subject_id, resource=_ref(req))
    if why:
        _backdated(session, actor, req, "resumed", at, now)
    return _refresh(session, policy, req, now)


# --- endings ------------------------------------------------------------------------------------------------------


def complaint_notice(policy: Policy, req: DataSubjectRequest) -> dict[str, str]:
    terms = policy.request_terms[req.jurisdiction]
    return {"zh": terms.complaint["zh"], "en": terms.complaint["en"], "source": terms.complaint_source}


def refuse(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, reason: str, legal_basis: str, explanation: str | None = None,
    occurred_at: datetime | None = None, occurred_reason: str | None = None, now: datetime | None = None,
) -> DataSubjectRequest:
    """Refuses with a reason code and the legal basis; the answer tells the requester how to complain (GDPR Art. 12(4),
    PIPL Art. 50). Staff enter a refusal sent earlier (by letter) with its real time and why (`closing_time`): whether
    it was on time counts from then."""
    now = _now(now)
    errors: dict[str, list[str]] = {}
    if reason not in REFUSAL_REASONS:
        errors["reason"] = [f"one of {', '.join(REFUSAL_REASONS)}"]
    if not legal_basis or not (3 <= len(legal_basis.strip()) <= 300):
        errors["legal_basis"] = ["the provision relied on, 3–300 characters (e.g. GDPR Art. 12(5)(b))"]
    errors.update(validators.free_text_errors({k: v for k, v in {"legal_basis": legal_basis}.items() if k not in errors}))  # the console's form
    if reason == "other" and not (explanation or "").strip():  # PIPL Art. 50: the requester is told why
        errors["explanation"] = ["required when the reason is other: say why the request is refused (PIPL Art. 50)"]
    if errors:
        raise validation_failed(errors)
    explanation = _reason(explanation, required=False)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if "refused" not in TRANSITIONS.get(req.state, frozenset()):
        raise _illegal(req, "refused", "refused")
    at, why = closing_time(policy=policy, actor=actor, req=req, outcome="refused", occurred_at=occurred_at, occurred_reason=occurred_reason, now=now)
    req.refusal_reason, req.legal_basis = reason, legal_basis.strip()
    req.response = {"refusal": {"reason": reason, "legal_basis": req.legal_basis, "explanation": explanation, "complaint": complaint_notice(policy, req)}}
    data: dict[str, Any] = {"reason": reason, "legal_basis": req.legal_basis}
    if why:
        data.update(entered_at=now.isoformat(), entered_because=why)
    transition(session, actor, req, "refused", "refused", at, action=RequestAction.REFUSE, reason=explanation, data=data)
    if why:
        _backdated(session, actor, req, "refused", at, now)
    return req


def withdraw(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, now: datetime | None = None) -> DataSubjectRequest:
    """The requester withdraws the request."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    transition(session, actor, req, "withdrawn", "withdrawn", now, action=RequestAction.WITHDRAW)
    return req


# --- reading and the queue ----------------------------------------------------------------------------------------


def read(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, now: datetime | None = None) -> tuple[DataSubjectRequest, list[RequestEvent], deadlines.Deadlines]:
    """A request with its timeline and deadlines; audited."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    events = events_of(session=session, request_id=req.id)
    audit.append(session=session, actor=actor, action=RequestAction.READ, subject_id=req.subject_id, resource=_ref(req))
    return req, events, compute_deadlines(policy=policy, req=req, events=events, now=now)


def queue(
    *, session: Session, policy: Policy, actor: Actor, state: str | None = None, type: str | None = None, due_before: datetime | None = None,
    subject_id: uuid.UUID | None = None, limit: int = 200, now: datetime | None = None,
) -> list[QueueItem]:
    """Open requests (or those in `state`), soonest due first, flagged overdue or due within the policy's days; audited."""
    now = _now(now)
    errors: dict[str, list[str]] = {}
    if state is not None and state not in STATES:
        errors["state"] = [f"one of {', '.join(STATES)}"]
    if type is not None and type not in REQUEST_TYPES:
        errors["type"] = [f"one of {', '.join(REQUEST_TYPES)}"]
    if errors:
        raise validation_failed(errors)
    query = select(DataSubjectRequest).where(DataSubjectRequest.state.in_(OPEN) if state is None else DataSubjectRequest.state == state)
    if type is not None:
        query = query.where(DataSubjectRequest.type == type)
    if due_before is not None:
        query = query.where(DataSubjectRequest.due_at < as_utc(due_before))
    if subject_id is not None:
        query = query.where(DataSubjectRequest.subject_id == subject_id)
    if not sees_every_request(policy, actor):
        query = query.where(DataSubjectRequest.filed_by_id == actor.principal_id if actor.principal_id else false())
    rows = session.scalars(query.order_by(DataSubjectRequest.due_at, DataSubjectRequest.received_at).limit(limit)).all()
    soon = timedelta(days=policy.requests.due_soon_days)
    items: list[QueueItem] = []
    for req in rows:
        due_at = as_utc(req.due_at)
        if req.paused:  # an open pause moves the deadline every day: compute it as of now
            due_at = compute_deadlines(policy=policy, req=req, events=events_of(session=session, request_id=req.id), now=now).due_at
        is_open = req.state in OPEN
        ack_late = is_open and req.acknowledged_at is None and req.acknowledge_by is not None and as_utc(req.acknowledge_by) < now
        items.append(QueueItem(req, due_at, is_open and due_at < now, is_open and now <= due_at <= now + soon, ack_late))
    items.sort(key=lambda i: i.due_at)
    audit.append(session=session, actor=actor, action=RequestAction.QUEUE, subject_id=subject_id, resource="requests", reason=f"rows={len(items)}")
    return items


# --- jobs ---------------------------------------------------------------------------------------------------------


def _entered_at(session: Session, req: DataSubjectRequest) -> datetime | None:
    """When a request received earlier was entered (its `received` event's `entered_at`), or None."""
    received = session.scalar(select(RequestEvent).where(RequestEvent.request_id == req.id, RequestEvent.kind == "received").limit(1))
    entered = ((received.data or {}).get("entered_at") if received is not None else None)
    return as_utc(datetime.fromisoformat(entered)) if entered else None


def close_unverified(*, session: Session, policy: Policy, actor: Actor, now: datetime | None = None, limit: int = 500) -> int:
    """Refuses requests whose requester never completed verification within requests.yaml `unverified.close_after`,
    counted from receipt — or, for a request staff entered afterwards (a letter opened late), from its entry: the
    requester had no chance to verify before govern knew of the request."""
    now = _now(now)
    period = policy.requests.unverified_close_after
    candidates = session.scalars(
        select(DataSubjectRequest).where(
            DataSubjectRequest.state.in_(("received", "identity_pending")), DataSubjectRequest.verified_at.is_(None),
            DataSubjectRequest.verification_required.is_(True),
        ).order_by(DataSubjectRequest.received_at).limit(limit)
    ).all()
    closed = 0
    for req in candidates:
        zone = deadlines.ZoneInfo(policy.request_terms[req.jurisdiction].time_zone)
        limit_day = deadlines.add_period(deadlines.local_date(req.received_at, zone), period, None)
        if deadlines.local_date(now, zone) <= limit_day:
            continue
        entered = _entered_at(session, req)
        if entered is not None and deadlines.local_date(now, zone) <= deadlines.add_period(deadlines.local_date(entered, zone), period, None):
            continue
        req.refusal_reason, req.legal_basis = "identity_not_verified", policy.requests.unverified_source[:300]
        req.response = {"refusal": {"reason": "identity_not_verified", "legal_basis": req.legal_basis, "explanation": None, "complaint": complaint_notice(policy, req)}}
        transition(session, actor, req, "refused", "closed_unverified", now, action=RequestAction.CLOSE_UNVERIFIED, data={"after": f"{period.period} {period.unit}"})
        closed += 1
    return closed


def purge_log(*, session: Session, policy: Policy, actor: Actor, now: datetime | None = None) -> int:
    """Deletes requests closed longer ago than the request log's retention (requests.yaml, ≥ 24 months)."""
    now = _now(now)
    cutoff = deadlines.add_months(now.date(), -policy.requests.log_retain_months)
    cutoff_at = datetime.combine(cutoff, datetime.min.time(), tzinfo=now.tzinfo)
    ids = list(session.scalars(select(DataSubjectRequest.id).where(DataSubjectRequest.closed_at.is_not(None), DataSubjectRequest.closed_at < cutoff_at)))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(delete(RequestEvent).where(RequestEvent.request_id.in_(chunk)))
        session.execute(delete(DataSubjectRequest).where(DataSubjectRequest.id.in_(chunk)))
    audit.append(session=session, actor=actor, action=RequestAction.PURGE_LOG, resource="requests", reason=f"purged={len(ids)}")
    return len(ids)


TOLD_CHANNELS = ("email", "letter", "phone", "sms", "app", "wechat", "in_person")


def subject_told(*, policy: Policy, req: DataSubjectRequest, told_at: datetime | None, channel: str | None, now: datetime) -> datetime:
    """When and how the subject was told before a restriction is lifted (GDPR Art. 18(3)): both required, after the
    restriction was put in place, never in the future. A 422 leaves everything as it was."""
    errors: dict[str, list[str]] = {}
    if channel not in TOLD_CHANNELS:
        errors["told_channel"] = [f"required: how the subject was told, one of {', '.join(TOLD_CHANNELS)} (GDPR Art. 18(3))"]
    if told_at is None:
        errors["told_at"] = ["required: the subject is told before a restriction is lifted (GDPR Art. 18(3))"]
    elif told_at.tzinfo is None:
        errors["told_at"] = ["must carry a time zone offset"]
    elif as_utc(told_at) > now + timedelta(minutes=policy.requests.clock_skew_minutes):
        errors["told_at"] = ["must not be in the future: tell the subject first, then lift"]
    elif req.closed_at is not None and as_utc(told_at) < as_utc(req.closed_at):
        errors["told_at"] = [f"must be after the restriction was put in place ({as_utc(req.closed_at).isoformat()})"]
    if errors:
        raise validation_failed(errors)
    assert told_at is not None
    return min(as_utc(told_at), now)


def lift_objection(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, purpose: str, reason: str | None, now: datetime | None = None,
) -> DataSubjectRequest:
    """Lifts the objection a completed objection request recorded to one legitimate-interest purpose, because the
    company demonstrated compelling legitimate grounds that override the subject's interests (GDPR Art. 21(1)). The
    grounds are required; the objection is kept as lifted, the request's timeline shows the lift, and it is audited."""
    now = _now(now)
    grounds = _reason(reason, required=True)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.type != "objection" or req.state != "completed":
        raise Conflict("not_an_objection", "Nothing to lift", "Only an objection that a completed objection request recorded can be lifted.")
    if purpose in policy.purposes and policy.purposes[purpose].direct_marketing:
        raise objections.absolute(purpose, req.subject_id)
    if purpose not in (req.response or {}).get("legitimate_interest_objected", []):
        raise validation_failed({"purpose": [f"this request recorded no objection to '{purpose}'"]})
    objections.lift_objection(
        session=session, policy=policy, actor=actor, subject_id=req.subject_id, purpose=purpose, grounds=grounds, reference=_ref(req), now=now,
    )
    _event(session, req, actor, "objection_lifted", now, reason=grounds, data={"purpose": purpose})
    webhooks.objection_lifted(session=session, actor=actor, request=req, purpose=purpose, now=now)
    return req


# --- what a request hands out: one-time download tokens -----------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, to be handed to the data subject; only its keyed hash is kept
    token_id: uuid.UUID
    expires_at: datetime


def package_window_end(policy: Policy, req: DataSubjectRequest) -> datetime | None:
    """Until when the package of a request may be built: open-ended while it is worked, then the policy's hours."""
    if req.state == "completed":
        return as_utc(req.closed_at) + timedelta(hours=policy.requests.package_download_hours)
    return None


def require_package(policy: Policy, req: DataSubjectRequest, now: datetime) -> None:
    """The request has a package now: an access or portability request, verified, worked or recently completed."""
    if req.type not in PACKAGE_TYPES:
        raise Conflict("no_package", "No package", f"A {req.type} request has no package.")
    require_verified(req, action=RequestAction.PACKAGE)
    if req.state not in ("in_progress", "completed"):
        raise _illegal(req, "packaged")
    end = package_window_end(policy, req)
    if end is not None and end < now:
        raise Gone("package_expired", "Package expired", "The download period has ended; file a new request.")


def _token_digest(envelope: Envelope, token: str) -> KeyedDigest:
    # Keyed (a key of its own, derived from the keyring): a copy of the table, or of a backup, lets nobody try tokens
    # offline.
    return envelope.keyed_digest("dsr-download-token", token)


def issue_download_token(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, request_id: uuid.UUID, now: datetime | None = None,
) -> IssuedToken:
    """A one-time token for the data subject to download the request's package (POST /api/v1/requests/download), for
    the service that filed the request (or staff) to hand over; any earlier unused token of the request is revoked."""
    now = _now(now)
    req = get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    require_package(policy, req, now)
    session.execute(
        update(DownloadToken).where(DownloadToken.request_id == req.id, DownloadToken.used_at.is_(None), DownloadToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(minutes=policy.requests.package_token_valid_minutes)
    end = package_window_end(policy, req)
    if end is not None:
        expires = min(expires, end)
    row = DownloadToken(
        id=uuid.uuid4(), request_id=req.id, artefact="package", token_hash=_token_digest(envelope, token), issued_at=now, issued_to=actor.name,
        issued_to_id=actor.principal_id, expires_at=expires,
    )
    session.add(row)
    _event(session, req, actor, "download_token", now, data={"token_id": str(row.id), "expires_at": expires.isoformat()})
    audit.append(session=session, actor=actor, action=RequestAction.TOKEN_ISSUE, subject_id=req.subject_id, resource=f"{_ref(req)}/download-token:{row.id}")
    return IssuedToken(token=token, token_id=row.id, expires_at=expires)


def _token_refused(reason: str, subject_id: uuid.UUID | None = None) -> Problem:
    # One answer whether the token is unknown, used, revoked or expired: the route is not an oracle. The audit log
    # keeps which it was (never the token).
    return NotFound(
        code="download_not_found", title="Download not found",
        detail="This download token is unknown, already used or expired: ask for a new one.",
        audit=Refusal(action=RequestAction.TOKEN_REDEEM, reason=reason, subject_id=subject_id),
    )


def redeem_download_token(*, session: Session, envelope: Envelope, token: str, now: datetime | None = None) -> tuple[DownloadToken, DataSubjectRequest]:
    """Spends a token: one conditional UPDATE, so of two concurrent redemptions exactly one wins (PostgreSQL re-checks
    the condition after the winner commits; SQLite serialises the writers)."""
    now = _now(now)
    if not isinstance(token, str) or not (20 <= len(token) <= 100) or not all(c.isalnum() or c in "-_" for c in token):
        raise _token_refused("malformed")
    # Looked up under either suite's digest: a token handed out before `govern keys migrate-suite` is stored under the
    # algorithm of its day and stays good for its lifetime (two digests of one 256-bit token; neither can be guessed).
    digests = _token_digest(envelope, token).every_form()
    spent = session.execute(
        update(DownloadToken).where(
            DownloadToken.token_hash.in_(digests), DownloadToken.used_at.is_(None), DownloadToken.revoked_at.is_(None), DownloadToken.expires_at > now,
        ).values(used_at=now)
    )
    row = session.scalar(select(DownloadToken).where(DownloadToken.token_hash.in_(digests)))
    if spent.rowcount != 1 or row is None:
        if row is None:
            raise _token_refused("unknown")
        req = session.get(DataSubjectRequest, row.request_id)
        why = "used" if row.used_at is not None else "revoked" if row.revoked_at is not None else "expired"
        raise _token_refused(why, req.subject_id if req else None)
    req = get_or_raise(session=session, request_id=row.request_id, for_update=True)
    if row.issued_to_id is not None:
        # A token dies with the key it was handed to: disabling a leaked CRM key (breach containment) also voids the
        # tokens it collected. (Raising rolls the spend back; the token stays unusable while the key is disabled.)
        disabled = session.scalar(select(Principal.disabled_at).where(Principal.id == row.issued_to_id))
        if disabled is not None:
            raise _token_refused("issuer_disabled", req.subject_id)
    return row, req
