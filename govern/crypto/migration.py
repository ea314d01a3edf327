"""`govern keys migrate-suite`: converts the data to the suite policies/crypto.yaml names (govern.crypto.suites).

Per subject, in one transaction: a new data key of the target suite, every value sealed under the old one opened and
sealed again under the new one (profile fields, records, request details, breach letters, a minor's guardian
details), the blind indexes recomputed from the plaintext, the wrapped key replaced. Subjects go in batches under the
rotation's locks (one rotation or migration at a time); webhook endpoints' keys and secrets follow, then a
verification pass, then the recorded suite is switched. Killed at any point, a rerun resumes: what is converted is
told by each ciphertext's format byte, never by a progress file.

From its start the migration is recorded in the database (key_checks, kind `suite`, `migrating`) and in the keyring
file, where a running service picks it up within its reload interval: it then makes new data keys in the target
suite and its look-ups match either suite's blind index, so the service keeps running throughout.

The sealed columns are named here by table: the migration is the one place that must know every value under a
subject's data key (tests/crypto/test_suite_migration.py fails on a sealed column it does not list).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import Table, func, literal_column, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import KeyAction
from govern.config import Settings
from govern.crypto import checks, recorded_suite, suites
from govern.crypto.envelope import CiphertextRejected, DataKey, Envelope
from govern.crypto.keyring import Keyring
from govern.crypto.models import KeyCheck, SubjectKey
from govern.crypto.recorded_suite import MIGRATED, MIGRATING, SUITE, SuiteRefused, SuiteState
from govern.crypto.service import RotationBusy, rotation_lock
from govern.crypto.suites import Suite
from govern.db import Base, Database
from govern.identity.actor import Actor
from govern.jobs import Progress, rate_since
from govern.timeutil import utcnow

# A normal form for a searchable field's plaintext (the field validators, govern/validators.py): (field, value) -> the text its
# blind index is computed over. Given by the command line, which may reach the subjects domain; crypto may not.
Normaliser = Callable[[str, str], str]

SETTLE_SECONDS = 2.5  # longer than a keyring's reload interval: by then every process writes under the target


@dataclass(frozen=True)
class Sealed:
    """A column holding values sealed under a subject's data key, and the slot each value's associated data names."""

    table: str
    column: str
    subject: str  # the column naming the subject
    slot: Callable[[Any], str]  # row -> slot


SEALED: tuple[Sealed, ...] = (
    Sealed("profile_fields", "ciphertext", "subject_id", lambda r: f"field:{r.name}"),
    Sealed("records", "ciphertext", "subject_id", lambda r: f"record:{r.id}"),
    Sealed("dsr_requests", "sealed_details", "subject_id", lambda r: f"request:{r.id}"),
    Sealed("breach_letters", "sealed_body", "subject_id", lambda r: f"breach-letter:{r.id}"),
    Sealed("breach_letters", "sealed_name", "subject_id", lambda r: f"breach-letter-name:{r.id}"),
    Sealed("consent_events", "guardian_sealed", "subject_id", lambda r: f"consent-guardian:{r.receipt_id}"),
)
ENDPOINTS = "webhook_endpoints"  # its own data key per endpoint: wrapped_key, sealed_secret, previous_sealed_secret


class MigrationRefused(Exception):
    """The migration cannot start: a rotation is unfinished, or another migration is under way to another suite."""


class MigrationIncomplete(Exception):
    """Something is left under the old suite after the batches: the migration stays under way; a rerun continues it."""


@dataclass(frozen=True)
class MigrationResult:
    suite: str
    source: str
    resumed: bool
    converted: int  # subjects converted by this run
    total: int  # subjects under another suite when this run started
    endpoints: int
    values: int  # sealed values re-sealed by this run
    already: bool = False  # nothing to do: the data was under the suite already


def migrate(
    *, database: Database, envelope: Envelope, settings: Settings, actor: Actor, normalise: Normaliser, batch_size: int = 200,
    on_progress: Callable[[Progress], None] | None = None, settle_seconds: float = SETTLE_SECONDS,
) -> MigrationResult:
    keyring = envelope.keyring
    target = suites.suite(recorded_suite.wanted(settings))
    with rotation_lock(database, keyring):
        keyring.reload_if_changed(every_seconds=0)
        if keyring.rotation is not None:
            raise MigrationRefused(f"a master-key rotation to v{keyring.rotation['target']} is unfinished: run `govern keys rotate` first")
        with database.unit_of_work() as session:
            current = recorded_suite.state(session) or SuiteState(suites.INTERNATIONAL, None, 0)
        if current.target is not None and current.target != target.name:
            raise MigrationRefused(f"a migration to {current.target} is under way but policies/crypto.yaml names {target.name}: name {current.target} and rerun to finish it")
        if current.target is None and current.in_force == target.name and not _left_behind(database, target):
            return MigrationResult(target.name, current.in_force, False, 0, 0, 0, 0, already=True)
        if isinstance(keyring, Keyring) and target.name == suites.COMMERCIAL_CN:
            keyring.add_sm4_keys()  # a format 1 keyring gains an SM4 key per master-key version (additive)
            with database.unit_of_work() as session:  # recorded before anything is wrapped under them
                checks.record_sm4_keys(session=session, keyring=keyring, how="migration")
        recorded_suite.refuse_unsupported(keyring, target.name)  # a PKCS#11 token: refused before anything is written
        source = current.in_force
        resumed = current.target is not None
        if not resumed:
            with database.unit_of_work() as session:
                session.add(KeyCheck(kind=SUITE, version=current.version + 1, check_value=target.name, recorded_how=MIGRATING))
                audit.append(session=session, actor=actor, action=KeyAction.SUITE_MIGRATE_BEGIN, resource=f"suite:{target.name}", reason=f"from={source}")
                if target.name == suites.COMMERCIAL_CN:  # the audit log's hashes turn to SM3 from the next sealed event on
                    recorded_suite.audit_log_to_sm3(session, "suite_migration", actor)
        _announce(keyring, {"from": source, "target": target.name, "started_at": utcnow().isoformat()})
        if not resumed and settle_seconds:
            time.sleep(settle_seconds)  # every process using this keyring now makes new data keys in the target suite
        total = _count_behind(database, target)
        done = values = 0
        started = time.monotonic()
        after: uuid.UUID | None = None
        while True:
            batch = _convert_batch(database, envelope, target, normalise, batch_size, after)
            if batch.last is None:
                break
            after = batch.last
            done += batch.subjects
            values += batch.values
            if on_progress and batch.subjects:
                on_progress(Progress(done, total, rate_since(started, done)))
        with database.unit_of_work() as session:
            endpoints = _convert_endpoints(session, envelope, target)
        _verify(database, envelope, target)
        with database.unit_of_work() as session:
            row = session.get(KeyCheck, (SUITE, current.version if resumed else current.version + 1))
            if row is not None:
                row.recorded_how = MIGRATED
            audit.append(session=session, actor=actor, action=KeyAction.SUITE_MIGRATE_FINISH, resource=f"suite:{target.name}",
                         reason=f"from={source} subjects={done} values={values} endpoints={endpoints}")
        _announce(keyring, None, suite=target.name)
        keyring.suite = target.name
        return MigrationResult(target.name, source, resumed, done, total, endpoints, values)


def _announce(keyring: Any, migration: dict[str, Any] | None, suite: str | None = None) -> None:
    """The migration (or its end) where every process using this keyring reloads it; in memory for this one."""
    if hasattr(keyring, "set_suite_state"):
        keyring.set_suite_state(suite=suite, migration=migration)
    else:
        keyring.suite_migration = migration


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _format_of(column: Any) -> Any:
    """The format byte of a stored ciphertext or wrapped key, in SQL (1 AES-256-GCM, 2 SM4-GCM)."""
    return func.substr(column, literal_column("1"), literal_column("1"))  # constants, not parameters: it is grouped by


def _left_behind(database: Database, target: Suite) -> bool:
    with database.unit_of_work() as session:
        if _count_behind_in(session, target):
            return True
        endpoints = _table(ENDPOINTS)
        return session.scalar(select(func.count()).select_from(endpoints).where(_format_of(endpoints.c.wrapped_key) != bytes([target.value_format]))) != 0


def _count_behind_in(session: Session, target: Suite) -> int:
    return session.scalar(select(func.count()).select_from(SubjectKey).where(_format_of(SubjectKey.wrapped_key) != bytes([target.value_format]))) or 0


def _count_behind(database: Database, target: Suite) -> int:
    with database.unit_of_work() as session:
        return _count_behind_in(session, target)


@dataclass(frozen=True)
class _Batch:
    last: uuid.UUID | None  # the last subject id looked at (the next batch starts after it); None: no more
    subjects: int
    values: int


def _convert_batch(database: Database, envelope: Envelope, target: Suite, normalise: Normaliser, size: int, after: uuid.UUID | None) -> _Batch:
    """One transaction: the next subjects still under another suite, each converted whole."""
    with database.unit_of_work() as session:
        query = select(SubjectKey).where(_format_of(SubjectKey.wrapped_key) != bytes([target.value_format]))
        if after is not None:
            query = query.where(SubjectKey.subject_id > after)
        query = query.order_by(SubjectKey.subject_id).limit(size)
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a subject being written now is left for the verification pass
        rows = session.scalars(query).all()
        values = sum(convert_subject(session, envelope, row, target, normalise) for row in rows)
        return _Batch(rows[-1].subject_id if rows else None, len(rows), values)


def convert_subject(session: Session, envelope: Envelope, key: SubjectKey, target: Suite, normalise: Normaliser) -> int:
    """A subject's data key replaced by one of `target`, with every value under it sealed again and its blind indexes
    recomputed; returns how many values were re-sealed."""
    sid = key.subject_id
    old = envelope.unwrap(sid, key.wrapped_key)
    new, wrapped, version = envelope.new_data_key(sid, target)
    count = 0
    for sealed in SEALED:
        table = _table(sealed.table)
        column = table.c[sealed.column]
        for row in session.execute(select(table).where(table.c[sealed.subject] == sid, column.is_not(None))).all():
            plain = Envelope.open(old, sid, sealed.slot(row), row._mapping[sealed.column])
            changes: dict[str, Any] = {sealed.column: Envelope.seal(new, sid, sealed.slot(row), plain)}
            if sealed.table == "profile_fields" and row.blind_index is not None:
                changes["blind_index"] = envelope.blind_index(row.name, normalise(row.name, plain.decode()), target)
            session.execute(table.update().where(*[c == row._mapping[c.name] for c in table.primary_key.columns]).values(**changes))
            count += 1
    envelope.cache.forget(key.wrapped_key)
    key.wrapped_key, key.master_key_version, key.rewrapped_at = wrapped, version, utcnow()
    session.flush()
    return count


def _convert_endpoints(session: Session, envelope: Envelope, target: Suite) -> int:
    """Webhook endpoints' data keys and signing secrets (a few rows: one transaction)."""
    table = _table(ENDPOINTS)
    rows = session.execute(select(table).where(_format_of(table.c.wrapped_key) != bytes([target.value_format]))).all()
    for row in rows:
        eid = row.id
        old = envelope.unwrap(eid, row.wrapped_key)
        new, wrapped, version = envelope.new_data_key(eid, target)
        slot = f"webhook-secret:{row.secret_generation}"
        changes: dict[str, Any] = {"wrapped_key": wrapped, "master_key_version": version,
                                   "sealed_secret": Envelope.seal(new, eid, slot, Envelope.open(old, eid, slot, row.sealed_secret))}
        if row.previous_sealed_secret is not None:
            previous = f"webhook-secret:{row.secret_generation - 1}"
            changes["previous_sealed_secret"] = Envelope.seal(new, eid, previous, Envelope.open(old, eid, previous, row.previous_sealed_secret))
        session.execute(table.update().where(table.c.id == eid).values(**changes))
        envelope.cache.forget(row.wrapped_key)
    return len(rows)


