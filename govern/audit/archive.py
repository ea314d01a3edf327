"""The audit archive (issue 20): at the end of retention (policies/audit.yaml) a period's events leave the database
through an export an auditor verifies offline, never by deletion alone.

For each period (the partition period, monthly by default) whose end is past the retention cut-off, oldest first:

1. its events must all be sealed, and a trusted signed checkpoint must cover the highest seq among them;
2. the seq range from the last archive (or purge) to that checkpoint is exported to GOVERN_AUDIT_ARCHIVE_DIR/<period>/
   (events.jsonl + signed manifest.json, the format `govern audit export` writes and audit/verify.py reads). Seq is
   seal order, so the range also holds a few events of the next period sealed before the last of this one: those stay
   in the database too until their own period goes, and are covered twice meanwhile;
3. the folder is verified with the offline verifier against the checkpoint folder, and must start where the log left
   off (its anchor is the signed head of the previous archive or purge) and end on the checkpoint's head;
4. only then, in one transaction: the period's partition is detached and dropped (milliseconds, whatever its size) --
   or, on SQLite and for a period without a partition of its own (the default or legacy partition), its rows are
   deleted under the append-only trigger's purge rule -- and a signed purge checkpoint states the range, the count and
   the archive folder with its manifest's digest; the run is an audit event.

A run is resumable (an interrupted export resumes; a verified archive is not written again) and safe to run twice at
once (an advisory lock on PostgreSQL, a file lock on SQLite: the second run is refused). `govern audit verify` walks the
archives named by the signed statements as well as the live table (`verify_archives`), and an inclusion proof of an
archived event reads it from its archive (`find_event`).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, cast

from sqlalchemy import CursorResult, delete, func, select, text
from sqlalchemy.orm import Session

from govern.audit import chain, checkpoints, export, partitions, signing
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent, AuditPurge
from govern.audit.policy import AuditPolicy, purge_cutoff
from govern.audit.service import Actor, append
from govern.audit.tags import AuditAction
from govern.audit.verifier import (
    FILE_DIGESTS,
    GENESIS,
    PURGE_KIND,
    SM3,
    Finding,
    Report,
    file_digest,
    file_digest_fields,
    stated_file_digest,
    verify_export,
)
from govern.config import Settings
from govern.db import Database
from govern.jobs import database_lock, host_lock
from govern.logging import get_logger
from govern.timeutil import as_utc, utcnow

log = get_logger("govern.audit.archive")
ARCHIVE_LOCK = 7265110030  # pg_try_advisory_lock key: one archive run at a time
ARCHIVE_MISSING = "archive_missing"
ARCHIVE_MISMATCH = "archive_mismatch"


class ArchiveRefused(Exception):
    """Why a period cannot leave the database now (nothing of it was removed)."""


class ArchiveBusy(Exception):
    """Another archive run holds the lock."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        return f"audit-events-{self.start:%Y%m%d}"


@dataclass
class Archived:
    period: str
    folder: str
    first_seq: int
    through_seq: int
    events: int  # rows that left the database
    exported: int  # lines in the archive's events.jsonl
    statement: int  # the signed purge checkpoint's number
    dropped_partition: str | None
    remove_ms: float
    resumed: bool


@dataclass
class Due:
    period: str
    start: datetime
    end: datetime
    events: int
    partition: str | None


@dataclass
class ArchiveRun:
    cutoff: datetime
    due: list[Due] = field(default_factory=list)
    archived: list[Archived] = field(default_factory=list)
    empty_partitions_dropped: list[str] = field(default_factory=list)
    refused: str | None = None


def cutoff(now: datetime, policy: AuditPolicy) -> datetime:
    """Periods ending at or before this go: the same cut-off as the row purge (retention days, never under six months)."""
    return purge_cutoff(now, policy.retention_days)


def _in(period: Period) -> Any:
    return (AuditEvent.occurred_at >= period.start) & (AuditEvent.occurred_at < period.end)


