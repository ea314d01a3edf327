"""Key-check values: govern stops, naming the problem, when its keyring is missing, lacks a version or is not the one
the data was written under, instead of carrying on with keys that open nothing (500s) and find nothing (look-ups that
miss, so CRMs create duplicates).

The database keeps, per master-key version and for the blind-index key, an HMAC-SHA256 of a fixed label under the
key (an AES-CMAC computed by the token, for master keys in a PKCS#11 token; either tells keys apart and reveals
nothing of them), and the key id of the audit signing key's public half. Start-up
(build_runtime: `govern serve`, every worker, every CLI command that uses keys) compares the keys at hand with them;
/readyz compares again on every probe. A database that has none yet (one created before this check existed) gets
them from the keyring present at its first start — trust on first use, tested against the data where there is any
(a data key of each version must unwrap) and audited.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit import signing
from govern.audit.tags import AuditAction, KeyAction
from govern.config import Settings
from govern.crypto import keyed, provider, recorded_suite, suites
from govern.crypto.envelope import DataKeyCache, Envelope
from govern.crypto.keyring import CHECK_LABEL as _LABEL
from govern.crypto.keyring import KeyringError, master_check
from govern.crypto.models import KeyCheck, SubjectKey
from govern.crypto.provider import MasterKeys
from govern.db import Database
from govern.identity.actor import Actor
from govern.logging import get_logger

log = get_logger("govern.crypto.checks")

MASTER, INDEX, AUDIT_SIGNING = "master", "index", "audit_signing"
MASTER_SM4 = "master_sm4"  # the SM4 key of a master-key version (keyring format 2): the commercial_cn suite wraps with it
__all__ = ["master_check"]  # the file keyring's check value, kept importable from here

# What went wrong, as a stable code (readiness, logs, tests) beside the sentence for the operator.
MISSING_KEYRING = "missing_keyring"
VERSION_MISSING = "version_missing"
VERSION_MISMATCH = "version_mismatch"
INDEX_KEY_CHANGED = "index_key_changed"
AUDIT_KEY_MISSING = "audit_key_missing"
AUDIT_KEY_CHANGED = "audit_key_changed"

_RESTORE = "restore the keyring (and the audit signing key) that belongs to this database from your backup; govern never replaces them"


class KeyMismatch(KeyringError):
    """The keys at hand are not the ones the database's data was written under."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(f"{detail}: {_RESTORE}")
        self.problem = problem
        self.detail = detail


