"""Checks the live log the way an auditor checks an export (the same verifier code, fed from the database), the
cheap status /readyz shows, and the retention purge that keeps the chain verifiable from its boundary checkpoint."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from govern.audit import chain, checkpoints, signing
from govern.audit.export import chain_rows, purged_through
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent, AuditPurge
from govern.audit.verifier import GENESIS, Finding, Report, check_checkpoints, leaf_hash, walk
from govern.config import Settings
from govern.db import Database
from govern.identity.actor import Actor
from govern.logging import get_logger
from govern.timeutil import utcnow

log = get_logger("govern.audit")


def _entries(session: Session, first: int, last: int):
    for seq, event_id, prev, hash_, leaf, text_ in chain_rows(session, first, last):
        if text_ is None:
            yield (seq, event_id, binascii.unhexlify(prev), binascii.unhexlify(hash_), binascii.unhexlify(leaf), False, None)
        else:
            yield (seq, event_id, binascii.unhexlify(prev), binascii.unhexlify(hash_), leaf_hash(text_.encode("utf-8")), True, None)


def verify_live(*, database: Database, settings: Settings) -> Report:
    """Walks the whole stored chain against the checkpoints in the folder (trusted, with keys.json) and in the DB."""
    report = Report()
    held = checkpoints.read_folder(settings)
    keys = signing.published_keys(settings)
    if not keys:
        report.notes.append(f"no keys.json in {settings.audit_checkpoint_dir}: no checkpoint can be checked")
    with database.unit_of_work() as session:
        stored = [checkpoints.as_line(cp) for cp in checkpoints.list_checkpoints(session)]
        good = check_checkpoints([*held, *stored], {k["key_id"]: k for k in keys}, report)
        boundary = purged_through(session)
        last_seq = chain.head(session)[0]
        anchor_seq, anchor_hash = 0, GENESIS
        if boundary:
            anchor_seq = boundary
        walk(
            _entries(session, 1 if not boundary else boundary + 1, last_seq), report=report, anchor_seq=anchor_seq,
            anchor_hash=_anchor(session, boundary) if boundary else anchor_hash, checkpoints=good, expected_last=None,
            open_end=True, made_at=None, full_tree=not boundary, purged_through=boundary,
        )
        late = chain.unsealed_before_floor(session, settings.audit_seal_window_seconds)
        if late:
            report.add(Finding("unsealed", f"events {late[:5]} were never sealed and the sealer no longer looks that far back: run `govern audit seal --full`"))
    if not report.ok:
        for finding in report.findings:
            log.error("audit_log_does_not_verify", kind=finding.kind, seq=finding.seq, event_id=finding.event_id, checkpoint=finding.checkpoint)
    return report


def _anchor(session: Session, boundary: int) -> bytes:
    value = session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == boundary))
    return binascii.unhexlify(value) if value else GENESIS


@dataclass
class ChainStatus:
    ok: bool
    head_seq: int
    unsealed: int
    checkpoint: int | None
    problem: str | None = None

    def as_dict(self) -> dict:
        out = {"ok": self.ok, "head_seq": self.head_seq, "unsealed": self.unsealed, "checkpoint": self.checkpoint}
        if self.problem:
            out["problem"] = self.problem
        return out


def status(*, database: Database, settings: Settings) -> ChainStatus:
    """Cheap, for /readyz: the head links to its predecessor, and it is consistent with the newest checkpoint kept
    outside the database (a cut-back tail or a rewritten head shows at once). `govern audit verify` checks it all."""
    with database.engine.connect() as conn:
        session = Session(bind=conn)
        head_seq, head_hash = chain.head(session)
        unsealed = chain.unsealed_count(session)
        problem = None
        last_two = session.execute(select(AuditChainEntry).order_by(AuditChainEntry.seq.desc()).limit(2)).scalars().all()
        if last_two:
            top = last_two[0]
            if len(last_two) == 2 and top.prev_hash != last_two[1].hash:
                problem = f"seq {top.seq} does not link to seq {last_two[1].seq}"
            event = session.get(AuditEvent, top.event_id)
            if event is not None and leaf_hash(event.canonical.encode("utf-8")).hex() != top.leaf:
                problem = f"the event at seq {top.seq} does not match its leaf hash"
        held = checkpoints.read_folder(settings)
        newest = held[-1]["body"] if held else None
        if newest is None:
            cp = checkpoints.latest(session)
            newest = {"number": cp.number, "tree_size": cp.tree_size, "head_hash": cp.head_hash} if cp else None
        if newest is not None:
            if newest["tree_size"] > head_seq:
                problem = f"checkpoint #{newest['number']} covers {newest['tree_size']} events but the chain ends at seq {head_seq}"
            elif newest["tree_size"] > 0:
                at = session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == newest["tree_size"]))
                if at != newest["head_hash"] and newest["tree_size"] > purged_through(session):
                    problem = f"the chain at seq {newest['tree_size']} differs from checkpoint #{newest['number']}"
        session.close()
    if problem:
        log.error("audit_chain_broken", problem=problem)
    return ChainStatus(ok=problem is None, head_seq=head_seq, unsealed=unsealed, checkpoint=newest["number"] if newest else None, problem=problem)


# --- retention ----------------------------------------------------------------------------------------------------


MINIMUM_MONTHS = 6  # Cybersecurity Law Art. 21: network logs kept no less than six months


@dataclass
class PurgeResult:
    through_seq: int
    checkpoint: int | None
    events: int
    dry_run: bool


def purge(*, database: Database, actor: Actor, keep_days: int, dry_run: bool = True) -> PurgeResult:
    """Deletes event rows up to the newest checkpoint issued before the retention cut-off. Chain links stay, so the
    log verifies from that checkpoint's signed head on; the purge is itself recorded (and audited)."""
    from govern.audit import service

    if keep_days < MINIMUM_MONTHS * 30 + 3:  # 183 days covers any six calendar months
        raise ValueError(f"audit events are kept at least six months (Cybersecurity Law Art. 21); {keep_days} days is less")
    cutoff = utcnow() - timedelta(days=keep_days)
    with database.unit_of_work() as session:
        chain.lock(session)
        boundary = session.scalars(
            select(AuditCheckpoint).where(AuditCheckpoint.issued_at < cutoff).order_by(AuditCheckpoint.number.desc()).limit(1)
        ).first()
        done = purged_through(session)
        if boundary is None or boundary.tree_size <= done:
            return PurgeResult(through_seq=done, checkpoint=None, events=0, dry_run=dry_run)
        ids = select(AuditChainEntry.event_id).where(AuditChainEntry.seq > done, AuditChainEntry.seq <= boundary.tree_size)
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.id.in_(ids))) or 0
        if dry_run:
            return PurgeResult(through_seq=boundary.tree_size, checkpoint=boundary.number, events=count, dry_run=True)
        if session.get_bind().dialect.name == "postgresql":
            # The append-only trigger lets a DELETE through only with this flag, and only for sealed events older
            # than six months, whoever sets it.
            session.execute(text("SET LOCAL govern.audit_purge = 'on'"))
        session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
        session.add(AuditPurge(purged_at=utcnow(), through_seq=boundary.tree_size, checkpoint_number=boundary.number, events=count, actor_name=actor.name))
        service.record(session=session, actor=actor, action=service.AuditAction.AUDIT_PURGE, resource=f"audit_chain:1-{boundary.tree_size}", reason=f"retention_{keep_days}d")
    return PurgeResult(through_seq=boundary.tree_size, checkpoint=boundary.number, events=count, dry_run=False)