def next_due(session: Session, policy: AuditPolicy, before: datetime) -> Period | None:
    """The period of the oldest event, if it ends at or before `before` (the retention cut-off)."""
    oldest = session.scalar(select(func.min(AuditEvent.occurred_at)))
    if oldest is None:
        return None
    start = partitions.period_start(as_utc(oldest), policy.partition_period)
    end = partitions.next_start(start, policy.partition_period)
    return Period(start, end) if end <= before else None


def plan(*, database: Database, policy: AuditPolicy, now: datetime | None = None) -> ArchiveRun:
    """What would go now (a dry run): each due period, its event count and its partition, if it has one of its own."""
    run = ArchiveRun(cutoff=cutoff(now or utcnow(), policy))
    with database.unit_of_work() as session:
        oldest = session.scalar(select(func.min(AuditEvent.occurred_at)))
        if oldest is None:
            return run
        start = partitions.period_start(as_utc(oldest), policy.partition_period)
        while (end := partitions.next_start(start, policy.partition_period)) <= run.cutoff:
            period = Period(start, end)
            count = session.scalar(select(func.count()).select_from(AuditEvent).where(_in(period))) or 0
            if count:
                part = partitions.covering(session, start, end)
                run.due.append(Due(period=period.name, start=start, end=end, events=count, partition=part.name if part else None))
            start = end
    return run


def run(
    *, database: Database, settings: Settings, policy: AuditPolicy, actor: Actor, now: datetime | None = None,
    on_progress: Callable[[str, int, int], None] | None = None, max_periods: int | None = None,
) -> ArchiveRun:
    """Archives and removes every due period, oldest first; stops at the first one that cannot go (`refused` says why).
    Raises ArchiveBusy when another run holds the lock."""
    result = ArchiveRun(cutoff=cutoff(now or utcnow(), policy))
    with _lock(database, settings):
        while max_periods is None or len(result.archived) < max_periods:
            with database.unit_of_work() as session:
                period = next_due(session, policy, result.cutoff)
            if period is None:
                break
            try:
                result.archived.append(archive_period(
                    database=database, settings=settings, policy=policy, actor=actor, period=period,
                    on_progress=functools.partial(on_progress, period.name) if on_progress else None,
                ))
            except ArchiveRefused as exc:
                result.refused = f"{period.name}: {exc}"
                log.warning("audit_archive_refused", period=period.name, problem=str(exc))
                break
        result.empty_partitions_dropped = drop_empty_partitions(database=database, before=result.cutoff)
    return result


def _busy() -> Exception:
    return ArchiveBusy("another `govern audit archive` run is under way")


def _lock(database: Database, settings: Settings) -> Any:
    busy = _busy
    if database.dialect == "postgresql":
        return database_lock(database, ARCHIVE_LOCK, busy)
    settings.audit_archive_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return host_lock(settings.audit_archive_dir / ".archive.lock", busy)


def _boundary(session: Session, settings: Settings, at_least: int) -> tuple[int, str, int] | None:
    """(tree size, head hash, number) of the smallest trusted ordinary checkpoint covering seq `at_least`, or None."""
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    after = -1
    while True:
        rows = list(session.scalars(
            select(AuditCheckpoint).where(AuditCheckpoint.tree_size >= at_least, AuditCheckpoint.number > after)
            .order_by(AuditCheckpoint.number).limit(100)
        ))
        if not rows:
            return None
        for cp in rows:  # checkpoints grow with their number: the first trusted one is the smallest
            if checkpoints.problem(cp, keys) is None and json.loads(cp.body).get("kind") is None:
                return cp.tree_size, cp.head_hash, cp.number
        after = rows[-1].number


