"""The sealer: links committed audit events into the hash chain in batches, off the request path.

append() only inserts a row, so audited requests never queue on a chain head. The sealer takes the unsealed
events in id order under a lock (pg_advisory_xact_lock on PostgreSQL; SQLite's write lock, taken by BEGIN
IMMEDIATE, elsewhere), so two sealers never fork the chain. The chain order is seal order: an event whose
transaction commits after a higher id was sealed simply gets a later seq.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent, AuditSealRun
from govern.audit.verifier import GENESIS, chain_hash, leaf_hash
from govern.db import Database
from govern.timeutil import as_utc, utcnow

SEAL_LOCK = 7265110003  # pg_advisory_xact_lock key: one sealer at a time


@dataclass
class SealResult:
    sealed: int
    head_seq: int
    head_hash: str


def lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})


def head(session: Session) -> tuple[int, str]:
    row = session.execute(select(AuditChainEntry.seq, AuditChainEntry.hash).order_by(AuditChainEntry.seq.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (0, GENESIS.hex())


def sealing_floor(session: Session, window_seconds: int, full: bool = False) -> int:
    """Ids at or below this were inserted before a sealer run older than the window: all sealed, or the
    transaction hiding them has run longer than the window (a full sweep or `verify` finds those)."""
    if full:
        return 0
    cutoff = utcnow() - timedelta(seconds=window_seconds)
    value = session.scalar(select(AuditSealRun.max_event_id).where(AuditSealRun.ran_at < cutoff).order_by(AuditSealRun.ran_at.desc()).limit(1))
    # A seal run is not hashed: capped at the newest sealed event, a forged run can never make the sealer skip new
    # events, at most older stragglers, which /readyz and `govern audit verify` report as unsealed.
    newest_sealed = session.scalar(select(func.max(AuditChainEntry.event_id))) or 0
    return min(value or 0, newest_sealed)


def seal_batch(session: Session, *, batch_size: int, floor: int, after: int) -> tuple[int, int]:
    """Seals up to batch_size unsealed events with id > max(floor, after); returns (sealed, last id seen)."""
    lock(session)
    seq, prev_hex = head(session)
    sealed_ids = select(AuditChainEntry.event_id).where(AuditChainEntry.event_id == AuditEvent.id).exists()
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.canonical)
        .where(AuditEvent.id > max(floor, after), ~sealed_ids)
        .order_by(AuditEvent.id)
        .limit(batch_size)
    ).all()
    if not rows:
        return 0, after
    prev = binascii.unhexlify(prev_hex)
    now = utcnow()
    links = []
    for event_id, canonical in rows:
        seq += 1
        leaf = leaf_hash(canonical.encode("utf-8"))
        digest = chain_hash(prev, seq, leaf)
        links.append({"seq": seq, "event_id": event_id, "leaf": leaf.hex(), "prev_hash": prev.hex(), "hash": digest.hex(), "sealed_at": now})
        prev = digest
    session.execute(cast(Table, AuditChainEntry.__table__).insert(), links)
    return len(rows), rows[-1][0]


def seal(*, database: Database, batch_size: int = 5000, window_seconds: int = 900, full: bool = False, max_batches: int | None = None) -> SealResult:
    """Seals every committed, unsealed event, one transaction per batch; safe to run on many hosts at once."""
    total, after, batches = 0, 0, 0
    with database.unit_of_work() as session:
        floor = sealing_floor(session, window_seconds, full)
        max_seen = session.scalar(select(func.max(AuditEvent.id))) or 0
    while max_batches is None or batches < max_batches:
        with database.unit_of_work() as session:
            sealed, after = seal_batch(session, batch_size=batch_size, floor=floor, after=after)
        total += sealed
        batches += 1
        if sealed < batch_size:
            break
    with database.unit_of_work() as session:
        session.add(AuditSealRun(ran_at=utcnow(), max_event_id=max_seen, sealed=total))
        seq, hash_ = head(session)
    return SealResult(sealed=total, head_seq=seq, head_hash=hash_)


def unsealed_count(session: Session) -> int:
    """Events newer than the newest sealed one (cheap: an index range); late commits below it are not counted."""
    newest = session.scalar(select(func.max(AuditChainEntry.event_id))) or 0
    return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.id > newest)) or 0


def unsealed_before_floor(session: Session, window_seconds: int) -> list[int]:
    """Events the windowed sealer will no longer pick up (their transaction outlived the window): first 20 ids."""
    floor = sealing_floor(session, window_seconds)
    sealed_ids = select(AuditChainEntry.event_id).where(AuditChainEntry.event_id == AuditEvent.id).exists()
    return list(session.scalars(select(AuditEvent.id).where(AuditEvent.id <= floor, ~sealed_ids).order_by(AuditEvent.id).limit(20)))


def backlog(session: Session, now: datetime) -> dict[str, Any]:
    """Unsealed events (newer than the newest sealed one), the age in seconds of the oldest of them (0 when none) and
    when the newest checkpoint was issued (None before the first): for /metrics and the alerts. Counts and times only."""
    newest = session.scalar(select(func.max(AuditChainEntry.event_id))) or 0
    count, oldest = session.execute(select(func.count(), func.min(AuditEvent.occurred_at)).where(AuditEvent.id > newest)).one()
    last = session.scalar(select(func.max(AuditCheckpoint.issued_at)))
    age = max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest is not None else 0.0
    return {"unsealed": int(count or 0), "oldest_age_seconds": age, "last_checkpoint_at": as_utc(last) if last else None}
