"""The sealer: links committed audit events into the hash chain in batches, off the request path.

append() only inserts a row, so audited requests never queue on a chain head. The sealer takes the unsealed
events in id order under a lock (pg_advisory_xact_lock on PostgreSQL; SQLite's write lock, taken by BEGIN
IMMEDIATE, elsewhere), so two sealers never fork the chain. The chain order is seal order: an event whose
transaction commits after a higher id was sealed simply gets a later seq.

Hashes are SHA-256 until the sealer links the switch event (`audit:log:hash-algorithm`, resource `sm3`, appended when
the commercial_cn suite is first recorded or migrated to): from that event's seq on, leaves and links are SM3 (see
audit/verify.py). Each link says which by itself (its hash recomputes under one of the two), so the sealer goes on in
the head's algorithm and `sm3_from` finds the switch by bisection, without a table of its own.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from govern.audit import service
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent, AuditSealRun
from govern.audit.tags import AuditAction
from govern.audit.verifier import GENESIS, HASH_SWITCH_ACTION, NEVER, chain_hash, is_switch_event, leaf_hash, sm3_available
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


def _is_sm3(seq: int, prev_hex: str, leaf_hex: str, hash_hex: str) -> bool:
    """Is this stored link SM3? (Its hash recomputes under SHA-256 or SM3; one that recomputes under neither, an edited
    row, counts as SHA-256: the sealer then goes on as before and `govern audit verify` names the row.)"""
    try:
        prev, leaf = binascii.unhexlify(prev_hex), binascii.unhexlify(leaf_hex)
    except (binascii.Error, ValueError):
        return False
    if chain_hash(prev, seq, leaf).hex() == hash_hex:
        return False
    if not sm3_available():
        raise RuntimeError(f"the audit chain's link at seq {seq} is not SHA-256 and this Python's OpenSSL has no SM3 to go on with it")
    return chain_hash(prev, seq, leaf, True).hex() == hash_hex


def _link_at_or_after(session: Session, seq: int) -> tuple[int, str, str, str] | None:
    row = session.execute(
        select(AuditChainEntry.seq, AuditChainEntry.prev_hash, AuditChainEntry.leaf, AuditChainEntry.hash)
        .where(AuditChainEntry.seq >= seq).order_by(AuditChainEntry.seq).limit(1)
    ).first()
    return (row[0], row[1], row[2], row[3]) if row else None


def sm3_from(session: Session, upto: int | None = None) -> int:
    """The seq from which the chain (up to seq `upto`, else its head) is SM3, NEVER if it is SHA-256 throughout: by
    bisection over the links (a few dozen rows read whatever the log's size)."""
    top = head(session)[0] if upto is None else upto
    if top < 1:
        return NEVER
    last = session.execute(
        select(AuditChainEntry.seq, AuditChainEntry.prev_hash, AuditChainEntry.leaf, AuditChainEntry.hash)
        .where(AuditChainEntry.seq <= top).order_by(AuditChainEntry.seq.desc()).limit(1)
    ).first()
    if last is None or not _is_sm3(*last):
        return NEVER
    lo, hi = 1, last[0]  # the smallest x whose first link at or after it is SM3 lies in [lo, hi] (gaps allowed)
    while lo < hi:
        mid = (lo + hi) // 2
        row = _link_at_or_after(session, mid)
        if row is not None and _is_sm3(*row):
            hi = mid
        else:
            lo = mid + 1
    found = _link_at_or_after(session, lo)
    return found[0] if found is not None else NEVER


def _switch_waiting(session: Session) -> bool:
    newest = session.scalar(select(func.max(AuditChainEntry.event_id))) or 0
    return session.scalar(select(AuditEvent.id).where(AuditEvent.id > newest, AuditEvent.action == HASH_SWITCH_ACTION).limit(1)) is not None


def files_in_sm3(session: Session) -> bool:
    """Whether the digests govern states of the files it writes of this log (an export's events file in its signed
    manifest, an archive's manifest in its purge statement) are SM3: once the log is SM3 or its switch waits to be
    sealed — the commercial_cn suite is, or was, in force (the log never turns back) — else SHA-256."""
    return sm3_from(session) < NEVER or _switch_waiting(session)


def switch_to_sm3(session: Session, actor: service.Actor, why: str) -> bool:
    """Appends the switch event (the commercial_cn suite is in force or being migrated to), unless the chain is SM3
    already or a switch event waits to be sealed: the sealer hashes it and every later event with SM3. True if appended."""
    if sm3_from(session) < NEVER or _switch_waiting(session):
        return False
    service.append(session=session, actor=actor, action=AuditAction.HASH_SWITCH, resource="sm3", reason=why)
    return True


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
    use_sm3 = False
    if seq:
        top = _link_at_or_after(session, seq)
        use_sm3 = top is not None and _is_sm3(*top)
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
        data = canonical.encode("utf-8")
        if not use_sm3 and HASH_SWITCH_ACTION in canonical and is_switch_event(data):
            use_sm3 = True  # this event and every one after it: SM3
        leaf = leaf_hash(data, use_sm3)
        digest = chain_hash(prev, seq, leaf, use_sm3)
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
