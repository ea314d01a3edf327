"""Principals and API keys: create (the key is shown once and stored as a hash), authenticate, list, disable."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import PrincipalAction
from govern.db import HotStatement
from govern.errors import Conflict, NotFound, Problem, Unauthenticated, validation_failed
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.policy import Policy
from govern.refusals import Refusal
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
    # A bare SHA-256 is enough here: a key is 256 random bits, nothing anyone could guess and try offline (a digest of
    # something guessable — a letter, a request body, a code — is keyed instead: Envelope.keyed_digest).
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
        raise Conflict("principal_exists", "Principal exists", f"A principal named '{name}' already exists.")
    prefix = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    principal = Principal(name=name, kind=kind, roles=sorted(set(roles)), key_prefix=prefix, key_hash=_hash(api_key))
    session.add(principal)
    session.flush()  # the id goes into the audit event
    audit.append(session=session, actor=actor, action=PrincipalAction.CREATE, resource=f"principal:{principal.id}")
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


def authenticate(*, session: Session, api_key: str, remembered: bool = False) -> Authenticated | None:
    """The enabled principal holding this key, or None; constant-time comparison of the hash.

    `remembered`: the request confirms the principal later (an audited read), so a principal this process has seen is
    taken from memory, and the session's audit events are then appended only while it is enabled with this key
    (audit.append_only_if: the first event's INSERT confirms it, or the request asks before answering, govern/app.py);
    otherwise the database is asked now."""
    match = _KEY_SHAPE.match(api_key or "")
    if not match:
        return None
    prefix = match.group(1)
    row = _KNOWN.get(prefix) if remembered else None
    if row is None:
        found = _BY_PREFIX.rows(session, {"prefix": prefix})  # on every request that is not an audited read
        if not found or found[0].disabled_at is not None or found[0].key_hash is None:
            _KNOWN.discard(prefix)
            return None
        f = found[0]
        row = KnownPrincipal(f.id, f.name, f.kind, tuple(f.roles), f.key_hash, f.last_used_at)
        remembered = False  # just read: nothing left to confirm
    if not hmac.compare_digest(row.key_hash, _hash(api_key)):
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > LAST_USED_RESOLUTION:
        # Not for a key disabled meanwhile (a remembered principal is confirmed only later in the request).
        session.execute(update(Principal).where(Principal.id == row.id, Principal.disabled_at.is_(None)).values(last_used_at=now))
        row = row._replace(last_used_at=now)
    _KNOWN.put(prefix, row)
    if remembered:
        audit.append_only_if(session=session, condition=audit.Condition(
            clause=_ENABLED_WITH_KEY, params={"check_id": row.id, "check_hash": row.key_hash},
            refusal=functools.partial(unauthenticated, KEY_REJECTED, "credentials_rejected"),
        ))
    return Authenticated(id=row.id, name=row.name, kind=row.kind, roles=list(row.roles))


class KnownPrincipal(NamedTuple):
    id: uuid.UUID
    name: str
    kind: str
    roles: tuple[str, ...]
    key_hash: str
    last_used_at: datetime | None


class _KnownKeys:
    """The principal rows this process read by key prefix, bounded in count. Never trusted alone: only a caller that
    confirms the principal in the database later in the request asks for them (`remembered`)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self.rows: dict[str, KnownPrincipal] = {}

    def get(self, prefix: str) -> KnownPrincipal | None:
        return self.rows.get(prefix)

    def put(self, prefix: str, row: KnownPrincipal) -> None:
        if len(self.rows) >= self.limit and prefix not in self.rows:
            self.rows.clear()  # rare (a thousand keys in one process): start again rather than track ages
        self.rows[prefix] = row

    def discard(self, prefix: str) -> None:
        self.rows.pop(prefix, None)

    def forget(self, principal_id: uuid.UUID) -> None:
        for prefix, row in list(self.rows.items()):  # a copy: other threads of the worker add keys meanwhile
            if row.id == principal_id:
                self.rows.pop(prefix, None)


_KNOWN = _KnownKeys()


KEY_REJECTED = "The API key is unknown or disabled."


def unauthenticated(detail: str, reason: str) -> Problem:
    """401 problem+json, recorded as a rejected credential (identity:apikey:reject)."""
    return Unauthenticated(
        "unauthenticated", "Authentication required", detail, extra={"reason": reason},
        headers={"WWW-Authenticate": 'Bearer realm="govern"'},
        audit=Refusal(action=PrincipalAction.KEY_REJECT, reason=reason),
    )


def principal_enabled_clause():
    """SQL true while the principal `check_id` is enabled with the key hash `check_hash` (bound parameters): the
    condition of an audit INSERT that confirms a remembered principal."""
    return exists().where(
        Principal.id == bindparam("check_id", type_=Principal.id.type),
        Principal.key_hash == bindparam("check_hash", type_=Principal.key_hash.type),
        Principal.disabled_at.is_(None),
    )


# The condition of the audit INSERT that confirms a remembered principal, built once (its statement is compiled once).
_ENABLED_WITH_KEY = principal_enabled_clause()


def confirm_remembered(*, session: Session, principal_id: uuid.UUID | None) -> bool:
    """Is the principal this request took from memory still enabled with its key? Asked before answering a request
    whose audit events did not confirm it (it wrote none); a principal no longer enabled is forgotten by this process."""
    if audit.check_condition(session=session):
        return True
    _KNOWN.forget(principal_id)
    return False


def list_principals(*, session: Session, actor: Actor) -> list[Principal]:
    """Every principal; listing them is itself audited (it is the map of who can read what)."""
    audit.append(session=session, actor=actor, action=PrincipalAction.LIST, resource="principals")
    return list(session.scalars(select(Principal).order_by(Principal.created_at, Principal.name)))


def get_by_name_or_id(*, session: Session, ref: str) -> Principal:
    try:
        principal = session.get(Principal, uuid.UUID(ref))
    except ValueError:
        principal = session.scalar(select(Principal).where(Principal.name == ref))
    if principal is None:
        raise NotFound("principal")
    return principal


def disable(*, session: Session, actor: Actor, ref: str) -> Principal:
    """Disables a principal at once: its key stops working on the next request. Idempotent."""
    principal = get_by_name_or_id(session=session, ref=ref)
    _KNOWN.forget(principal.id)  # this process; the others learn it from the database at the principal's next request
    if principal.disabled_at is None:
        principal.disabled_at = utcnow()
        audit.append(session=session, actor=actor, action=PrincipalAction.DISABLE, resource=f"principal:{principal.id}")
    return principal
