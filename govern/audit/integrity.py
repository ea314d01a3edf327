"""Checks the live log the way an auditor checks an export (the same verifier code, fed from the database), the
cheap status /readyz shows, and the signed statements that let the log go on verifiably after a retention purge
(`purge`) or a restore from a backup (`record_restore`).

    record_restore(*, database, settings, source, actor, restored_to_seq=None) -> dict

appends a signed "restored to seq N" checkpoint (N: the restored database's chain head; given, it must equal it), so
that verify accepts the log going on from seq N in place of what the checkpoints issued after the backup describe:
those are superseded, and verify says so in a note. `govern restore` calls it once the database is restored.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterator

import click
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from govern.audit import archive, chain, checkpoints, columns, service, signing
from govern.audit.columns import stored_time
from govern.audit.export import chain_rows
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent, AuditPurge
from govern.audit.policy import MINIMUM_DAYS, MINIMUM_MONTHS, AuditPolicy, purge_cutoff  # noqa: F401 (MINIMUM_MONTHS: callers)
from govern.audit.service import Actor
from govern.audit.tags import AuditAction
from govern.audit.verifier import (
    CHECKPOINT_INCONSISTENT,
    COLUMN_MISMATCH,
    FORMAT,
    GENESIS,
    MODIFIED,
    NEVER,
    PURGE_KIND,
    PURGE_UNSIGNED,
    RESTORE_KIND,
    UNSEALED,
    Finding,
    Report,
    Sm3Unavailable,
    chain_hash,
    check_checkpoints,
    check_hash_algorithms,
    check_switch,
    leaf_hash,
    purge_anchor,
    walk,
)
from govern.config import Settings
from govern.db import Database
from govern.logging import get_logger
from govern.timeutil import utcnow

if TYPE_CHECKING:
    from govern.runtime import Runtime

log = get_logger("govern.audit")
_BAD = b"\xff" * 32  # stands in for an unreadable hash column: it links to nothing, so the walk names the place


def _unhex(value: str | None) -> bytes:
    try:
        raw = binascii.unhexlify(value or "")
    except (binascii.Error, ValueError):
        return _BAD
    return raw if len(raw) == 32 else _BAD


def _entries(session: Session, first: int, last: int, report: Report, sm3_from: int = NEVER) -> Iterator[tuple[int, int, bytes, bytes, bytes, bool, None]]:
    for seq, event_id, prev, hash_, leaf, text_ in chain_rows(session, first, last):
        if text_ is None:
            yield (seq, event_id, _unhex(prev), _unhex(hash_), _unhex(leaf), False, None)
        else:
            data = text_.encode("utf-8")
            if seq == sm3_from:
                check_switch(seq, event_id, data, report)
            computed = leaf_hash(data, seq >= sm3_from)
            if leaf != computed.hex() and chain_hash(_unhex(prev), seq, computed, seq >= sm3_from) == _unhex(hash_):
                # The event and its link agree, but the stored leaf (which feeds checkpoints' Merkle trees and inclusion
                # proofs) was changed. (An event that does not fit its link is named by the walk.)
                report.add(Finding(MODIFIED, "the chain's stored leaf hash is not the hash of the event's bytes", seq=seq, event_id=event_id))
            yield (seq, event_id, _unhex(prev), _unhex(hash_), computed, True, None)


def _sm3_leaf(text_: str, leaf: str) -> bool:
    """Is `leaf` the SM3 leaf hash of the event (a log under the commercial_cn suite)?"""
    try:
        return leaf_hash(text_.encode("utf-8"), True).hex() == leaf
    except Sm3Unavailable:  # no SM3 here: not an SM3 leaf this host can tell
        return False


def verify_live(*, database: Database, settings: Settings, max_unsealed_seconds: int | None = None) -> Report:
    """Walks the stored chain against the checkpoints in the folder and in the database (trusted only if signed by a key
    in keys.json), from the newest signed purge statement on, and every archive a signed statement names; checks every stored checkpoint row, every audit_purges
    row and every event's columns against what is signed or hashed; flags events unsealed for longer than the bound."""
    report = Report()
    held = checkpoints.read_folder(settings)
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    if not keys:
        report.notes.append(f"no keys.json in {settings.audit_checkpoint_dir}: no checkpoint can be checked")
    bound = max_unsealed_seconds or AuditPolicy().max_unsealed_seconds
    with database.unit_of_work() as session:
        rows = checkpoints.list_checkpoints(session)
        good = check_checkpoints([*held, *(checkpoints.as_line(cp) for cp in rows)], keys, report)
        _check_checkpoint_rows(rows, keys, report)
        statement = purge_anchor(good)
        anchor_seq, anchor_hash = (statement["purge"]["through_seq"], _unhex(statement["purge"]["through_hash"])) if statement else (0, GENESIS)
        _check_purge_rows(session, good, report)
        last_seq = chain.head(session)[0]
        sm3_from = chain.sm3_from(session, last_seq)  # from the links themselves; every signed checkpoint must say the same
        good = check_hash_algorithms(good, sm3_from, report)
        walk(
            _entries(session, anchor_seq + 1, last_seq, report, sm3_from), report=report, anchor_seq=anchor_seq, anchor_hash=anchor_hash, checkpoints=good,
            expected_last=None, open_end=True, made_at=None, full_tree=statement is None, sm3_from=sm3_from,
        )
        if statement:
            report.purged = statement["purge"]["events"]
        archive.verify_archives(settings, good, report)  # what left the database through an archive, from its folder
        _check_columns(session, report)
        _check_unsealed(session, bound, report)
        late = chain.unsealed_before_floor(session, settings.audit_seal_window_seconds)
        if late and not any(f.kind == UNSEALED for f in report.findings):
            report.add(Finding(UNSEALED, f"events {late[:5]} were never sealed and the sealer no longer looks that far back: run `govern audit seal --full`"))
    if not report.ok:
        for finding in report.findings:
            log.error("audit_log_does_not_verify", kind=finding.kind, seq=finding.seq, event_id=finding.event_id, checkpoint=finding.checkpoint)
    return report


