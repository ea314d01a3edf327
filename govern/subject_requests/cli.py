"""`govern requests …` (the queue and the request jobs) and `govern backup` / `govern restore`, which re-applies every
erasure before the restored database serves."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import click

from govern.cli_support import emit, initialise, local_time, runtime


@click.group("requests")
def requests_group() -> None:
    """Data-subject requests: the queue and its jobs."""


@requests_group.command("list")
@click.option("--state", default=None)
@click.option("--type", "rtype", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_cmd(state: str | None, rtype: str | None, as_json: bool) -> None:
    """The queue, soonest due first: OVERDUE and DUE-SOON flagged."""
    from govern.identity.actor import Actor
    from govern.subject_requests import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        items = service.queue(session=session, policy=rt.policy, actor=Actor.operator(), state=state, type=rtype)
        rows = [{"id": str(i.request.id), "type": i.request.type, "jurisdiction": i.request.jurisdiction, "state": i.request.state,
                 "due_at": i.due_at.isoformat(), "overdue": i.overdue, "due_soon": i.due_soon} for i in items]
    lines = [f"{'due':26} {'flag':8} {'type':16} {'jur':6} {'state':17} id"]
    for i, r in zip(items, rows, strict=True):
        flag = "OVERDUE" if r["overdue"] else "DUE-SOON" if r["due_soon"] else ""
        lines.append(f"{local_time(i.due_at):26} {flag:8} {r['type']:16} {r['jurisdiction']:6} {r['state']:17} {r['id']}")
    emit(as_json, rows, "\n".join(lines))


@requests_group.command("close-unverified")
@click.option("--json", "as_json", is_flag=True)
def close_unverified_cmd(as_json: bool) -> None:
    """Refuse requests whose requester never completed verification (requests.yaml unverified.close_after). Cron-safe."""
    from govern.identity.actor import Actor
    from govern.subject_requests import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        n = service.close_unverified(session=session, policy=rt.policy, actor=Actor.operator())
    emit(as_json, {"closed": n}, f"{n} unverified request(s) closed")


@requests_group.command("purge-log")
@click.option("--json", "as_json", is_flag=True)
def purge_log_cmd(as_json: bool) -> None:
    """Delete requests closed longer ago than the request log's retention (≥ 24 months, CCPA regs §7101)."""
    from govern.identity.actor import Actor
    from govern.subject_requests import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        n = service.purge_log(session=session, policy=rt.policy, actor=Actor.operator())
    emit(as_json, {"purged": n}, f"{n} closed request(s) past retention deleted")


def settle_ledgers(database, ledgers) -> dict[str, int]:
    """The recovery rule of govern/ledgers.py: each erasure left pending by a crash is settled against the database it
    ran on (committed when that database shows it). Never against a database restored from a backup."""
    from govern.subject_requests import flows
    from govern.subjects import erasure

    with database.unit_of_work() as session:
        stones = erasure.settle_tombstones(session=session, ledger=ledgers.tombstones)
        partial = flows.settle_request_erasures(session=session, ledger=ledgers.request_erasures)
    return {state: stones[state] + partial[state] for state in stones}


def reapply_all(rt, *, at_start: bool = False, settle: bool = True) -> dict:
    """Every full erasure (tombstones), every retention purge (the purge ledger) and every partial erasure (request
    log of erasures), re-applied. at_start (`govern serve`): purge batches this database shows committed are skipped.
    settle: erasures a crash left pending are first settled against this database; `govern restore` settles them
    against the database it replaces instead, before replacing it, and applies whatever is still pending."""
    from govern.identity.actor import Actor
    from govern.jobs import ProgressLine
    from govern.logging import get_logger
    from govern.retention import ledger, shredding
    from govern.subject_requests import flows

    ledgers = rt.ledgers
    if settle:
        settle_ledgers(rt.database, ledgers)
    with rt.database.unit_of_work() as session:
        shredded = shredding.reapply(session=session, envelope=rt.envelope, actor=Actor.operator(), ledger=ledgers.tombstones)
    # Inside `govern serve` every line is JSON: the progress is a log event there.
    line = ProgressLine("replayed", "purge batches", logger=get_logger("govern.serve") if at_start else None)
    try:
        purged = ledger.replay(database=rt.database, envelope=rt.envelope, actor=Actor.operator(), purges=ledgers.purges, on_progress=line,
                               skip_committed_here=at_start)
    finally:
        line.end()
    with rt.database.unit_of_work() as session:
        partial = flows.reapply_erasures(session=session, envelope=rt.envelope, actor=Actor.operator(), ledger=ledgers.request_erasures)
    return {"shredded_again": shredded, "purged_again": purged.removed_again, "partial_erasures_reapplied": partial}


def _reapplied_text(result: dict) -> str:
    return (f"{result['shredded_again']} subject(s) shredded again, {result['purged_again']} purged item(s) removed again, "
            f"{result['partial_erasures_reapplied']} partial erasure(s) re-applied")


@requests_group.command("reapply-erasures")
@click.option("--json", "as_json", is_flag=True)
def reapply_cmd(as_json: bool) -> None:
    """Re-apply every erasure the database lost (after a restore). Safe to run any time."""
    result = reapply_all(runtime())
    emit(as_json, result, _reapplied_text(result))