def archive_period(
    *, database: Database, settings: Settings, policy: AuditPolicy, actor: Actor, period: Period,
    on_progress: Callable[[int, int], None] | None = None,
) -> Archived:
    folder = settings.audit_archive_dir / period.name
    with database.unit_of_work() as session:
        floor, floor_hash = checkpoints.purged_through(session, settings)
        sealed = select(AuditChainEntry.event_id).where(AuditChainEntry.event_id == AuditEvent.id).exists()
        unsealed = session.scalar(select(func.count()).select_from(AuditEvent).where(_in(period), ~sealed)) or 0
        if unsealed:
            raise ArchiveRefused(f"{unsealed} of its events are not sealed into the chain: run `govern audit seal --full` and `govern audit verify`")
        count, top = session.execute(
            select(func.count(), func.max(AuditChainEntry.seq)).select_from(AuditEvent).join(AuditChainEntry, AuditChainEntry.event_id == AuditEvent.id)
            .where(_in(period))
        ).one()
        boundary = _boundary(session, settings, max(top or 0, floor))
        if boundary is None:
            raise ArchiveRefused(f"no signed checkpoint covers seq {top} yet: run `govern audit checkpoint`")
        through, through_hash, boundary_number = boundary
        first = floor + 1
        anchor_hash = floor_hash or GENESIS.hex()
        resumed = _verified(folder, settings, first, through, anchor_hash, through_hash) is None
        if not resumed:
            export.write(
                session=session, settings=settings, out=folder, seqs=(first, through), on_progress=on_progress,
                time_from=period.start, time_to=period.end,
                extra={"archive": {"period_from": period.start.isoformat(), "period_to": period.end.isoformat(), "events_in_period": int(count)}},
            )
    problem = _verified(folder, settings, first, through, anchor_hash, through_hash)
    if problem:
        raise ArchiveRefused(f"the archive in {folder} does not verify, so nothing was removed: {problem}")
    events = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["events"]
    exported = events["count"]
    # The statement names the archive's manifest by its digest under the algorithm that manifest names for its own
    # events file (SM3 once the log is; SHA-256, `manifest_sha256`, as before suites, otherwise).
    sm3_file = FILE_DIGESTS.get(stated_file_digest(events)[0]) == SM3
    manifest_digest = file_digest_fields(sm3_file, file_digest(folder / "manifest.json", sm3_file), prefix="manifest_")
    key = signing.load(settings)
    signing.publish(settings, key)
    with database.unit_of_work() as session:
        chain.lock(session)
        if checkpoints.purged_through(session, settings)[0] != floor:
            raise ArchiveRefused("another run moved the log's start meanwhile: run again")
        if session.get_bind().dialect.name == "postgresql":
            # The append-only trigger (and govern_audit_drop_partition) let events go only under this flag, and only
            # sealed ones more than six months old.
            session.execute(text("SET LOCAL govern.audit_purge = 'on'"))
        started = time.perf_counter()
        part = partitions.covering(session, period.start, period.end)
        if part is not None:
            removed = int(count)
            partitions.drop(session, part)
        else:
            removed = cast("CursorResult[Any]", session.execute(delete(AuditEvent).where(_in(period)))).rowcount or 0
        remove_ms = (time.perf_counter() - started) * 1000
        statement = checkpoints.sign(session=session, settings=settings, key=key, extra={"kind": PURGE_KIND, "purge": {
            "first_seq": first, "through_seq": through, "through_hash": through_hash, "events": removed, "actor": actor.name,
            "boundary_checkpoint": boundary_number, "keep_days": policy.retention_days,
            "archive": {"folder": period.name, "from": period.start.isoformat(), "to": period.end.isoformat(), **manifest_digest,
                        "exported": exported},
        }})
        number = statement["body"]["number"]
        session.add(AuditPurge(purged_at=utcnow(), through_seq=through, checkpoint_number=number, events=removed, actor_name=actor.name))
        append(session=session, actor=actor, action=AuditAction.PURGE, resource=f"audit_archive:{period.name}:{first}-{through}",
               reason=f"archived_{policy.retention_days}d")
    log.info("audit_period_archived", period=period.name, events=removed, through_seq=through, partition=part.name if part else None, remove_ms=round(remove_ms, 1))
    return Archived(
        period=period.name, folder=str(folder), first_seq=first, through_seq=through, events=removed, exported=exported, statement=number,
        dropped_partition=part.name if part else None, remove_ms=remove_ms, resumed=resumed,
    )