def _check_checkpoint_rows(rows: list[AuditCheckpoint], keys: dict[str, dict[str, Any]], report: Report) -> None:
    """A stored row whose signed body verifies must also carry that body's values in its columns and a frontier that
    gives its Merkle root (a row whose signature fails is already reported by check_checkpoints)."""
    for cp in rows:
        line = checkpoints.as_line(cp)
        good = check_checkpoints([line], keys, Report())
        if good:
            why = checkpoints.row_problem(cp, good[0])
            if why:
                report.add(Finding(CHECKPOINT_INCONSISTENT, f"the stored checkpoint row: {why}", checkpoint=cp.number))


def _check_purge_rows(session: Session, good: list[dict[str, Any]], report: Report) -> None:
    """audit_purges is a convenience index: each row must be one of the signed purge statements."""
    signed = {(b["number"], b["purge"]["through_seq"], b["purge"]["events"]) for b in good if b.get("kind") == PURGE_KIND}
    for row in session.scalars(select(AuditPurge).order_by(AuditPurge.id)):
        if (row.checkpoint_number, row.through_seq, row.events) not in signed:
            report.add(Finding(
                PURGE_UNSIGNED,
                f"audit_purges row {row.id} says {row.events} events through seq {row.through_seq} were purged (checkpoint #{row.checkpoint_number}), "
                "but no signed purge checkpoint states it: the row is forged or edited",
                seq=row.through_seq, checkpoint=row.checkpoint_number,
            ))


_COLUMN_SELECT = [AuditEvent.id, AuditEvent.canonical, *(getattr(AuditEvent, name) for name in columns.CHECKED)]