def index_check(key: bytes) -> str:
    return hmac.new(key, _LABEL + b"\x00index", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeysAtHand:
    """What a keyring (and the audit signing key) offers, as check values."""

    masters: dict[int, str]
    index: str
    audit_key_id: str | None
    sm4: dict[int, str] = field(default_factory=dict)  # per version that has an SM4 key (file keyring, format 2)

    @classmethod
    def of(cls, keyring: MasterKeys, audit_key_id: str | None) -> "KeysAtHand":
        sm4_check = getattr(keyring, "sm4_check_value", None)  # only the file keyring holds SM4 keys
        sm4 = {v: c for v in keyring.versions if sm4_check and (c := sm4_check(v))}
        return cls({v: keyring.check_value(v) for v in keyring.versions}, index_check(keyring.index_key), audit_key_id, sm4)


def audit_key_id(settings: Settings) -> str | None:
    """The key id of the audit signing key configured, or None when none exists yet (it is made at first use)."""
    if not settings.audit_signing_key and not settings.audit_key_path.exists():
        return None
    try:
        return signing.load(settings, create=False).key_id
    except signing.SigningKeyError as exc:  # too widely readable, or not a key: the operator's sentence, not a traceback
        raise KeyringError(str(exc)) from None


def recorded(session: Session) -> dict[tuple[str, int], str]:
    return {(r.kind, r.version): r.check_value for r in session.scalars(select(KeyCheck))}


def compare(rows: dict[tuple[str, int], str], keys: KeysAtHand, *, audit: bool = True) -> None:
    """Every recorded value must be matched by the keys at hand; versions the database has not seen are not a problem
    (a restore of an older database under a newer keyring)."""
    problems: list[tuple[str, str]] = []
    for (kind, version), value in sorted(rows.items()):
        if kind == MASTER_SM4:
            if version not in keys.sm4:
                problems.append((VERSION_MISSING, f"the SM4 key of master key version {version} is missing from the keyring"))
            elif not hmac.compare_digest(keys.sm4[version], value):
                problems.append((VERSION_MISMATCH, f"the SM4 key of master key version {version} does not match the one this database was written under"))
            continue
        if kind != MASTER:
            continue
        if version not in keys.masters:
            problems.append((VERSION_MISSING, f"master key version {version} is missing from the keyring"))
        elif not hmac.compare_digest(keys.masters[version], value):
            problems.append((VERSION_MISMATCH, f"master key version {version} does not match the one this database was written under"))
    index = rows.get((INDEX, 1))
    if index is not None and not hmac.compare_digest(index, keys.index):
        problems.append((INDEX_KEY_CHANGED, "the blind-index key changed (look-ups would find nothing)"))
    signing = [v for (kind, _), v in sorted(rows.items()) if kind == AUDIT_SIGNING] if audit else []
    if signing and keys.audit_key_id is None:
        problems.append((AUDIT_KEY_MISSING, f"the audit signing key {signing[-1]} is missing"))
    elif signing and keys.audit_key_id != signing[-1]:
        problems.append((AUDIT_KEY_CHANGED, f"the audit signing key is {keys.audit_key_id}, not {signing[-1]} (a key file is rotated with `govern audit keys rotate`; a key changed in GOVERN_AUDIT_SIGNING_KEY on purpose is accepted with `govern keys accept-audit-key --reason …`)"))
    if problems:
        raise KeyMismatch(problems[0][0], "; ".join(detail for _, detail in problems))


def verify(*, session: Session, keyring: MasterKeys, settings: Settings) -> None:
    """Readiness: the keyring on disk and the audit signing key still match what the database recorded."""
    rows = recorded(session)
    if isinstance(keyring.accept, _Guard):
        keyring.accept.rows = rows
    keyring.reload_if_changed(every_seconds=0)
    compare(rows, KeysAtHand.of(keyring, audit_key_id(settings)))


def holds_keyed_data(session: Session, *, sealed_only: bool = False) -> bool:
    """Whether the database holds anything written under a keyring (so a new keyring would orphan it); `sealed_only`:
    values or keys, not counting recorded key-check values. What the domains keep under the keyring they register
    (govern/crypto/keyed.py: the subjects, the webhook endpoints' secrets)."""
    probes: list[Select[Any]] = [select(SubjectKey.subject_id), *(k.probe for k in keyed.registered())]
    if not sealed_only:
        probes.insert(0, select(KeyCheck.kind))
    return any(session.scalar(probe.limit(1)) is not None for probe in probes)


def _ensure_suite(*, database: Database, keyring: MasterKeys, settings: Settings, migrating: bool = False) -> None:
    """The suite of policies/crypto.yaml against the one recorded (govern.crypto.recorded_suite)."""
    with database.unit_of_work() as session:
        holds = holds_keyed_data(session, sealed_only=True)
    recorded_suite.ensure(database=database, keyring=keyring, settings=settings, holds_data=holds, migrating=migrating)


def missing_keyring(*, database: Database, keyring_path: Path | str) -> KeyMismatch:
    """The refusal for a database whose keyring is gone."""
    with database.unit_of_work() as session:
        versions = sorted(v for (kind, v) in recorded(session) if kind == MASTER)
    held = f" (master key versions {', '.join(map(str, versions))})" if versions else ""
    return KeyMismatch(MISSING_KEYRING, f"no keyring at {keyring_path}, but the database holds data encrypted under one{held}")


def ensure(*, database: Database, keyring: MasterKeys, settings: Settings, how: str = "first_use") -> list[str]:
    """Start-up: refuses keys that do not match what is recorded; records what is not recorded yet (audited).
    Returns what it recorded, e.g. ["master:1", "index:1"]."""
    keys = KeysAtHand.of(keyring, audit_key_id(settings))
    for attempt in range(2):  # two workers starting at once on a new database: the loser compares again
        try:
            with database.unit_of_work() as session:
                rows = recorded(session)
                compare(rows, keys)
                added = _record_missing(session=session, database=database, keyring=keyring, keys=keys, rows=rows, how=how)
            return added
        except IntegrityError:
            if attempt:
                raise
    return []


def _record_missing(*, session: Session, database: Database, keyring: MasterKeys, keys: KeysAtHand, rows: dict[tuple[str, int], str], how: str) -> list[str]:
    new_versions = [v for v in keys.masters if (MASTER, v) not in rows]
    if how == "first_use" and not rows and not holds_keyed_data(session):
        how = "created"  # nothing encrypted yet: nothing is taken on trust
    if new_versions and how == "first_use":
        _test_against_data(session=session, database=database, keyring=keyring, versions=new_versions)
    added = []
    for version in new_versions:
        session.add(KeyCheck(kind=MASTER, version=version, check_value=keys.masters[version], recorded_how=how))
        added.append(f"{MASTER}:{version}")
    for version in [v for v in keys.sm4 if (MASTER_SM4, v) not in rows]:
        session.add(KeyCheck(kind=MASTER_SM4, version=version, check_value=keys.sm4[version], recorded_how=how))
        added.append(f"{MASTER_SM4}:{version}")
    if (INDEX, 1) not in rows:
        session.add(KeyCheck(kind=INDEX, version=1, check_value=keys.index, recorded_how=how))
        added.append(f"{INDEX}:1")
    audit_rows = sorted(v for (kind, v) in rows if kind == AUDIT_SIGNING)
    if keys.audit_key_id is not None and not audit_rows:
        session.add(KeyCheck(kind=AUDIT_SIGNING, version=1, check_value=keys.audit_key_id, recorded_how=how))
        added.append(f"{AUDIT_SIGNING}:1")
    if added:
        session.flush()  # a concurrent starter's rows surface here as IntegrityError, before the audit event
        audit.append(session=session, actor=Actor.operator(), action=KeyAction.CHECK_RECORD, resource=",".join(added), reason=how)
        if how == "first_use":  # the one moment govern takes keys on trust over existing data: say so loudly
            log.warning("key_check_values_recorded", recorded=added, how=how)
    return added


def _test_against_data(*, session: Session, database: Database, keyring: MasterKeys, versions: list[int]) -> None:
    """Trust on first use, but not blindly: data keys under a version the keyring lacks, or one of each version that
    does not unwrap, mean this keyring is not the data's."""
    low, high = session.execute(select(func.min(SubjectKey.master_key_version), func.max(SubjectKey.master_key_version))).one()
    for version in (low, high):
        if version is not None and version not in keyring.versions:
            raise KeyMismatch(VERSION_MISSING, f"data keys are wrapped under master key version {version}, which the keyring lacks")
    probe = Envelope(keyring, DataKeyCache(max_entries=0, max_age_seconds=0))  # caches nothing: each unwrap is a test
    for version in versions:
        row = session.execute(select(SubjectKey.subject_id, SubjectKey.wrapped_key).where(SubjectKey.master_key_version == version).limit(1)).first()
        if row is None:
            continue
        try:
            probe.unwrap(row.subject_id, row.wrapped_key)
        except Exception:
            raise KeyMismatch(VERSION_MISMATCH, f"master key version {version} does not unwrap this database's data keys") from None


def record_master_version(*, session: Session, keyring: MasterKeys, version: int, how: str = "rotation") -> None:
    """A rotation's new version, in the transaction that records the rotation's start."""
    if session.get(KeyCheck, (MASTER, version)) is None:
        session.add(KeyCheck(kind=MASTER, version=version, check_value=keyring.check_value(version), recorded_how=how))
    record_sm4_keys(session=session, keyring=keyring, how=how)


def record_sm4_keys(*, session: Session, keyring: MasterKeys, how: str = "rotation") -> None:
    """The SM4 keys of the master-key versions (a rotation's, or those a format 1 keyring was given), before anything is
    wrapped under them."""
    sm4_check = getattr(keyring, "sm4_check_value", None)
    for version in keyring.versions:
        value = sm4_check(version) if sm4_check else None
        if value and session.get(KeyCheck, (MASTER_SM4, version)) is None:
            session.add(KeyCheck(kind=MASTER_SM4, version=version, check_value=value, recorded_how=how))


def record_audit_key(*, session: Session, key_id: str, how: str = "rotation") -> None:
    """A new audit signing key becomes the one expected, in the transaction that records its rotation."""
    latest = session.scalars(select(KeyCheck).where(KeyCheck.kind == AUDIT_SIGNING).order_by(KeyCheck.version.desc()).limit(1)).first()
    if latest is None or latest.check_value != key_id:
        version = latest.version + 1 if latest else 1
        session.add(KeyCheck(kind=AUDIT_SIGNING, version=version, check_value=key_id, recorded_how=how))


def load_checked_keyring(*, settings: Settings, database: Database, migrating: bool = False) -> MasterKeys:
    """The master keys (file keyring or token), checked against the database: start-up of the app, each worker and
    each CLI command. `migrating`: `govern keys migrate-suite`, for which a policy naming another suite than the
    data's is the target, not a mismatch."""
    keyring: MasterKeys | None = None
    try:
        try:
            keyring = provider.load(settings)
        except KeyringError:
            where = provider.state_path(settings)
            if not where.exists() and _has_table(database) and _holds_keyed_data(database):
                raise missing_keyring(database=database, keyring_path=where) from None
            raise
        if _has_table(database):  # a database not yet migrated has nothing to compare with; `govern init` migrates first
            ensure(database=database, keyring=keyring, settings=settings)
            _ensure_suite(database=database, keyring=keyring, settings=settings, migrating=migrating)
            with database.unit_of_work() as session:
                keyring.accept = _Guard(recorded(session))
    except BaseException:
        database.dispose()  # the refusal leaves no connection (and no token session) behind
        if keyring is not None:
            keyring.close()
        raise
    return keyring


class _Guard:
    """A keyring file changed under a running process (a rotation, or a swap) is adopted only if it still matches
    the values recorded. It compares with the values as last read (at start, then at each readiness probe) rather
    than asking the database: the reload happens inside a request's transaction, and a recorded value never changes."""

    def __init__(self, rows: dict[tuple[str, int], str]) -> None:
        self.rows = rows

    def __call__(self, candidate: MasterKeys) -> None:
        compare(self.rows, KeysAtHand.of(candidate, None), audit=False)


def _has_table(database: Database) -> bool:
    return inspect(database.engine).has_table(KeyCheck.__tablename__)


def _holds_keyed_data(database: Database) -> bool:
    with database.unit_of_work() as session:
        return holds_keyed_data(session)


def init_keyring(*, settings: Settings, database: Database) -> tuple[MasterKeys, bool]:
    """`govern init`: new master keys only for a database that holds nothing encrypted (else: restore the keyring)."""
    where = provider.state_path(settings)
    if where.exists():
        return load_checked_keyring(settings=settings, database=database), False
    if _holds_keyed_data(database):
        raise missing_keyring(database=database, keyring_path=where)
    if provider.uses_token(settings) and recorded_suite.wanted(settings) != suites.INTERNATIONAL:
        # Refused before a key is generated in the token: nothing is made that the service would not start with.
        raise recorded_suite.SuiteRefused(recorded_suite.SUITE_UNSUPPORTED, "the commercial_cn suite cannot be used with the PKCS#11 provider: it wraps data keys with AES-GCM inside the token only (SoftHSM2 has no SM4; an HSM's SM4 is a vendor-defined mechanism govern has not been tested against)")
    keyring = provider.create(settings)
    ensure(database=database, keyring=keyring, settings=settings, how="created")
    try:
        _ensure_suite(database=database, keyring=keyring, settings=settings)
    except BaseException:
        keyring.close()
        raise
    return keyring, True


def accept_audit_key(*, settings: Settings, reason: str) -> str:
    """The one way to change the audit signing key that comes from GOVERN_AUDIT_SIGNING_KEY (a file key is rotated by
    `govern audit keys rotate`): the master keys must still match; the variable's key becomes the one expected, is
    published in keys.json and the change is audited with the operator's reason."""
    if not settings.audit_signing_key:
        raise KeyMismatch(AUDIT_KEY_CHANGED, "GOVERN_AUDIT_SIGNING_KEY is not set: rotate a key file with `govern audit keys rotate`")
    key = signing.load(settings, create=False)
    database = Database(settings.database_url)
    try:
        keyring = provider.load(settings)
        try:
            with database.unit_of_work() as session:
                compare(recorded(session), KeysAtHand.of(keyring, None), audit=False)
                record_audit_key(session=session, key_id=key.key_id, how="accepted")
                audit.append(session=session, actor=Actor.operator(), action=AuditAction.SIGNING_KEY_ROTATE, resource=f"audit-key:{key.key_id}", reason=reason)
        finally:
            keyring.close()
        signing.publish(settings, key)
    finally:
        database.dispose()
    return key.key_id
