"""Staff accounts for the console: Argon2id passwords, sign-in with a lockout after repeated failures, browser
sessions (only a hash of the cookie's token is stored) with a per-session CSRF token, and display preferences.

A lockout is per (account, address): a guesser who knows a user name locks out only the address it guesses from,
and the account locks for everyone only at a much higher ceiling of failures from all addresses together. Both
counters are counted before the password is checked, each by one UPDATE … SET n = n + 1 … RETURNING committed at
once (no row stays locked while Argon2 runs): concurrent guesses cannot read the same count, and no more passwords
are checked than the policy allows, however many arrive at once.

Every sign-in, failure, lockout and sign-out is an audit event. Figures (failures before a lockout, its length, the
account-wide ceiling, session lifetimes, password length) come from policies/console.yaml.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.service import Outcome
from govern.audit.tags import StaffAction
from govern.errors import Conflict, NotFound, validation_failed
from govern.identity import service
from govern.identity.actor import Actor
from govern.identity.models import ConsoleSession, Principal, SignInFailure
from govern.identity.service import get_by_name_or_id
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow

# The session's last-seen time is written at most this often: it decides idle expiry, not an activity log.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in. `token` goes into the cookie (shown once); the database keeps only its hash."""

    ok: bool
    reason: str | None = None  # bad_credentials | locked | not_staff | disabled
    principal: Principal | None = None
    token: str | None = None
    csrf_token: str | None = None


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    # argon2-cffi's defaults are RFC 9106's second recommended option (Argon2id, 64 MiB, t=3, p=4).
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # An unknown user name costs the same Argon2 verification as a known one: timing tells no names apart.
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def staff_roles(policy: Policy) -> list[str]:
    return sorted(name for name, role in policy.roles.items() if role.kind in ("staff", "any"))


def _check_password(policy: Policy, name: str, password: str) -> None:
    minimum = policy.console.password_min_length
    problems = []
    if len(password or "") < minimum:
        problems.append(f"at least {minimum} characters (policies/console.yaml passwords.min_length)")
    if password and name and name.lower() in password.lower():
        problems.append("must not contain the user name")
    if password and len(password) > 1024:
        problems.append("at most 1024 characters")
    if problems:
        raise validation_failed({"password": problems})


def _actor_of(principal: Principal, *, request_id: str | None, client_addr: str | None) -> Actor:
    return Actor(
        name=principal.name, kind=principal.kind, roles=tuple(principal.roles), principal_id=principal.id,
        request_id=request_id or uuid.uuid4().hex, client_addr=client_addr,
    )


# --- accounts -------------------------------------------------------------------------------------------------------


def create(*, session: Session, policy: Policy, actor: Actor, name: str, roles: list[str], password: str) -> Principal:
    """A staff principal (no API key) holding staff roles, with an Argon2id password hash; audited."""
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,99}", name or ""):
        errors["name"] = ["2–100 characters: lower-case letters, digits, '.', '_' or '-'"]
    allowed = staff_roles(policy)
    unknown = sorted(set(roles) - set(allowed))
    if not roles or unknown:
        errors["roles"] = [f"not a staff role: {', '.join(unknown)} (staff roles: {', '.join(allowed)})" if unknown else "at least one role"]
    if errors:
        raise validation_failed(errors)
    _check_password(policy, name, password)
    if session.scalar(select(Principal.id).where(Principal.name == name)) is not None:
        raise Conflict("principal_exists", "Principal exists", f"A principal named '{name}' already exists.")
    principal = Principal(name=name, kind="staff", roles=sorted(set(roles)), password_hash=hash_password(password), failed_sign_ins=0)
    session.add(principal)
    session.flush()  # the id goes into the audit event
    audit.append(session=session, actor=actor, action=StaffAction.CREATE, resource=f"principal:{principal.id}", reason=",".join(principal.roles))
    return principal


def _staff(session: Session, ref: str) -> Principal:
    principal = get_by_name_or_id(session=session, ref=ref)
    if principal.kind != "staff":
        raise Conflict("not_staff", "Not a staff account", "This principal is a service, not a staff account.")
    return principal


