"""Propagation (GDPR Art. 19, CCPA regs §7022(b)(3), PIPL Art. 47): CRM components and third-party recipients that hold
a subject's data are told when a request erases, rectifies, restricts or stops processing of it, and when a retention
purge erases it or some of it.

Endpoints are registered by an administrator; each has a secret that govern generates, shows once and keeps sealed
under the master key. A completed request (or a purge batch) writes its events into the outbox (one delivery per
endpoint that should hear of it) in its own transaction, so an event is never lost nor sent for a change that rolled
back; the worker in delivery.py sends them. A body carries ids, the action and names of fields or purposes, never a value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from govern import paging
from govern.audit import service as audit
from govern.audit.service import Outcome
from govern.audit.tags import WebhookAction
from govern.crypto.envelope import Envelope
from govern.errors import Conflict, Invalid, NotFound, not_found, require_editable, require_version, stale, validation_failed
from govern.identity import assignees
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy
from govern.sharing import service as sharing
from govern.timeutil import as_utc, parse_instant, utcnow
from govern.validators import free_text_errors
from govern.webhooks.egress import Guard, Refused
from govern.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from govern.webhooks.policy import WebhookPolicy

if TYPE_CHECKING:
    from govern.subject_requests.models import DataSubjectRequest


ERASED = "subject.erased"
RECTIFIED = "subject.rectified"
RESTRICTED = "subject.restricted"
RESTRICTION_LIFTED = "subject.restriction_lifted"
PROCESSING_STOPPED = "subject.processing_stopped"
PROCESSING_RESUMED = "subject.processing_resumed"  # staff lifted an objection on compelling grounds (GDPR Art. 21(1))
EVENT_TYPES = (ERASED, RECTIFIED, RESTRICTED, RESTRICTION_LIFTED, PROCESSING_STOPPED, PROCESSING_RESUMED)
OWNER_KINDS = ("principal", "recipient")  # a CRM component (a service principal) | a third-party recipient
STATES = ("pending", "delivered", "failed")
EDITABLE = ("name", "url", "event_types", "enabled")
SECRET_PREFIX = "whsec_"
# Response keys of an objection or withdrawal (requests/flows.py `_stop_purposes`) that list purposes which stop.
_STOPPED_KEYS = ("consent_withdrawn", "legitimate_interest_objected")


def _settings(policy: Policy) -> WebhookPolicy:
    return policy.webhooks


# --- URLs -------------------------------------------------------------------------------------------------------


def check_url(url: Any) -> str:
    """http(s) only, a host, no credentials, no fragment (the form of a URL; where it leads is egress.Guard's)."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2000 or not url.isprintable() or any(c.isspace() for c in url.strip()):
        raise validation_failed({"url": ["an absolute http(s) URL of at most 2000 printable characters, no spaces"]})
    url = url.strip()
    parts = urlsplit(url)
    problems = []
    if parts.scheme not in ("http", "https"):
        problems.append("only http:// or https://")
    if "@" in parts.netloc:
        problems.append("no credentials in the URL: the signature authenticates govern")
    if not parts.hostname:
        problems.append("a host is required")
    if parts.fragment:
        problems.append("no fragment")
    try:
        _ = parts.port
    except ValueError:
        problems.append("an invalid port")
    if problems:
        raise validation_failed({"url": problems})
    # Typed by an operator and kept in the clear (listings, the console, delivery logs): a receiver's address, never a
    # person's number or e-mail address in its path or query.
    if errors := free_text_errors({"url": url}):
        raise validation_failed(errors)
    return url


def check_target(url: Any, *, guard: Guard) -> str:
    """A well-formed URL whose host resolves only to addresses the guard admits (400 `webhook_target_refused` naming
    the reason, never an address the name resolved to)."""
    url = check_url(url)
    try:
        guard.check(url)
    except Refused as exc:
        said = exc.message if exc.reason in ("https_required", "ip_spelling", "internal_name", "unresolvable") else f"the host is or resolves to {exc.message}"
        raise Invalid("webhook_target_refused", "Webhook target refused", f"url: {said}.",
                      extra={"reason": exc.reason, "errors": {"url": [exc.message]}}) from None
    return url


# --- secrets and signatures -------------------------------------------------------------------------------------


def _slot(generation: int) -> str:
    return f"webhook-secret:{generation}"


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()  # whole base64, as Standard Webhooks libraries decode it


def signing_secrets(*, envelope: Envelope, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its grace period."""
    dek = envelope.unwrap(endpoint.id, endpoint.wrapped_key)
    out = [Envelope.open(dek, endpoint.id, _slot(endpoint.secret_generation), endpoint.sealed_secret).decode()]
    if endpoint.previous_sealed_secret is not None and endpoint.previous_valid_until and as_utc(endpoint.previous_valid_until) > now:
        out.append(Envelope.open(dek, endpoint.id, _slot(endpoint.secret_generation - 1), endpoint.previous_sealed_secret).decode())
    return out


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secrets_: Sequence[str], body: bytes, timestamp: int) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` with one v1 per valid secret."""
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in secrets_)])