def _check_columns(session: Session, report: Report, batch: int = 10_000) -> None:
    """Every event's indexed columns against its hashed canonical text (columns.py lists them)."""
    after = 0
    while True:
        rows = session.connection().execute(  # Core, not the ORM: this reads every event
            select(*_COLUMN_SELECT, AuditChainEntry.seq).outerjoin(AuditChainEntry, AuditChainEntry.event_id == AuditEvent.id)
            .where(AuditEvent.id > after).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            values = row._mapping
            wrong = columns.mismatches(values)
            if wrong == ["canonical"]:
                report.add(Finding(FORMAT, "the stored canonical text is not an event", seq=values["seq"], event_id=values["id"]))
            elif wrong:
                report.add(Finding(
                    COLUMN_MISMATCH, f"column(s) {', '.join(wrong)} differ from the hashed event (searches and reports read those columns)",
                    seq=values["seq"], event_id=values["id"],
                ))
        after = rows[-1][0]


def _check_unsealed(session: Session, bound: int, report: Report) -> None:
    old = oldest_unsealed(session, everywhere=True)
    if old is None:
        return
    age = (utcnow() - old[1]).total_seconds()
    if age > bound:
        sealed = select(AuditChainEntry.event_id).where(AuditChainEntry.event_id == AuditEvent.id).exists()
        cutoff = utcnow() - timedelta(seconds=bound)
        ids = list(session.scalars(select(AuditEvent.id).where(~sealed, AuditEvent.occurred_at < cutoff).order_by(AuditEvent.id).limit(20)))
        report.add(Finding(
            UNSEALED,
            f"events {ids[:10] or [old[0]]} were written more than {bound}s ago (policies/audit.yaml sealing.max_unsealed_seconds) and are still "
            "unsealed, so nothing signed covers them: run `govern audit seal --full` and find out why the sealer did not",
            event_id=ids[0] if ids else old[0],
        ))


def oldest_unsealed(session: Session, *, everywhere: bool = False) -> tuple[int, datetime] | None:
    """(event id, time) of the oldest unsealed event, or None. Cheap by default, for /readyz: the first event after the
    newest sealed one (an index seek; a late commit below it is sealed by the next run). `everywhere` looks at the whole
    table (verify)."""
    if everywhere:
        sealed = select(AuditChainEntry.event_id).where(AuditChainEntry.event_id == AuditEvent.id).exists()
        row = session.execute(select(AuditEvent.id, AuditEvent.occurred_at).where(~sealed).order_by(AuditEvent.occurred_at).limit(1)).first()
    else:
        # The oldest of the first thousand events after the newest sealed one (ids follow time only roughly).
        newest = session.scalar(select(func.max(AuditChainEntry.event_id))) or 0
        first = select(AuditEvent.id, AuditEvent.occurred_at).where(AuditEvent.id > newest).order_by(AuditEvent.id).limit(1000).subquery()
        row = session.execute(select(first.c.id, first.c.occurred_at).order_by(first.c.occurred_at).limit(1)).first()
    when = stored_time(row[1]) if row else None  # occurred_at is never NULL
    return (row[0], when) if row and when else None


@dataclass
class ChainStatus:
    ok: bool
    head_seq: int
    unsealed: int
    checkpoint: int | None
    problem: str | None = None
    unsealed_age_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "head_seq": self.head_seq, "unsealed": self.unsealed, "checkpoint": self.checkpoint,
               "unsealed_age_seconds": round(self.unsealed_age_seconds, 1)}
        if self.problem:
            out["problem"] = self.problem
        return out


def status(*, database: Database, settings: Settings, max_unsealed_seconds: int | None = None) -> ChainStatus:
    """Cheap, for /readyz: the head links to its predecessor, it is consistent with the newest checkpoint kept outside
    the database (a cut-back tail or a rewritten head shows at once), and no event has waited for the sealer longer than
    the bound (policies/audit.yaml). `govern audit verify` checks it all."""
    bound = max_unsealed_seconds or AuditPolicy().max_unsealed_seconds
    with database.engine.connect() as conn:
        session = Session(bind=conn)
        head_seq, head_hash = chain.head(session)
        unsealed = chain.unsealed_count(session)
        oldest = oldest_unsealed(session)
        age = max(0.0, (utcnow() - oldest[1]).total_seconds()) if oldest else 0.0
        problem = None
        if oldest and age > bound:
            problem = f"event id {oldest[0]} has waited {age:.0f}s to be sealed, longer than the {bound}s bound (is the sealer running?)"
        last_two = session.execute(select(AuditChainEntry).order_by(AuditChainEntry.seq.desc()).limit(2)).scalars().all()
        if last_two:
            top = last_two[0]
            if len(last_two) == 2 and top.prev_hash != last_two[1].hash:
                problem = f"seq {top.seq} does not link to seq {last_two[1].seq}"
            event = session.get(AuditEvent, top.event_id)
            if event is not None and leaf_hash(event.canonical.encode("utf-8")).hex() != top.leaf and not _sm3_leaf(event.canonical, top.leaf):
                problem = f"the event at seq {top.seq} does not match its leaf hash"
        held = checkpoints.read_folder(settings)
        newest = held[-1]["body"] if held else None
        if newest is None:  # no folder here: the newest stored checkpoint that verifies on read
            found = next(checkpoints.trusted(session, settings), None)
            newest = found[1] if found else None
        if newest is not None:
            if newest["tree_size"] > head_seq:
                problem = f"checkpoint #{newest['number']} covers {newest['tree_size']} events but the chain ends at seq {head_seq}"
            elif newest["tree_size"] > 0:
                at = session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == newest["tree_size"]))
                if at != newest["head_hash"]:
                    problem = f"the chain at seq {newest['tree_size']} differs from checkpoint #{newest['number']}"
        session.close()
    if problem:
        log.error("audit_chain_broken", problem=problem)
    return ChainStatus(
        ok=problem is None, head_seq=head_seq, unsealed=unsealed, checkpoint=newest["number"] if newest else None, problem=problem,
        unsealed_age_seconds=age,
    )