def set_password(*, session: Session, policy: Policy, actor: Actor, ref: str, password: str) -> Principal:
    """Replaces a staff member's password, ends their sessions and clears a lockout; audited."""
    principal = _staff(session, ref)
    _check_password(policy, principal.name, password)
    principal.password_hash = hash_password(password)
    _clear_failures(session, principal.id)
    principal.failed_sign_ins, principal.locked_until = 0, None
    _end_sessions(session, principal.id)
    audit.append(session=session, actor=actor, action=StaffAction.PASSWORD_SET, resource=f"principal:{principal.id}")
    return principal


def unlock(*, session: Session, actor: Actor, ref: str) -> Principal:
    """Clears a lockout before it runs out, the account's and every address's (after the person was reached by
    another channel); audited."""
    principal = _staff(session, ref)
    _clear_failures(session, principal.id)
    principal.failed_sign_ins, principal.locked_until = 0, None
    audit.append(session=session, actor=actor, action=StaffAction.UNLOCK, resource=f"principal:{principal.id}")
    return principal


def disable(*, session: Session, actor: Actor, ref: str) -> Principal:
    """Disables a staff account at once: its sessions end and it cannot sign in (audited by identity.service)."""
    principal = _staff(session, ref)
    service.disable(session=session, actor=actor, ref=str(principal.id))
    _end_sessions(session, principal.id)
    return principal


def list_staff(*, session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).where(Principal.kind == "staff").order_by(Principal.name)))


def lock_state(*, session: Session, principal: Principal, now: datetime | None = None) -> str:
    """"locked" (the account, for everyone), "locked from N address(es)" (guessers' addresses only) or "active"."""
    now = now or utcnow()
    if principal.locked_until is not None and as_utc(principal.locked_until) > now:
        return "locked"
    addresses = session.scalar(
        select(func.count()).select_from(SignInFailure).where(SignInFailure.principal_id == principal.id, SignInFailure.locked_until > now)
    )
    return f"locked from {addresses} address{'es' if addresses != 1 else ''}" if addresses else "active"


def _clear_failures(session: Session, principal_id: uuid.UUID) -> None:
    # Before the principal's own row: sign_in takes the address row first too, so the two never wait on each other.
    session.execute(delete(SignInFailure).where(SignInFailure.principal_id == principal_id))


def _end_sessions(session: Session, principal_id: uuid.UUID) -> None:
    now = utcnow()
    for row in session.scalars(select(ConsoleSession).where(ConsoleSession.principal_id == principal_id, ConsoleSession.ended_at.is_(None))):
        row.ended_at = now


# --- signing in and out ---------------------------------------------------------------------------------------------