def verify_signature(*, secret: str, body: bytes | str, header: str, tolerance_seconds: int = 300, now: datetime | None = None) -> bool:
    """What a receiver does: the header's time is recent and one of its v1 values is the HMAC of "<t>.<body>"."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp, candidates = None, []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((now or utcnow()).timestamp() - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, timestamp, raw)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- endpoints --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once, never stored in the clear


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100 or not value.isprintable():
        raise validation_failed({"name": ["1–100 printable characters"]})
    errors = free_text_errors({"name": value})  # the endpoint's description: a component's name, not a person's data
    if errors:
        raise validation_failed(errors)
    return value.strip()


def _check_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise validation_failed({"event_types": [f"a non-empty list of: {', '.join(EVENT_TYPES)}"]})
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise validation_failed({"event_types": [f"unknown: {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})"]})
    return sorted(set(value))


def _check_owner(session: Session, kind: Any, owner_id: Any) -> tuple[str, uuid.UUID]:
    if kind not in OWNER_KINDS:
        raise validation_failed({"owner.kind": [f"one of {', '.join(OWNER_KINDS)}"]})
    try:
        oid = owner_id if isinstance(owner_id, uuid.UUID) else uuid.UUID(str(owner_id))
    except ValueError:
        raise validation_failed({"owner.id": ["a principal id or a recipient id (UUID)"]}) from None
    if kind == "principal":
        try:
            principal = identity.get_by_name_or_id(session=session, ref=str(oid))
        except NotFound:
            raise validation_failed({"owner.id": ["no such principal"]}) from None
        if principal.kind != "service":
            raise validation_failed({"owner.id": ["a CRM component: a service principal, not a staff account"]})
    else:
        try:
            sharing.get_recipient(session=session, recipient_id=oid)
        except NotFound:
            raise validation_failed({"owner.id": ["no such recipient"]}) from None
    return kind, oid


def create_endpoint(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, data: Mapping[str, Any], guard: Guard | None = None,
) -> IssuedSecret:
    """Registers an endpoint for a CRM component or a recipient; returns its secret, which is never shown again.
    `guard` decides where a URL may lead (default: the policy's, https required, the system's resolver)."""
    owner = data.get("owner") or {}
    kind, owner_id = _check_owner(session, owner.get("kind"), owner.get("id"))
    url = check_target(data.get("url"), guard=guard or Guard.from_policy(policy))
    events = _check_events(data.get("event_types"))
    name = _check_name(data["name"]) if data.get("name") else f"{kind}-{owner_id}"  # the default is govern's (an id's digits may look like a mobile), never checked as typed text
    clash = session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.owner_kind == kind, WebhookEndpoint.owner_id == owner_id, WebhookEndpoint.url == url))
    if clash is not None:
        raise Conflict("endpoint_exists", "Endpoint exists", f"This owner already has an endpoint at this URL: {clash}.")
    endpoint_id = uuid.uuid4()
    secret = _new_secret()
    dek, wrapped, version = envelope.new_data_key(endpoint_id)
    endpoint = WebhookEndpoint(
        id=endpoint_id, name=name, url=url, owner_kind=kind, owner_id=owner_id, event_types=events, enabled=bool(data.get("enabled", True)),
        wrapped_key=wrapped, master_key_version=version, secret_generation=1, sealed_secret=Envelope.seal(dek, endpoint_id, _slot(1), secret.encode()),
        created_by=actor.name, created_at=utcnow(), updated_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()  # the row exists before its audit event names it
    audit.append(session=session, actor=actor, action=WebhookAction.ENDPOINT_CREATE, resource=f"webhook-endpoint:{endpoint.id}", reason=f"owner={kind}:{owner_id}")
    return IssuedSecret(endpoint, secret)


def get_endpoint(*, session: Session, endpoint_id: uuid.UUID, for_update: bool = False) -> WebhookEndpoint:
    # for_update, PostgreSQL: one change to an endpoint at a time; the next waits and reads it as it stands.
    endpoint = session.get(WebhookEndpoint, endpoint_id, with_for_update=True if for_update else None, populate_existing=for_update)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


def list_endpoints(*, session: Session, owner_kind: str | None = None, owner_id: uuid.UUID | None = None) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if owner_kind is not None:
        query = query.where(WebhookEndpoint.owner_kind == owner_kind)
    if owner_id is not None:
        query = query.where(WebhookEndpoint.owner_id == owner_id)
    return list(session.scalars(query))


def delivery_counts(*, session: Session, endpoint_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Deliveries per endpoint and state (counts only: no subject ids), for the endpoint's health at a glance."""
    ids = list(endpoint_ids)
    out: dict[uuid.UUID, dict[str, int]] = {i: dict.fromkeys(STATES, 0) for i in ids}
    if ids:
        rows = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count()).where(WebhookDelivery.endpoint_id.in_(ids))
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.state)
        )
        for eid, state, n in rows:
            out[eid][state] = int(n)
    return out


