"""Erasure by crypto-shredding: destroying a subject's data key makes every copy of its values unreadable at once,
backups included; the rows are then deleted. A tombstone (subject id, time, reason, request reference — no personal
data) is kept in the database and in an append-only file outside it, so that a database restored from an older
backup re-applies every erasure before it serves (`govern tombstones reapply`, run by `govern serve` at start).

Shared by data-subject requests (erasure, account closure) and retention purges.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

from sqlalchemy import DateTime, String, Uuid, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from govern.audit import service as audit
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.db import Base
from govern.identity.actor import Actor
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import utcnow


class Tombstone(Base):
    __tablename__ = "tombstones"

    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    reason: Mapped[str] = mapped_column(String(64), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(100))


class ErasureAction:
    SHRED = "subjects:profile:shred"
    FIELDS_ERASE = "subjects:profile:erase-fields"
    RECORDS_ERASE = "subjects:record:erase"
    REAPPLY = "subjects:tombstone:reapply"


@dataclass(frozen=True)
class ShredResult:
    subject_id: uuid.UUID
    already_erased: bool


def tombstone_log(home: Path) -> Path:
    return home / "tombstones.jsonl"


def shred(
    *, session: Session, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, reason: str, reference: str | None = None,
    tombstone_file: Path | None = None,
) -> ShredResult:
    """Destroys the subject's data key, deletes its fields, records and row, and keeps a tombstone. Idempotent."""
    if session.get(Tombstone, subject_id) is not None and session.get(Subject, subject_id) is None:
        return ShredResult(subject_id, already_erased=True)
    key = session.get(SubjectKey, subject_id)
    if key is not None:
        envelope.cache.forget(key.wrapped_key)
    # The key goes first: from this statement on, nothing of the subject can be decrypted, whatever else remains.
    session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))
    session.execute(delete(ProfileField).where(ProfileField.subject_id == subject_id))
    session.execute(delete(Record).where(Record.subject_id == subject_id))
    session.execute(delete(Subject).where(Subject.id == subject_id))
    erased_at = utcnow()
    if session.get(Tombstone, subject_id) is None:
        session.add(Tombstone(subject_id=subject_id, erased_at=erased_at, reason=reason, reference=reference))
    audit.record(session=session, actor=actor, action=ErasureAction.SHRED, subject_id=subject_id, reason=reason, resource=reference)
    session.flush()
    if tombstone_file is not None:
        _append_tombstone(tombstone_file, subject_id, erased_at, reason, reference)
    return ShredResult(subject_id, already_erased=False)


def erase_fields(*, session: Session, actor: Actor, subject_id: uuid.UUID, names: Iterable[str], reason: str, reference: str | None = None) -> list[str]:
    """Deletes some fields of a subject (the rest stays readable); returns the names actually erased."""
    names = sorted(set(names))
    rows = session.scalars(select(ProfileField).where(ProfileField.subject_id == subject_id, ProfileField.name.in_(names))).all()
    for row in rows:
        session.delete(row)
    erased = sorted(r.name for r in rows)
    if erased:
        audit.record(session=session, actor=actor, action=ErasureAction.FIELDS_ERASE, subject_id=subject_id, field_names=erased, reason=reason, resource=reference)
    return erased


def erase_records(*, session: Session, actor: Actor, subject_id: uuid.UUID, record_ids: Iterable[uuid.UUID], reason: str, reference: str | None = None) -> int:
    ids = list(record_ids)
    if not ids:
        return 0
    types = sorted(set(session.scalars(select(Record.type).where(Record.subject_id == subject_id, Record.id.in_(ids)))))
    result = session.execute(delete(Record).where(Record.subject_id == subject_id, Record.id.in_(ids)))
    if result.rowcount:
        audit.record(session=session, actor=actor, action=ErasureAction.RECORDS_ERASE, subject_id=subject_id, field_names=[f"record:{t}" for t in types], reason=reason, resource=reference)
    return result.rowcount or 0


def is_erased(*, session: Session, subject_id: uuid.UUID) -> bool:
    return session.get(Tombstone, subject_id) is not None


def _append_tombstone(path: Path, subject_id: uuid.UUID, erased_at: datetime, reason: str, reference: str | None) -> None:
    """Appended and fsynced outside the database, so a restore of an older database cannot forget an erasure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"subject_id": str(subject_id), "erased_at": erased_at.isoformat(), "reason": reason, "reference": reference})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_tombstone_file(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out


def reapply(*, session: Session, envelope: Envelope, actor: Actor, tombstone_file: Path) -> int:
    """Shreds again every subject the tombstone file says was erased but the database still holds (a restore
    from an older backup), and puts back tombstones the restored database lost. Returns the subjects shredded."""
    shredded = 0
    for entry in read_tombstone_file(tombstone_file):
        sid = uuid.UUID(entry["subject_id"])
        resurrected = session.get(Subject, sid) is not None or session.get(SubjectKey, sid) is not None
        if resurrected or session.get(Tombstone, sid) is None:
            shred(session=session, envelope=envelope, actor=actor, subject_id=sid, reason=entry["reason"], reference=entry.get("reference"))
            shredded += int(resurrected)
    if shredded:
        audit.record(session=session, actor=actor, action=ErasureAction.REAPPLY, reason=f"reapplied={shredded}")
    return shredded