def _verify(database: Database, envelope: Envelope, target: Suite) -> None:
    """Nothing left under another suite, and every value of a sample of subjects opens under its new key."""
    if _left_behind(database, target):
        raise MigrationIncomplete(f"data keys remain under another suite than {target.name}: run `govern keys migrate-suite` again to continue")
    with database.unit_of_work() as session:
        for key in session.scalars(select(SubjectKey).order_by(func.random()).limit(20)):
            envelope.cache.forget(key.wrapped_key)
            dek = envelope.unwrap(key.subject_id, key.wrapped_key)
            if not isinstance(dek, DataKey) or dek.fmt != target.value_format:
                raise MigrationIncomplete(f"the data key of subject {key.subject_id} is not of {target.name}")
            for sealed in SEALED:
                table = _table(sealed.table)
                column = table.c[sealed.column]
                for row in session.execute(select(table).where(table.c[sealed.subject] == key.subject_id, column.is_not(None))).all():
                    try:
                        Envelope.open(dek, key.subject_id, sealed.slot(row), row._mapping[sealed.column])
                    except CiphertextRejected as exc:
                        raise MigrationIncomplete(str(exc)) from None


def status(*, database: Database) -> dict[str, Any]:
    """The suite recorded, a migration under way, and data keys per suite (by format byte)."""
    with database.unit_of_work() as session:
        state = recorded_suite.state(session)
        rows = session.execute(select(_format_of(SubjectKey.wrapped_key), func.count()).group_by(_format_of(SubjectKey.wrapped_key))).all()
    by_suite: dict[str, int] = {}
    for fmt, n in rows:
        suite = suites.of_format(bytes(fmt)[0]) if fmt else None
        by_suite[suite.name if suite else f"format {fmt!r}"] = int(n)
    return {"suite": state.in_force if state else None, "migrating_to": state.target if state else None, "data_keys_by_suite": by_suite}


__all__ = ["MigrationIncomplete", "MigrationRefused", "MigrationResult", "RotationBusy", "SuiteRefused", "migrate", "status"]