def figures(*, session: Session) -> dict[str, Any]:
    """The outbox at a glance for /metrics and the alerts (govern/alerts), counts and endpoint ids only: deliveries
    per state (the queue's depth) and, per enabled endpoint with deliveries given up on (`failed`), their number."""
    by_state = dict.fromkeys(STATES, 0)
    for state, n in session.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)):
        by_state[state] = int(n)
    failing = session.execute(
        select(WebhookDelivery.endpoint_id, WebhookEndpoint.name, func.count())
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.state == "failed", WebhookEndpoint.enabled.is_(True))
        .group_by(WebhookDelivery.endpoint_id, WebhookEndpoint.name).order_by(WebhookDelivery.endpoint_id)
    ).all()
    return {"by_state": by_state, "failing_endpoints": [{"id": eid, "name": name, "failed": int(n)} for eid, name, n in failing]}


def update_endpoint(
    *, session: Session, policy: Policy, actor: Actor, endpoint_id: uuid.UUID, expected_version: int | None, changes: Mapping[str, Any],
    guard: Guard | None = None,
) -> WebhookEndpoint:
    """Changes name, URL, event types or enabled if the caller holds the current version (ETag)."""
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id, for_update=True)
    require_version(current=endpoint.version, expected=expected_version, what="endpoint")
    require_editable(changes, EDITABLE)
    checked: dict[str, Any] = {}
    if "name" in changes:
        checked["name"] = _check_name(changes["name"])
    if "url" in changes:
        checked["url"] = check_target(changes["url"], guard=guard or Guard.from_policy(policy))
    if "event_types" in changes:
        checked["event_types"] = _check_events(changes["event_types"])
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise validation_failed({"enabled": ["true or false"]})
        checked["enabled"] = changes["enabled"]
    for key, value in checked.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise stale("endpoint") from None
    audit.append(
        session=session, actor=actor, action=WebhookAction.ENDPOINT_UPDATE, resource=f"webhook-endpoint:{endpoint.id}",
        field_names=[f"endpoint.{k}" for k in checked], reason=None if "enabled" not in checked else f"enabled={checked['enabled']}",
    )
    return endpoint