def address_key(client_addr: str | None) -> str:
    """Where a sign-in comes from, as counted: an IPv4 address, the /64 of an IPv6 address (one subscriber holds a whole
    /64, so counting single IPv6 addresses would give a guesser 2^64 fresh starts), or the text given ("cli")."""
    text = (client_addr or "").strip() or "unknown"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def sign_in(
    *, session: Session, policy: Policy, name: str, password: str, request_id: str | None = None, client_addr: str | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Checks a user name and password. The attempt is counted before the password is checked, for the address and for
    the account (the caller must commit, even on failure); an address with the configured number of consecutive
    failures is locked out of this account for the configured minutes, and the account locks for everyone at the
    account-wide ceiling; each lockout is audited. While locked, even the right password is refused. Success resets
    the account's count and this address's, and opens a session."""
    now = now or utcnow()
    rules = policy.console
    principal = session.scalar(select(Principal).where(Principal.name == (name or "").strip().lower())) if name else None
    if principal is None or principal.kind != "staff" or principal.password_hash is None:
        _hasher_verify(_dummy_hash(), password or "")
        # The attempted name is not recorded: people type passwords into the name field.
        anonymous = Actor(name="anonymous", kind="anonymous", request_id=request_id or uuid.uuid4().hex, client_addr=client_addr)
        audit.append(session=session, actor=anonymous, action=StaffAction.SIGN_IN, outcome=Outcome.DENIED, reason="unknown_account")
        return SignIn(False, "bad_credentials")
    actor = _actor_of(principal, request_id=request_id, client_addr=client_addr)
    resource = f"principal:{principal.id}"
    if principal.disabled_at is not None:
        _hasher_verify(_dummy_hash(), password or "")
        audit.append(session=session, actor=actor, action=StaffAction.SIGN_IN, outcome=Outcome.DENIED, resource=resource, reason="disabled")
        return SignIn(False, "disabled")
    if principal.locked_until is not None and as_utc(principal.locked_until) > now:
        return _locked(session, actor, resource, password, "account_locked")
    address = address_key(client_addr)
    # Counted and committed before the password is checked: parallel guesses each get their own number, and no more
    # passwords are checked than the policy allows. The attempt that reaches a limit sets the lock as it counts; if
    # its password is right after all, success lifts the lock again.
    from_here = _own_transaction(session, lambda s: _count_address_attempt(
        s, principal.id, address, now, limit=rules.max_failures, until=now + timedelta(minutes=rules.lockout_minutes)))
    if from_here is None:
        return _locked(session, actor, resource, password, "locked")
    overall = _own_transaction(session, lambda s: _count_account_attempt(
        s, principal.id, now, limit=rules.account_max_failures, until=now + timedelta(minutes=rules.account_lockout_minutes)))
    session.expire(principal, ["failed_sign_ins", "locked_until"])
    if overall is None:
        return _locked(session, actor, resource, password, "account_locked")
    if not _hasher_verify(principal.password_hash, password or ""):
        audit.append(
            session=session, actor=actor, action=StaffAction.SIGN_IN, outcome=Outcome.DENIED, resource=resource,
            reason=f"bad_password:{from_here}/{rules.max_failures}",
        )
        locked = False
        if from_here >= rules.max_failures:
            # The address is in the event's client address; nothing of what was typed is recorded.
            audit.append(session=session, actor=actor, action=StaffAction.LOCKOUT, resource=resource,
                         reason=f"address: {rules.max_failures} failures; {rules.lockout_minutes} min")
            locked = True
        if overall >= rules.account_max_failures:
            _end_sessions(session, principal.id)
            audit.append(session=session, actor=actor, action=StaffAction.LOCKOUT, resource=resource,
                         reason=f"account: {rules.account_max_failures} failures from all addresses; {rules.account_lockout_minutes} min")
            locked = True
        return SignIn(False, "locked" if locked else "bad_credentials")
    if _hasher().check_needs_rehash(principal.password_hash):
        principal.password_hash = hash_password(password)
    session.execute(delete(SignInFailure).where(SignInFailure.principal_id == principal.id, SignInFailure.client_addr == address))
    session.execute(
        update(Principal).where(Principal.id == principal.id).values(failed_sign_ins=0, locked_until=None, last_sign_in_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(principal, ["failed_sign_ins", "locked_until", "last_sign_in_at"])
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(ConsoleSession(token_hash=_token_hash(token), principal_id=principal.id, csrf_token=csrf, created_at=now, last_seen_at=now, client_addr=client_addr))
    audit.append(session=session, actor=actor, action=StaffAction.SIGN_IN, resource=resource)
    return SignIn(True, None, principal, token, csrf)


def _locked(session: Session, actor: Actor, resource: str, password: str, reason: str) -> SignIn:
    # As slow as a checked password: a refusal that came back at once would tell a guesser that this user name exists
    # (an unknown name is never locked, and costs an Argon2 check).
    _hasher_verify(_dummy_hash(), password or "")
    audit.append(session=session, actor=actor, action=StaffAction.SIGN_IN, outcome=Outcome.DENIED, resource=resource, reason=reason)
    return SignIn(False, "locked")


def _own_transaction(session: Session, count):
    """Runs a count in its own short transaction, committed at once, so that no row stays locked while Argon2 runs (on
    PostgreSQL a sign-in would otherwise hold its account's rows for the whole check, queueing the others into lock
    timeouts). SQLite has one writer at a time and the request's transaction already holds it: the count runs there."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or not hasattr(bind, "connect"):
        return count(session)
    with Session(bind=bind) as own:
        counted = count(own)
        own.commit()
    return counted


def _count_address_attempt(session: Session, principal_id: uuid.UUID, address: str, now: datetime, *, limit: int, until: datetime) -> int | None:
    """This attempt's number among the consecutive ones from this address, or None while the address is locked out.
    The attempt that reaches the limit locks the address; a lockout that has run out starts the count again."""
    if session.get_bind().dialect.name == "postgresql":
        insert = postgresql_insert
    else:
        insert = sqlite_insert
    session.execute(insert(SignInFailure).values(principal_id=principal_id, client_addr=address, failures=0).on_conflict_do_nothing())
    row = SignInFailure.__table__.c
    counted = case((row.locked_until.is_(None), row.failures + 1), else_=1)
    return session.execute(
        update(SignInFailure.__table__)
        .where(row.principal_id == principal_id, row.client_addr == address, (row.locked_until.is_(None)) | (row.locked_until <= now))
        .values(failures=counted, locked_until=case((counted >= limit, until), else_=None))
        .returning(row.failures)
    ).scalar_one_or_none()


def _count_account_attempt(session: Session, principal_id: uuid.UUID, now: datetime, *, limit: int, until: datetime) -> int | None:
    """This attempt's number among the account's consecutive ones from every address, or None while it is locked; the
    attempt that reaches the ceiling locks the account for everyone."""
    row = Principal.__table__.c
    counted = case((row.locked_until.is_(None), row.failed_sign_ins + 1), else_=1)
    return session.execute(
        update(Principal.__table__)
        .where(row.id == principal_id, (row.locked_until.is_(None)) | (row.locked_until <= now))
        .values(failed_sign_ins=counted, locked_until=case((counted >= limit, until), else_=None))
        .returning(row.failed_sign_ins)
    ).scalar_one_or_none()


def _hasher_verify(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def authenticate_session(*, session: Session, policy: Policy, token: str, now: datetime | None = None) -> tuple[Principal, ConsoleSession] | None:
    """The staff principal of a live console session, or None (unknown, ended, idle or too old, account disabled)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = session.get(ConsoleSession, _token_hash(token))
    if row is None or row.ended_at is not None:
        return None
    principal = session.get(Principal, row.principal_id)
    rules = policy.console
    expired = (
        now - as_utc(row.last_seen_at) > timedelta(minutes=rules.idle_minutes)
        or now - as_utc(row.created_at) > timedelta(hours=rules.absolute_hours)
    )
    if principal is None or principal.disabled_at is not None or principal.kind != "staff" or expired:
        row.ended_at = now
        return None
    if now - as_utc(row.last_seen_at) > LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
    return principal, row


def csrf_matches(console_session: ConsoleSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(console_session.csrf_token.encode(), str(sent).encode())


def sign_out(*, session: Session, actor: Actor, console_session: ConsoleSession) -> None:
    if console_session.ended_at is None:
        console_session.ended_at = utcnow()
        audit.append(session=session, actor=actor, action=StaffAction.SIGN_OUT, resource=f"principal:{console_session.principal_id}")


# --- preferences ----------------------------------------------------------------------------------------------------


def valid_time_zone(name: str | None) -> bool:
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def set_preferences(*, session: Session, principal_id: uuid.UUID, language: str | None = None, time_zone: str | None = None) -> Principal:
    """Remembers a staff member's console language and time zone (not personal data of any subject: not audited)."""
    errors: dict[str, list[str]] = {}
    if language is not None and language not in LANGUAGES:
        errors["language"] = ["zh or en"]
    if time_zone is not None and not valid_time_zone(time_zone):
        errors["time_zone"] = ["an IANA time zone name, e.g. Asia/Shanghai"]
    if errors:
        raise validation_failed(errors)
    principal = session.get(Principal, principal_id)
    if principal is None:
        raise NotFound("principal")
    if language is not None:
        principal.language = language
    if time_zone is not None:
        principal.time_zone = time_zone
    return principal
