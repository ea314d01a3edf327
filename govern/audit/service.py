"""Writes audit events in the caller's transaction: the service that does a thing records it, in the same unit
of work, and flushes at once so that an event that cannot be stored fails the operation (fail closed)."""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Iterable

from sqlalchemy.orm import Session

from govern.audit.models import AuditEvent
from govern.identity.actor import Actor
from govern.timeutil import utcnow


class AuditAction(StrEnum):
    SUBJECT_CREATE = "subjects:profile:create"
    SUBJECT_READ = "subjects:profile:read"
    SUBJECT_UPDATE = "subjects:profile:update"
    SUBJECT_LOOKUP = "subjects:profile:lookup"
    RECORD_CREATE = "subjects:record:create"
    RECORD_READ = "subjects:record:read"
    PRINCIPAL_CREATE = "identity:principal:create"
    PRINCIPAL_DISABLE = "identity:principal:disable"
    PRINCIPAL_LIST = "identity:principal:list"
    AUTH_FAILED = "identity:apikey:reject"
    KEY_ROTATE_BEGIN = "crypto:master:rotate-begin"
    KEY_ROTATE_FINISH = "crypto:master:rotate-finish"
    POLICY_LOAD = "policy:bundle:load"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"


def canonical_bytes(event: dict) -> str:
    """The one serialisation of an event: sorted keys, no whitespace, UTF-8 kept as is, no floats.

    For the value types govern writes (strings, integers, null, lists of strings) this is the RFC 8785 JSON
    canonicalisation; the stored string is what later hashing covers, never a re-rendering.
    """
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record(
    *,
    session: Session,
    actor: Actor,
    action: AuditAction | str,
    outcome: Outcome = Outcome.ALLOWED,
    subject_id: uuid.UUID | None = None,
    field_names: Iterable[str] = (),
    purpose: str | None = None,
    resource: str | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Appends one event (names of fields, never their values) and flushes it so a failure surfaces here."""
    names = sorted(set(field_names))
    occurred_at = utcnow()
    body = {
        "time": occurred_at.isoformat(timespec="microseconds"),
        "actor": {"id": str(actor.principal_id) if actor.principal_id else None, "name": actor.name, "kind": actor.kind},
        "roles": sorted(actor.roles),
        "action": str(action),
        "resource": resource,
        "subject": str(subject_id) if subject_id else None,
        "fields": names,
        "purpose": purpose,
        "outcome": str(outcome),
        "reason": reason,
        "request": actor.request_id,
        "client": actor.client_addr,
    }
    event = AuditEvent(
        occurred_at=occurred_at,
        actor_id=actor.principal_id,
        actor_name=actor.name,
        roles=",".join(sorted(actor.roles)),
        action=str(action),
        resource=resource,
        subject_id=subject_id,
        field_names=",".join(names),
        purpose=purpose,
        outcome=str(outcome),
        reason=reason,
        request_id=actor.request_id,
        client_addr=actor.client_addr,
        canonical=canonical_bytes(body),
    )
    session.add(event)
    # Flush now: if the log cannot take the event, the caller must fail before it returns any data.
    session.flush()
    return event