def rotate_secret(*, session: Session, policy: Policy, envelope: Envelope, actor: Actor, endpoint_id: uuid.UUID, now: datetime | None = None) -> IssuedSecret:
    """A new secret, shown once; the previous one also signs for the policy's grace period, then stops."""
    now = as_utc(now) if now else utcnow()
    endpoint = get_endpoint(session=session, endpoint_id=endpoint_id, for_update=True)
    active = envelope.keyring.active_version
    if endpoint.master_key_version != active:  # a master-key rotation since: move this endpoint's data key along
        endpoint.wrapped_key = envelope.rewrap(endpoint.id, endpoint.wrapped_key, active)
        endpoint.master_key_version = active
    dek = envelope.unwrap(endpoint.id, endpoint.wrapped_key)
    grace = timedelta(hours=_settings(policy).rotation_grace_hours)
    secret = _new_secret()
    endpoint.previous_sealed_secret = endpoint.sealed_secret if grace else None
    endpoint.previous_valid_until = now + grace if grace else None
    endpoint.secret_generation += 1
    endpoint.sealed_secret = Envelope.seal(dek, endpoint.id, _slot(endpoint.secret_generation), secret.encode())
    endpoint.secret_rotated_at = now
    endpoint.updated_at = now
    session.flush()
    audit.append(session=session, actor=actor, action=WebhookAction.SECRET_ROTATE, resource=f"webhook-endpoint:{endpoint.id}", reason=f"generation={endpoint.secret_generation}")
    return IssuedSecret(endpoint, secret)


# --- the outbox -------------------------------------------------------------------------------------------------


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _event_of(req: "DataSubjectRequest") -> tuple[str, dict[str, Any]] | None:
    """What a completed request means for those who hold the subject's data (ids and names only), or None."""
    response = req.response or {}
    if req.type in ("erasure", "account_closure"):
        extra: dict[str, Any] = {}
        if req.details.get("fields") or req.details.get("record_types"):  # a partial erasure: say what went
            destroyed = (response.get("certificate") or {}).get("destroyed") or {}
            extra = {"fields": sorted(destroyed.get("fields") or []), "record_types": sorted(destroyed.get("records") or {})}
        return ERASED, extra
    if req.type == "rectification":
        return RECTIFIED, {"fields": sorted(response.get("rectified") or [])}
    if req.type == "restriction":
        return RESTRICTED, {"purposes": sorted(response.get("allowed") or [])}  # the only purposes still allowed
    if req.type in ("objection", "withdrawal"):
        stopped = sorted({p for key in _STOPPED_KEYS for p in response.get(key) or []})
        return (PROCESSING_STOPPED, {"purposes": stopped}) if stopped else None
    return None


def request_completed(*, session: Session, actor: Actor, request: "DataSubjectRequest", now: datetime) -> list[WebhookDelivery]:
    """The hook of requests.flows.complete: queues the request's event for everyone who should hear of it."""
    event = _event_of(request)
    if event is None:
        return []
    event_type, extra = event
    return enqueue(session=session, actor=actor, event_type=event_type, subject_id=request.subject_id, request_id=request.id,
                   request_type=request.type, now=now, **extra)


def recipients_listening(*, session: Session, event_type: str) -> set[uuid.UUID]:
    """The recipients with an enabled endpoint of their own subscribed to `event_type`: those a webhook tells of it
    (sharing/propagation.py asks every other recipient owed a notice for a manual task or a reason)."""
    rows = session.execute(select(WebhookEndpoint.owner_id, WebhookEndpoint.event_types).where(
        WebhookEndpoint.owner_kind == "recipient", WebhookEndpoint.enabled.is_(True)))
    return {owner for owner, types in rows if event_type in types}


REQUEST_EVENTS = {"erasure": ERASED, "account_closure": ERASED, "rectification": RECTIFIED, "restriction": RESTRICTED}


def restriction_lifted(*, session: Session, actor: Actor, request: "DataSubjectRequest", now: datetime) -> list[WebhookDelivery]:
    """The hook of requests.flows.lift_restriction."""
    return enqueue(session=session, actor=actor, event_type=RESTRICTION_LIFTED, subject_id=request.subject_id, request_id=request.id,
                   request_type=request.type, now=now)