def drop_empty_partitions(*, database: Database, before: datetime) -> list[str]:
    """Ranged partitions ending at or before the cut-off that hold no event (their events went with an archive, or
    there never were any): dropped, nothing to state."""
    dropped = []
    with database.unit_of_work() as session:
        for part in partitions.listing(session):
            if part.upper is not None and part.upper <= before and not partitions.holds_events(session, part):
                session.execute(text("SET LOCAL govern.audit_purge = 'on'"))
                partitions.drop(session, part)
                dropped.append(part.name)
    return dropped


# --- verification ---------------------------------------------------------------------------------------------------


def _verified(folder: Path, settings: Settings, first: int, through: int, anchor_hash: str, through_hash: str) -> str | None:
    """None when the folder holds an export of exactly seq first..through that the offline verifier accepts, starting
    at `anchor_hash` and ending at `through_hash`; otherwise why not."""
    if not (folder / "manifest.json").exists():
        return "it has no manifest.json"
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        report = verify_export(folder, [settings.audit_checkpoint_dir])
    except Exception as exc:  # noqa: BLE001 — an unreadable archive is one that does not verify
        return f"it cannot be read ({type(exc).__name__}: {exc})"
    if not report.ok:
        return "; ".join(f.render() for f in report.findings[:5])
    rng, anchor = manifest.get("range", {}), manifest.get("anchor", {})
    if (rng.get("first_seq"), rng.get("last_seq")) != (first, through):
        return f"it holds seq {rng.get('first_seq')}..{rng.get('last_seq')}, not {first}..{through}"
    if anchor.get("seq") != first - 1 or anchor.get("hash") != anchor_hash:
        return f"it does not start where the log left off (seq {first - 1}, head {anchor_hash[:12]}…)"
    if through >= first and report.head_hash != through_hash:
        return f"it does not end on the signed head of seq {through}"
    return None


def statements(good: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The signed purge statements that name an archive, by first seq."""
    return sorted((b for b in good if b.get("kind") == PURGE_KIND and isinstance(b["purge"].get("archive"), dict)), key=lambda b: b["purge"]["first_seq"])


def verify_archives(settings: Settings, good: list[dict[str, Any]], report: Report) -> None:
    """Each archive a signed statement names is in the archive folder and verifies, starting on the signed head where
    the previous statement left the log, ending on its own; findings are added to the live log's report."""
    heads = {b["purge"]["through_seq"]: b["purge"]["through_hash"] for b in good if b.get("kind") == PURGE_KIND}
    total = 0
    stated = statements(good)
    for body in stated:
        p = body["purge"]
        folder = settings.audit_archive_dir / str(p["archive"]["folder"])
        first = p["first_seq"]
        anchor_hash = GENESIS.hex() if first <= 1 else heads.get(first - 1)
        if not (folder / "manifest.json").exists():
            report.add(Finding(ARCHIVE_MISSING, f"signed checkpoint #{body['number']} says seq {first}..{p['through_seq']} were archived to "
                               f"{folder}, which is not there (GOVERN_AUDIT_ARCHIVE_DIR)", checkpoint=body["number"], seq=first))
            continue
        named, key, signed_digest = stated_file_digest(p["archive"], prefix="manifest_")
        if key is None or file_digest(folder / "manifest.json", FILE_DIGESTS[named] == SM3) != signed_digest:
            report.add(Finding(ARCHIVE_MISMATCH, f"{folder}/manifest.json is not the manifest signed checkpoint #{body['number']} names",
                               checkpoint=body["number"], seq=first))
            continue
        problem = _verified(folder, settings, first, p["through_seq"], anchor_hash or "", p["through_hash"])
        if problem:
            report.add(Finding(ARCHIVE_MISMATCH, f"archive {folder.name}: {problem}", checkpoint=body["number"], seq=first))
            continue
        total += int(p["archive"].get("exported", 0))
    if stated:
        report.notes.append(f"{len(stated)} archive(s) in {settings.audit_archive_dir} verified: seq {stated[0]['purge']['first_seq']}.."
                            f"{stated[-1]['purge']['through_seq']}, {total} events")