@requests_group.command("sweep-erasures")
@click.option("--batch-size", default=5000, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def sweep_cmd(batch_size: int, as_json: bool) -> None:
    """Delete, in committed batches, the records of subjects already shredded (unreadable since their key was
    destroyed) that had too many to delete at once. Resumable; cron-safe; two at once share the work on PostgreSQL."""
    from govern.identity.actor import Actor
    from govern.jobs import Progress, ProgressLine
    from govern.subjects import erasure

    rt = runtime()
    line = ProgressLine("deleted", "records")
    try:
        result = erasure.sweep(database=rt.database, actor=Actor.operator(), batch_size=batch_size,
                               progress=lambda done, total, rate: line(Progress(done, total, rate)))
    finally:
        line.end()
        rt.database.dispose()
    rate = result.records / result.seconds if result.seconds else 0.0
    emit(as_json, {"subjects": result.subjects, "records": result.records, "seconds": round(result.seconds, 3), "records_per_second": round(rate)},
          f"{result.records} record(s) of {result.subjects} shredded subject(s) deleted in {result.seconds:.1f}s")


def libpq_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup_database(url: str, out: Path) -> None:
    """SQLite: the online backup API (consistent while the service runs); PostgreSQL: pg_dump custom format."""
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        source, dest = sqlite3.connect(make_url(url).database), sqlite3.connect(out)
        with dest:
            source.backup(dest)
        source.close()
        dest.close()
    else:
        subprocess.run(["pg_dump", "-Fc", "-f", str(out), libpq_url(url)], check=True)
    out.chmod(0o600)


def restore_database(url: str, source: Path) -> None:
    from sqlalchemy.engine import make_url

    if url.startswith("sqlite"):
        src, dest = sqlite3.connect(source), sqlite3.connect(make_url(url).database)
        with dest:
            src.backup(dest)
        src.close()
        dest.close()
    else:
        from govern.audit.partitions import drop_before_restore

        drop_before_restore(url)  # pg_restore --clean cannot drop a partition's inherited key: the partitioned table goes first
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "-d", libpq_url(url), str(source)], check=True, capture_output=True)


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def backup_cmd(out: Path, as_json: bool) -> None:
    """Back up the database to FILE (values stay encrypted; the keyring is NOT in it: back it up apart)."""
    from govern.config import Settings

    settings = Settings.from_env()
    backup_database(settings.database_url, out)
    emit(as_json, {"backup": str(out), "bytes": out.stat().st_size}, f"backup written to {out} ({out.stat().st_size} bytes)")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the current database is replaced.")
@click.option("--accept-missing-ledgers", "accept_missing", default=None, metavar="REASON",
              help="Restore although tombstones.jsonl, request-erasures.jsonl or purges.jsonl is missing (audited with REASON).")
@click.option("--json", "as_json", is_flag=True)
def restore_cmd(source: Path, yes: bool, accept_missing: str | None, as_json: bool) -> None:
    """Restore the database from FILE, then re-apply every erasure and retention purge made since, before anything
    is served. Refused while a ledger of them is missing from GOVERN_HOME, unless --accept-missing-ledgers."""
    from govern.config import Settings
    from govern.retention import ledger

    if not yes:
        click.echo("error: restoring replaces the current database; add --yes", err=True)
        sys.exit(2)
    settings = Settings.from_env()
    missing = ledger.missing_ledgers(settings.home)
    if missing and accept_missing is None:
        click.echo(
            f"error: restore refused: {', '.join(p.name for p in missing)} missing from {settings.home}. Without it, erasures and retention "
            "purges made since the backup would come back. Put the file back from this host's own backup, or, if it is truly lost, "
            'rerun with --accept-missing-ledgers "<reason>" (the reason is audited). Nothing was changed.', err=True,
        )
        sys.exit(2)
    if accept_missing is not None and (problem := ledger.override_reason_problem(accept_missing)):
        click.echo(f"error: --accept-missing-ledgers: {problem}", err=True)
        sys.exit(2)
    _settle_before_restore(settings)
    restore_database(settings.migration_url, source)  # as the owner: pg_restore --clean drops and recreates the tables
    initialise(settings)  # a backup from an older release is migrated forward
    rt = runtime()
    try:
        from govern.audit.integrity import record_restore_or_warn
        from govern.identity.actor import Actor

        record_restore_or_warn(runtime=rt, source=source.name, actor=Actor.operator())  # the audit log goes on verifiably from the restored head
        accepted = []
        if missing:
            from govern.identity.actor import Actor

            accepted = ledger.accept_missing(database=rt.database, actor=Actor.operator(), missing=[lg for lg in rt.ledgers.all() if lg.path in missing], reason=accept_missing)
        result = reapply_all(rt, settle=False)
    finally:
        rt.database.dispose()
    emit(as_json, {"restored": str(source), "accepted_missing_ledgers": accepted, **result}, f"restored {source}; {_reapplied_text(result)}"
          + (f"; restored without {', '.join(accepted)} (audited)" if accepted else ""))


def _settle_before_restore(settings) -> None:
    """Erasures a crash left pending are settled against the database about to be replaced: after the restore nothing
    could tell one that committed from one that did not. When that database cannot be read, they stay pending and the
    replay applies them (an erasure under way is applied, never lost)."""
    from govern.db import Database
    from govern.ledgers import ErasureLedgers

    ledgers = ErasureLedgers.in_home(settings.home)
    if not any(ledger.unsettled() for ledger in (ledgers.tombstones, ledgers.request_erasures)):
        return
    database = Database(settings.database_url)
    try:
        settle_ledgers(database, ledgers)
    except Exception as exc:  # the database being replaced may well be broken: that is why it is restored
        click.echo(f"note: erasures left pending by a crash could not be settled against the old database ({type(exc).__name__}); they are applied", err=True)
    finally:
        database.dispose()


commands = [requests_group, backup_cmd, restore_cmd]