def objection_lifted(*, session: Session, actor: Actor, request: "DataSubjectRequest", purpose: str, now: datetime) -> list[WebhookDelivery]:
    """The hook of requests.service.lift_objection: whoever was told processing stopped hears it may resume."""
    return enqueue(session=session, actor=actor, event_type=PROCESSING_RESUMED, subject_id=request.subject_id, request_id=request.id,
                   request_type=request.type, purposes=[purpose], now=now)


def enqueue(
    *, session: Session, actor: Actor, event_type: str, subject_id: uuid.UUID, request_id: uuid.UUID | None, now: datetime,
    request_type: str | None = None, fields: Sequence[str] | None = None, record_types: Sequence[str] | None = None,
    purposes: Sequence[str] | None = None,
) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint subscribed to `event_type`: every CRM component's, and every recipient's that
    received a disclosure of the subject (of one of `fields`, when the event names fields). In the caller's transaction."""
    notice = Notice(subject_id=subject_id, request_id=request_id, request_type=request_type, fields=fields, record_types=record_types, purposes=purposes)
    return _queue(session=session, actor=actor, event_type=event_type, notices=[notice], now=now, audit_unheard=True)


@dataclass(frozen=True)
class Notice:
    """One event about one subject, as its body will say it: ids and names, never a value."""

    subject_id: uuid.UUID
    request_id: uuid.UUID | None = None
    request_type: str | None = None
    fields: Sequence[str] | None = None  # None: the whole subject (every recipient of it is told)
    record_types: Sequence[str] | None = None
    purposes: Sequence[str] | None = None
    details: Mapping[str, Any] | None = None  # further ids and names for the body (a purge's cause, run and rules)
    event_id: uuid.UUID | None = None  # given (stable_event_id) when the same notice may be written again; random otherwise


_EVENT_NAMESPACE = uuid.UUID("5d0c8f4e-3b7a-4f0e-9a51-6c2e1d7b9a30")


def stable_event_id(*parts: Any) -> uuid.UUID:
    """The same event id for the same parts, so a notice written twice is recognised and queued once."""
    return uuid.uuid5(_EVENT_NAMESPACE, ":".join(str(p) for p in parts))


