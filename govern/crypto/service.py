"""Master-key rotation: a new KEK version, then a resumable, batched rewrap of every subject's data key.

Only the wrapped data keys change (one row per subject); values stay as they are. Old versions keep decrypting
until the rewrap has finished and been verified. Interrupted at any point, a rerun picks up where it stopped;
two runs at once are refused.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import KeyAction
from govern.config import Settings
from govern.crypto import checks, keyed, recorded_suite
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.crypto.provider import MasterKeys, uses_token
from govern.db import Database
from govern.identity.actor import Actor
from govern.jobs import Progress, database_lock, host_lock, rate_since
from govern.timeutil import utcnow

ROTATION_LOCK_ID = 7265110002
FILE_PROVIDER, TOKEN_PROVIDER = "file", "pkcs11"  # MasterKeys.kind of the two providers (govern/crypto/provider.py)


class RotationBusy(Exception):
    """Another rotation holds the lock."""


class RotationIncomplete(Exception):
    """Rows remain on an old master key after the rewrap: the rotation stays open and a rerun continues it."""


@dataclass(frozen=True)
class RotationResult:
    version: int
    resumed: bool
    rewrapped: int  # subjects' data keys rewrapped by this run: what the progress line counted, out of `total`
    total: int  # data keys still on an older version when this run started
    endpoint_keys: int = 0  # the keys the domains wrap themselves (govern/crypto/keyed.py: webhook endpoints'), rewrapped after the data keys


@contextmanager
def rotation_lock(database: Database, keyring: MasterKeys) -> Iterator[None]:
    """A file lock beside the keyring (this host) and, on PostgreSQL, an advisory lock (every host)."""
    with host_lock(keyring.path.with_suffix(".rotation.lock"), lambda: RotationBusy("another key rotation is running on this host")):
        if database.dialect != "postgresql":
            yield
            return
        with database_lock(database, ROTATION_LOCK_ID, lambda: RotationBusy("another key rotation is running against this database")):
            yield


def rotate(
    *, database: Database, envelope: Envelope, actor: Actor, batch_size: int = 500, pause_seconds: float = 0.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> RotationResult:
    """Starts a rotation, or resumes the unfinished one, and rewraps until no data key is left on an old version."""
    keyring = envelope.keyring
    with rotation_lock(database, keyring):
        keyring.reload_if_changed(every_seconds=0)
        rotation = keyring.rotation
        resumed = rotation is not None
        if rotation is not None:
            target: int = rotation["target"]
            with database.unit_of_work() as session:  # a run killed before it recorded the new version's check value
                checks.record_master_version(session=session, keyring=keyring, version=target)
        else:
            target = keyring.begin_rotation()
            with database.unit_of_work() as session:
                checks.record_master_version(session=session, keyring=keyring, version=target)
                audit.append(session=session, actor=actor, action=KeyAction.ROTATE_BEGIN, resource=f"master_key:{target}")
        total = _count_behind(database, target)
        done, started = 0, time.monotonic()
        while True:
            moved = _rewrap_batch(database, envelope, target, batch_size)
            if moved == 0:
                break
            done += moved
            if on_progress:
                on_progress(Progress(done, total, rate_since(started, done)))
            if pause_seconds:
                time.sleep(pause_seconds)
        with database.unit_of_work() as session:  # the other keys under the master key: a few, in one transaction
            endpoint_keys = sum(k.rewrap(session, envelope, target) for k in keyed.registered() if k.rewrap is not None)
        _verify(database, envelope, target)
        keyring.finish_rotation(rewrapped=done + endpoint_keys)
        with database.unit_of_work() as session:
            audit.append(session=session, actor=actor, action=KeyAction.ROTATE_FINISH, resource=f"master_key:{target}",
                         reason=f"rewrapped={done} endpoint_keys={endpoint_keys}")
        return RotationResult(version=target, resumed=resumed, rewrapped=done, total=total, endpoint_keys=endpoint_keys)


def _count_behind(database: Database, target: int) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(SubjectKey).where(SubjectKey.master_key_version != target)) or 0


def _rewrap_batch(database: Database, envelope: Envelope, target: int, batch_size: int) -> int:
    """One transaction: a batch of keys still on an old version, rewrapped and committed together."""
    with database.unit_of_work() as session:
        query = select(SubjectKey).where(SubjectKey.master_key_version != target).order_by(SubjectKey.subject_id).limit(batch_size)
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.scalars(query).all()
        now = utcnow()
        for row in rows:
            row.wrapped_key = envelope.rewrap(row.subject_id, row.wrapped_key, target)
            row.master_key_version = target
            row.rewrapped_at = now
        return len(rows)


def _verify(database: Database, envelope: Envelope, target: int) -> None:
    """Nothing left behind, and a sample of keys unwraps under the new version."""
    if _count_behind(database, target):
        raise RotationIncomplete("data keys remain on an old master key; run `govern keys rotate` again to continue")
    with database.unit_of_work() as session:
        for row in session.scalars(select(SubjectKey).order_by(func.random()).limit(20)):
            envelope.cache.forget(row.wrapped_key)
            envelope.unwrap(row.subject_id, row.wrapped_key)


def status(*, database: Database, keyring: MasterKeys) -> dict[str, Any]:
    with database.unit_of_work() as session:
        rows = session.execute(select(SubjectKey.master_key_version, func.count()).group_by(SubjectKey.master_key_version)).all()
    return {**keyring.describe(), "data_keys_by_version": {int(v): int(n) for v, n in rows}}


def data_keys_behind(*, session: Session, active_version: int) -> int:
    """Data keys still wrapped under a master key other than the active one: a rotation's remaining work (a count)."""
    return session.scalar(select(func.count()).select_from(SubjectKey).where(SubjectKey.master_key_version != active_version)) or 0


def key_provider(settings: Settings) -> str:
    """Where this process's master keys live, from GOVERN_KEK as the provider was chosen at start-up: `file` (the
    keyring file in GOVERN_HOME) or `pkcs11` (a PKCS#11 token, an HSM). The records of processing state it among the
    security measures (govern/processing/measures.py)."""
    return TOKEN_PROVIDER if uses_token(settings) else FILE_PROVIDER


def suite_converted_from(*, session: Session, target: str) -> str | None:
    """The suite data is still partly under while `govern keys migrate-suite` converts it to `target`; None when no
    such migration is under way (the records of processing say so while it runs)."""
    state = recorded_suite.state(session)
    if state is None or state.target != target or state.in_force == target:
        return None
    return state.in_force
