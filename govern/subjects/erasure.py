"""Erasure by crypto-shredding: destroying a subject's data key makes every copy of its values unreadable at once,
backups included; the rows are then deleted. A tombstone (subject id, time, reason, request reference — no personal
data) is kept in the database and in the tombstones ledger outside it (govern/ledgers.py: its line counts exactly
when the shredding commits), so that a database restored from an older backup re-applies every erasure before it
serves (`govern tombstones reapply`, run by `govern serve` at start: govern/retention/shredding.py's `reapply`).

Unreadability does not wait on the size of the subject: `shred` destroys the key, deletes the fields (and with them
the blind indexes) and writes the tombstone in a fixed number of statements. A subject with few records loses them
and its row in the same transaction; one with more than a batch keeps its row, marked `erased`, until `sweep`
(`govern requests sweep-erasures`, cron) has deleted its records in batches — ciphertext nobody can open any more.

Data-subject requests (erasure, account closure) and retention purges shred through govern/retention/shredding.py,
the flow above subjects and consent that also forgets the subject's objections in the same transaction.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import DateTime, SmallInteger, String, Uuid, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from govern.audit import service as audit
from govern.audit.tags import ErasureAction
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.db import Base
from govern.errors import Unavailable
from govern.identity.actor import Actor
from govern.ledgers import Ledger, LedgerMissing
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import as_utc, utcnow


class Tombstone(Base):
    __tablename__ = "tombstones"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(100))
    # The destroyed data key's format byte (govern/crypto/suites.py: 1 AES-256-GCM, 2 SM4-GCM), so a certificate made
    # later still names the algorithm of the key this erasure destroyed; null on a tombstone kept before it was recorded.
    key_format: Mapped[int | None] = mapped_column(SmallInteger)


# A subject whose records and row are still being deleted after its key was destroyed (see `sweep`).
ERASED = "erased"
# Records deleted in the shredding's own transaction; a subject with more is left to `sweep`.
INLINE_RECORDS = 1000


@dataclass(frozen=True)
class ShredResult:
    subject_id: uuid.UUID
    already_erased: bool
    # Records deleted with the key, by type; None when there were more than a batch and `sweep` deletes them.
    records_deleted: dict[str, int] | None = None
    rows_pending: bool = False


def shred(
    *, session: Session, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, reason: str, reference: str | None = None,
    ledger: Ledger | None = None, inline_records: int | None = None, key_format: int | None = None,
) -> ShredResult:
    """Destroys the subject's data key, deletes its fields (blind indexes included) and keeps a tombstone, in a fixed
    number of statements whatever the subject holds; its records and row go in the same transaction when there are at
    most `inline_records` (default INLINE_RECORDS), otherwise `sweep` deletes them in batches. Idempotent. With
    `ledger` (the tombstones ledger) the tombstone also goes there, counting when this transaction commits; a missing
    ledger refuses the shredding (503 ledger_missing). The tombstone records the destroyed key's format; `key_format`
    names it when the key is gone already (a restore re-applying the ledger's line). The subject's objections are consent's: callers shred through
    govern/retention/shredding.py, which forgets them in the same transaction."""
    inline_records = INLINE_RECORDS if inline_records is None else inline_records
    # FOR UPDATE (PostgreSQL): a change to the subject in progress (a status, a rectification) finishes first, and this
    # reads the row as it stands instead of failing on its version when it marks it erased.
    subject = session.get(Subject, subject_id, with_for_update=True, populate_existing=True)
    key = session.get(SubjectKey, subject_id)
    if session.get(Tombstone, subject_id) is not None and key is None and (subject is None or subject.status == ERASED):
        return ShredResult(subject_id, already_erased=True, rows_pending=subject is not None)
    if key is not None:
        envelope.cache.forget(key.wrapped_key)
        key_format = key.wrapped_key[0]
    # The key goes first: from this statement on, nothing of the subject can be decrypted, whatever else remains.
    session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
    session.execute(delete(ProfileField).where(ProfileField.subject_id == subject_id))
    found = session.execute(select(Record.id, Record.type).where(Record.subject_id == subject_id).limit(inline_records + 1)).all()
    deleted: dict[str, int] | None = None
    if len(found) <= inline_records:
        deleted = {}
        for _, rtype in found:
            deleted[rtype] = deleted.get(rtype, 0) + 1
        session.execute(delete(Record).where(Record.subject_id == subject_id))
        session.execute(delete(Subject).where(Subject.id == subject_id))
    elif subject is not None:
        # Unreadable already; the rows are left to `sweep`. The CRM's reference goes now, so it can be used again.
        subject.status, subject.external_ref, subject.updated_at = ERASED, None, utcnow()
    erased_at = utcnow()
    if session.get(Tombstone, subject_id) is None:
        session.add(Tombstone(subject_id=subject_id, erased_at=erased_at, reason=reason, reference=reference, key_format=key_format))
    audit.append(session=session, actor=actor, action=ErasureAction.SHRED, subject_id=subject_id, reason=reason, resource=reference)
    session.flush()
    if ledger is not None:
        try:
            ledger.stage(session, {"subject_id": str(subject_id), "erased_at": erased_at.isoformat(), "reason": reason, "reference": reference,
                                   "key_format": key_format})
        except LedgerMissing as exc:
            raise ledger_missing(exc.ledger) from None
    return ShredResult(subject_id, already_erased=False, records_deleted=deleted, rows_pending=deleted is None)


def fields_held(*, session: Session, subject_id: uuid.UUID) -> list[tuple[str, datetime]]:
    """The subject's field names with when each value was collected (no value)."""
    return [(n, as_utc(c)) for n, c in session.execute(select(ProfileField.name, ProfileField.collected_at).where(ProfileField.subject_id == subject_id))]


def newest_records(*, session: Session, subject_id: uuid.UUID, types: Iterable[str]) -> dict[str, datetime]:
    """For each of `types` the subject holds records of, the newest occurred_at: one round trip, one index probe per
    type (ix_records_subject_type), however many records the subject has."""
    types = sorted(set(types))
    if not types:
        return {}
    probes = [
        select(func.max(Record.occurred_at)).where(Record.subject_id == subject_id, Record.type == t).scalar_subquery().label(f"t{i}")
        for i, t in enumerate(types)
    ]
    row = session.execute(select(*probes)).one()
    return {t: as_utc(row[i]) for i, t in enumerate(types) if row[i] is not None}


@dataclass(frozen=True)
class SweepResult:
    subjects: int
    records: int
    seconds: float


def pending_records(*, session: Session) -> int:
    """Records of shredded subjects that `sweep` has still to delete."""
    return session.scalar(
        select(func.count()).select_from(Record).join(Subject, Subject.id == Record.subject_id).where(Subject.status == ERASED)
    ) or 0


def sweep(
    *, database, actor: Actor, batch_size: int = 5000, progress: Callable[[int, int, float], None] | None = None,
) -> SweepResult:
    """Deletes the records, then the row, of every subject shredded with more records than one batch, one committed
    batch at a time (each audited as `subjects:record:erase` with the tombstone's reason and reference). Resumable and
    idempotent; on PostgreSQL two sweeps at once share the work (`SKIP LOCKED`), on SQLite they take turns."""

    started = time.monotonic()
    with database.unit_of_work() as session:
        total = pending_records(session=session)
    done = subjects_done = 0
    skip_locked = database.dialect == "postgresql"
    while True:
        with database.unit_of_work() as session:
            pick = select(Subject.id).where(Subject.status == ERASED).order_by(Subject.id).limit(1)
            sid = session.scalar(pick.with_for_update(skip_locked=True) if skip_locked else pick)
            if sid is None:
                break
            stone = session.get(Tombstone, sid)
            reason, reference = (stone.reason, stone.reference) if stone else ("erasure", None)
            # One statement per batch: no ids travel to the client and back.
            types = session.execute(
                delete(Record).where(Record.id.in_(select(Record.id).where(Record.subject_id == sid).limit(batch_size))).returning(Record.type)
                .execution_options(synchronize_session=False)
            ).scalars().all()
            if types:
                done += len(types)
                audit.append(
                    session=session, actor=actor, action=ErasureAction.RECORDS_ERASE, subject_id=sid, field_names=[f"record:{t}" for t in sorted(set(types))],
                    reason=reason, resource=reference,
                )
            if len(types) < batch_size:
                session.execute(delete(Subject).where(Subject.id == sid, Subject.status == ERASED))
                subjects_done += 1
        if progress:
            progress(done, max(total, done), done / max(time.monotonic() - started, 1e-6))
    return SweepResult(subjects=subjects_done, records=done, seconds=time.monotonic() - started)


def erase_fields(*, session: Session, actor: Actor, subject_id: uuid.UUID, names: Iterable[str], reason: str, reference: str | None = None) -> list[str]:
    """Deletes some fields of a subject (the rest stays readable); returns the names actually erased."""
    names = sorted(set(names))
    rows = session.scalars(select(ProfileField).where(ProfileField.subject_id == subject_id, ProfileField.name.in_(names))).all()
    for row in rows:
        session.delete(row)
    erased = sorted(r.name for r in rows)
    if erased:
        audit.append(session=session, actor=actor, action=ErasureAction.FIELDS_ERASE, subject_id=subject_id, field_names=erased, reason=reason, resource=reference)
    return erased


def erase_records(*, session: Session, actor: Actor, subject_id: uuid.UUID, record_ids: Iterable[uuid.UUID], reason: str, reference: str | None = None) -> int:
    ids = list(record_ids)
    if not ids:
        return 0
    types = sorted(set(session.scalars(select(Record.type).where(Record.subject_id == subject_id, Record.id.in_(ids)))))
    result = session.execute(delete(Record).where(Record.subject_id == subject_id, Record.id.in_(ids)))
    if result.rowcount:
        audit.append(session=session, actor=actor, action=ErasureAction.RECORDS_ERASE, subject_id=subject_id, field_names=[f"record:{t}" for t in types], reason=reason, resource=reference)
    return result.rowcount or 0


def is_erased(*, session: Session, subject_id: uuid.UUID) -> bool:
    return session.get(Tombstone, subject_id) is not None


def ledger_missing(ledger: Ledger) -> Unavailable:
    """An erasure or purge refused because its ledger file is gone. `govern init` creates the ledgers; an append never
    does, or a deleted ledger would come back half-empty and look whole to `govern restore`."""
    return Unavailable(
        "ledger_missing", "Erasure ledger missing",
        f"{ledger.path.name} is missing from GOVERN_HOME, so nothing is erased or purged (a restore could bring it back). Put the "
        f'file back; if it is truly lost, `govern retention restart-ledger --ledger {ledger.name} --reason "<why>"` '
        "starts a new one (audited).",
    )


def tombstones(ledger: Ledger) -> list[dict[str, Any]]:
    """The tombstones a restore re-applies: every one whose shredding committed, or may have (see govern/ledgers.py)."""
    return [e for e in ledger.to_apply() if "subject_id" in e]


def settle_tombstones(*, session: Session, ledger: Ledger) -> dict[str, int]:
    """The recovery rule for a shredding killed between its ledger line and the end of its transaction: committed when
    this database holds its tombstone. Only against the database the shredding ran on (serve's start, before a restore
    replaces it)."""
    return ledger.settle_unsettled(lambda entry: "subject_id" in entry and session.get(Tombstone, uuid.UUID(entry["subject_id"])) is not None)