def _queue(
    *, session: Session, actor: Actor, event_type: str, notices: Sequence[Notice], now: datetime, audit_unheard: bool,
) -> list[WebhookDelivery]:
    """Writes the deliveries of `notices` (one event each) with the endpoints read once and the recipients of all their
    subjects read in one query. A notice with a given event id is not queued again for an endpoint that has it.
    `audit_unheard`: also audit a notice nobody is to hear (a request: its file shows propagation was considered;
    a purge batch skips it, its own audit events name the run)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not notices:
        return []
    now = as_utc(now)
    endpoints = [e for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id))
                 if event_type in e.event_types]
    if not endpoints and not audit_unheard:
        return []  # the common case of a purge batch: one small query, nothing else
    held = (sharing.recipients_of_many(session=session, subject_ids=[n.subject_id for n in notices])
            if any(e.owner_kind == "recipient" for e in endpoints) else {})
    planned = []
    for n in notices:
        named = set(n.fields) if n.fields is not None else None
        his = held.get(n.subject_id, {})
        chosen = [
            e for e in endpoints
            if e.owner_kind == "principal" or (e.owner_id in his and (named is None or his[e.owner_id] & named))
        ]
        planned.append((n, n.event_id or uuid.uuid4(), chosen))
    given = [eid for n, eid, chosen in planned if n.event_id is not None and chosen]
    queued = {
        (eid, endpoint_id)
        for eid, endpoint_id in session.execute(select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id.in_(given)))
    } if given else set()
    rows: list[WebhookDelivery] = []
    for n, event_id, chosen in planned:
        chosen = [e for e in chosen if (event_id, e.id) not in queued]
        if not chosen and not audit_unheard:
            continue
        payload: dict[str, Any] = {
            "id": str(event_id), "type": event_type, "subject_id": str(n.subject_id), "request_id": str(n.request_id) if n.request_id else None,
            "request_type": n.request_type, "occurred_at": now.isoformat(), **(n.details or {}),
        }
        for key, names in (("fields", n.fields), ("record_types", n.record_types), ("purposes", n.purposes)):
            if names is not None:
                payload[key] = sorted(names)
        body = _canonical(payload)
        rows.extend(
            WebhookDelivery(
                id=uuid.uuid4(), event_id=event_id, event_type=event_type, endpoint_id=e.id, subject_id=n.subject_id, request_id=n.request_id,
                body=body, state="pending", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
            )
            for e in chosen
        )
        audit.append(session=session, actor=actor, action=WebhookAction.EVENT_QUEUE, subject_id=n.subject_id, resource=f"webhook-event:{event_id}",
                     reason=f"{event_type} endpoints={len(chosen)}")
    # Added after the audit events (each of which flushes): the rows of a whole batch go in one multi-row INSERT.
    session.add_all(rows)
    return rows


@dataclass
class Purged:
    """What one purge batch removed of one subject: the rules that made it due and the names of what went."""

    rules: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)
    record_types: set[str] = field(default_factory=set)
    shredded: bool = False


def retention_purged(
    *, session: Session, actor: Actor, run_id: int, batch_start: int, purged: Mapping[uuid.UUID, Purged], now: datetime,
) -> list[WebhookDelivery]:
    """The hook of retention.purge, once per batch in the batch's transaction: one `subject.erased` per subject the batch
    purged, with `cause: retention`, the run and the rules; a shredded subject's notice names nothing (all of it went),
    another's the fields and record types that went. Event ids are stable (a subject's shred: once ever; a partial
    purge: per run, batch and subject), so writing a notice again queues nothing more."""
    notices = []
    for sid in sorted(purged):
        p = purged[sid]
        details = {"cause": "retention", "retention_run": run_id, "rules": sorted(p.rules)}
        if p.shredded:
            notices.append(Notice(subject_id=sid, details=details, event_id=stable_event_id("retention", "shred", sid)))
        elif p.fields or p.record_types:
            notices.append(Notice(
                subject_id=sid, fields=sorted(p.fields), record_types=sorted(p.record_types), details=details,
                event_id=stable_event_id("retention", run_id, batch_start, sid),
            ))
    return _queue(session=session, actor=actor, event_type=ERASED, notices=notices, now=now, audit_unheard=False)


# --- reading and re-queueing deliveries -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilters:
    endpoint_id: uuid.UUID | None = None
    state: str | None = None
    subject_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    created_from: datetime | None = None  # the console's date range (issue 19): [from, before)
    created_before: datetime | None = None
    search: uuid.UUID | None = None  # the console's search box: a delivery's, its request's or its subject's id
    assignee: str | None = None  # the console's assignee filter: "me" (the actor), "none" or a principal id


def _cursor(d: WebhookDelivery) -> str:
    return base64.urlsafe_b64encode(f"{as_utc(d.created_at).isoformat()}|{d.id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        return parse_instant(when), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise validation_failed({"cursor": ["not a cursor this API gave out"]}) from None


def list_deliveries(
    *, session: Session, actor: Actor, filters: DeliveryFilters, limit: int = 100, cursor: str | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """Deliveries, newest first, with a cursor for the next page; audited (they name subjects)."""
    errors: dict[str, list[str]] = {}
    if filters.state is not None and filters.state not in STATES:
        errors["state"] = [f"one of {', '.join(STATES)}"]
    if assignee_errors := assignees.filter_errors(filters.assignee):
        errors["assignee"] = assignee_errors
    if errors:
        raise validation_failed(errors)
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit + 1)
    for column, value in (
        (WebhookDelivery.endpoint_id, filters.endpoint_id), (WebhookDelivery.state, filters.state),
        (WebhookDelivery.subject_id, filters.subject_id), (WebhookDelivery.request_id, filters.request_id),
    ):
        if value is not None:
            query = query.where(column == value)
    query = paging.within(query, WebhookDelivery.created_at, filters.created_from, filters.created_before)
    if filters.search is not None:
        query = query.where(or_(WebhookDelivery.id == filters.search, WebhookDelivery.request_id == filters.search, WebhookDelivery.subject_id == filters.search))
    query = assignees.where_assigned(query, WebhookDelivery.assignee_id, filters.assignee, actor)
    if cursor:
        when, ident = _after(cursor)
        query = query.where(or_(WebhookDelivery.created_at < when, and_(WebhookDelivery.created_at == when, WebhookDelivery.id < ident)))
    rows = list(session.scalars(query))
    # Instants compact, in UTC: every filter together still fits the audit event's resource (200 characters).
    used = "&".join(f"{k}={as_utc(v).strftime('%Y%m%dT%H%MZ') if isinstance(v, datetime) else v}" for k, v in filters.__dict__.items() if v is not None)
    audit.append(session=session, actor=actor, action=WebhookAction.DELIVERY_LIST, subject_id=filters.subject_id,
                 resource=(f"webhook-deliveries?{used}" if used else "webhook-deliveries")[:200])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _cursor(rows[-1]) if more else None


def get_delivery(*, session: Session, actor: Actor, delivery_id: uuid.UUID) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """A delivery with every attempt made; audited."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise not_found("webhook delivery")
    attempts = list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number)))
    audit.append(session=session, actor=actor, action=WebhookAction.DELIVERY_READ, subject_id=delivery.subject_id, resource=_resource(delivery))
    return delivery, attempts


