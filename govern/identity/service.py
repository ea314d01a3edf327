"""Principals and API keys: create (the key is shown once and stored as a hash), authenticate, list, disable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.service import AuditAction
from govern.db import HotStatement
from govern.errors import Problem, validation_failed
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow

KEY_PREFIX = "gv_"
_KEY_SHAPE = re.compile(r"^gv_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# last_used_at is for the access review, not a clock: writing it on every request would make every read a
# row update on a hot row.
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedKey:
    principal: Principal
    api_key: str


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create(*, session: Session, policy: Policy, actor: Actor, name: str, roles: list[str], kind: str = "service") -> IssuedKey:
    """Creates a principal with an API key; the key is returned once and only its SHA-256 is kept."""
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,99}", name or ""):
        errors["name"] = ["2–100 characters: lower-case letters, digits, '.', '_' or '-'"]
    unknown = sorted(set(roles) - set(policy.roles))
    if not roles or unknown:
        errors["roles"] = [f"unknown role(s): {', '.join(unknown)}" if unknown else "at least one role"]
    if kind not in ("service", "staff"):
        errors["kind"] = ["must be service or staff"]
    if errors:
        raise validation_failed(errors)
    if session.scalar(select(Principal.id).where(Principal.name == name)) is not None:
        raise Problem(409, "principal_exists", "Principal exists", f"A principal named '{name}' already exists.")
    prefix = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    principal = Principal(name=name, kind=kind, roles=sorted(set(roles)), key_prefix=prefix, key_hash=_hash(api_key))
    session.add(principal)
    session.flush()  # the id goes into the audit event
    audit.record(session=session, actor=actor, action=AuditAction.PRINCIPAL_CREATE, resource=f"principal:{principal.id}")
    return IssuedKey(principal, api_key)


@dataclass(frozen=True)
class Authenticated:
    """Who a valid API key belongs to: what the guard needs, read as one plain row on every request."""

    id: uuid.UUID
    name: str
    kind: str
    roles: list[str]


_BY_PREFIX = HotStatement(select(
    Principal.id, Principal.name, Principal.kind, Principal.roles, Principal.key_hash, Principal.disabled_at, Principal.last_used_at,
).where(Principal.key_prefix == bindparam("prefix")))


def authenticate(*, session: Session, api_key: str) -> Authenticated | None:
    """The enabled principal holding this key, or None; constant-time comparison of the hash."""
    match = _KEY_SHAPE.match(api_key or "")
    if not match:
        return None
    found = _BY_PREFIX.rows(session, {"prefix": match.group(1)})  # on every request: see HotStatement
    row = found[0] if found else None
    if row is None or row.disabled_at is not None or row.key_hash is None:
        return None
    if not hmac.compare_digest(row.key_hash, _hash(api_key)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > LAST_USED_RESOLUTION:
        session.execute(update(Principal).where(Principal.id == row.id).values(last_used_at=now))
    return Authenticated(id=row.id, name=row.name, kind=row.kind, roles=list(row.roles))


def list_principals(*, session: Session, actor: Actor) -> list[Principal]:
    """Every principal; listing them is itself audited (it is the map of who can read what)."""
    audit.record(session=session, actor=actor, action=AuditAction.PRINCIPAL_LIST, resource="principals")
    return list(session.scalars(select(Principal).order_by(Principal.created_at, Principal.name)))


def get_by_name_or_id(*, session: Session, ref: str) -> Principal:
    try:
        principal = session.get(Principal, uuid.UUID(ref))
    except ValueError:
        principal = session.scalar(select(Principal).where(Principal.name == ref))
    if principal is None:
        raise Problem(404, "not_found", "Not found", "No such principal.")
    return principal


def disable(*, session: Session, actor: Actor, ref: str) -> Principal:
    """Disables a principal at once: its key stops working on the next request. Idempotent."""
    principal = get_by_name_or_id(session=session, ref=ref)
    if principal.disabled_at is None:
        principal.disabled_at = utcnow()
        audit.record(session=session, actor=actor, action=AuditAction.PRINCIPAL_DISABLE, resource=f"principal:{principal.id}")
    return principal