# --- retention ----------------------------------------------------------------------------------------------------




@dataclass
class PurgeResult:
    through_seq: int
    checkpoint: int | None
    events: int
    dry_run: bool
    statement: int | None = None  # the signed purge checkpoint's number


def purge(*, database: Database, settings: Settings, actor: Actor, keep_days: int, dry_run: bool = True) -> PurgeResult:
    """Deletes event rows up to the newest trusted checkpoint signed before the retention cut-off, and signs a purge
    checkpoint saying so (range, head hash at the cut, count, time, who) in the same transaction. The chain links stay;
    the log verifies from that signed statement on (never from the unsigned audit_purges row, kept as an index)."""
    if keep_days < MINIMUM_DAYS:  # six calendar months last up to 184 days
        raise ValueError(f"audit events are kept at least six months (Cybersecurity Law Art. 21); {keep_days} days is less")
    cutoff = purge_cutoff(utcnow(), keep_days)
    key = None if dry_run else signing.load(settings)
    if key is not None:
        signing.publish(settings, key)
    with database.unit_of_work() as session:
        chain.lock(session)
        done, _ = checkpoints.purged_through(session, settings)
        boundary = None
        for cp, body in checkpoints.trusted(session, settings):
            # The signed time, not the issued_at column: an edited column must not widen a purge.
            if checkpoints.issued_at(body) < cutoff and body.get("kind") != RESTORE_KIND:
                boundary = cp
                break
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
        assert key is not None  # loaded unless dry_run, which returned above
        statement = checkpoints.sign(session=session, settings=settings, key=key, extra={"kind": PURGE_KIND, "purge": {
            "first_seq": done + 1, "through_seq": boundary.tree_size, "through_hash": boundary.head_hash, "events": count,
            "actor": actor.name, "boundary_checkpoint": boundary.number, "keep_days": keep_days,
        }})
        number = statement["body"]["number"]
        session.add(AuditPurge(purged_at=utcnow(), through_seq=boundary.tree_size, checkpoint_number=number, events=count, actor_name=actor.name))
        service.append(session=session, actor=actor, action=AuditAction.PURGE, resource=f"audit_chain:{done + 1}-{boundary.tree_size}", reason=f"retention_{keep_days}d")
    return PurgeResult(through_seq=boundary.tree_size, checkpoint=boundary.number, events=count, dry_run=False, statement=number)


# --- restore ------------------------------------------------------------------------------------------------------


def record_restore(*, database: Database, settings: Settings, source: str, actor: Actor, restored_to_seq: int | None = None) -> dict[str, Any]:
    """After the database was restored from a backup: signs a checkpoint "restored to seq N" (N the restored chain's
    head), appends it to the checkpoint folder beside the checkpoints of the log it replaced, and records the restore
    as an audit event. Returns the signed line. Needs the signing key: a database insider cannot forge one; and a host
    without it gets none made up (SigningKeyError), since a fresh key would vouch for a history it never saw."""
    key = signing.load(settings, create=False)
    signing.publish(settings, key)
    with database.unit_of_work() as session:
        chain.lock(session)
        head_seq, _ = chain.head(session)
        if restored_to_seq is not None and restored_to_seq != head_seq:
            raise ValueError(f"the restored chain ends at seq {head_seq}, not {restored_to_seq}")
        line = checkpoints.sign(session=session, settings=settings, key=key, upto=head_seq, extra={"kind": RESTORE_KIND, "restore": {
            "restored_to_seq": head_seq, "source": source[:200], "actor": actor.name,
        }})
        service.append(session=session, actor=actor, action=AuditAction.RESTORE, resource=f"audit_chain:{head_seq}", reason="restored_from_backup")
    log.warning("audit_log_restored", restored_to_seq=head_seq, checkpoint=line["body"]["number"])
    return line


def record_restore_or_warn(*, runtime: Runtime, source: str, actor: Actor) -> dict[str, Any] | None:
    """For `govern restore`: record_restore as the operator (`actor`); a log that cannot be signed over (no key, a broken chain)
    does not stop the restore (erasures must still be re-applied), but is said on stderr and in the error log."""
    try:
        return record_restore(database=runtime.database, settings=runtime.settings, source=source, actor=actor)
    except (checkpoints.AuditIntegrityError, signing.SigningKeyError) as exc:
        log.error("audit_restore_not_recorded", problem=str(exc))
        click.echo(f"warning: the restore could not be recorded as a signed checkpoint, so `govern audit verify` will fail: {exc}", err=True)
        return None