def retry(*, session: Session, actor: Actor, delivery_id: uuid.UUID, now: datetime | None = None) -> WebhookDelivery:
    """Re-queues a failed delivery for the next worker run, with a fresh series of attempts; audited."""
    now = as_utc(now) if now else utcnow()
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise not_found("webhook delivery")
    if delivery.state != "failed":
        raise Conflict("delivery_not_failed", "Not failed", f"Only a failed delivery can be re-queued; this one is {delivery.state}.")
    delivery.state, delivery.attempts, delivery.next_attempt_at = "pending", 0, now
    delivery.failed_at = delivery.lease_owner = delivery.lease_until = None
    delivery.updated_at = now
    audit.append(session=session, actor=actor, action=WebhookAction.REQUEUE, subject_id=delivery.subject_id, resource=_resource(delivery))
    return delivery


# Whom a delivery may be assigned to, and who may assign it: the staff who re-queue failed deliveries.
WORKS_THE_FAILURES = Permission.CONSOLE_WEBHOOKS_RETRY


def assign(
    *, session: Session, policy: Policy, actor: Actor, delivery_id: uuid.UUID, assignee_id: uuid.UUID | None,
) -> WebhookDelivery:
    """Sets (or clears, None) the staff member following a delivery up: an active staff account whose roles re-queue
    failed deliveries; refused (409) once it has been delivered (after a re-queue): nothing is left to follow up. Audited."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        raise not_found("webhook delivery")
    if delivery.state == "delivered":
        raise Conflict("delivery_delivered", "Delivered", "The delivery has since been delivered: nobody follows it up any more.")
    assignees.staff_to_assign(session=session, principal_id=assignee_id, policy=policy, permission=WORKS_THE_FAILURES)
    delivery.assignee_id = assignee_id
    audit.append(session=session, actor=actor, action=WebhookAction.ASSIGN, subject_id=delivery.subject_id, resource=_resource(delivery),
                 reason=str(assignee_id) if assignee_id else "unassigned")
    return delivery


def _resource(delivery: WebhookDelivery) -> str:
    return f"webhook-endpoint:{delivery.endpoint_id}/delivery:{delivery.id}"


def audit_outcome(*, session: Session, actor: Actor, delivery: WebhookDelivery, delivered: bool, detail: str) -> None:
    """A delivery's final outcome (delivered, or failed after the last attempt), ids only; `detail` fits 64 characters."""
    audit.append(
        session=session, actor=actor, action=WebhookAction.DELIVERED if delivered else WebhookAction.FAILED,
        outcome=Outcome.ALLOWED if delivered else Outcome.FAILED, subject_id=delivery.subject_id, resource=_resource(delivery), reason=detail[:64],
    )
