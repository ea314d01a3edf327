"""`govern audit ...`: search, seal, checkpoint, export, verify, prove, signing keys, retention purge, partitions, archive."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import click
from sqlalchemy.exc import SQLAlchemyError

from govern.audit.tags import AuditAction
from govern.cli_support import emit, runtime
from govern.jobs import Progress, ProgressLine, rate_since

if TYPE_CHECKING:
    from govern.runtime import Runtime


@contextmanager
def _rt() -> Iterator[Runtime]:
    """The runtime for one command; its connection pool is closed when the command ends."""
    rt = runtime()
    try:
        yield rt
    finally:
        rt.database.dispose()


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _short(exc: Exception) -> str:
    """The first line of an error, without the SQL statement and parameters a driver appends."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]


def _fail_clearly(message: str) -> None:
    """An error an operator can act on, exit status 1, no traceback (a tampered database must not look like a bug)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def audit() -> None:
    """The tamper-evident audit log: search, seal, checkpoint, export, verify, prove."""


@audit.command("search")
@click.option("--from", "time_from", help="ISO time, inclusive")
@click.option("--to", "time_to", help="ISO time, exclusive")
@click.option("--actor", help="principal name or id")
@click.option("--subject", help="subject id")
@click.option("--action", help="exact action, or a prefix ending in * (subjects:*)")
@click.option("--purpose")
@click.option("--outcome", type=click.Choice(["allowed", "denied", "failed"]))
@click.option("--request-id")
@click.option("--cursor", help="next_cursor from the previous page")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def search_cmd(
    time_from: str | None, time_to: str | None, actor: str | None, subject: str | None, action: str | None, purpose: str | None,
    outcome: str | None, request_id: str | None, cursor: str | None, limit: int, as_json: bool,
) -> None:
    """Search events, newest first (the search is itself audited)."""
    import uuid

    from govern.audit import service
    from govern.errors import Problem
    from govern.identity.actor import Actor

    with _rt() as rt:
        try:
            filters = service.SearchFilters(
                time_from=_when(time_from), time_to=_when(time_to), actor=actor, subject_id=uuid.UUID(subject) if subject else None,
                action=action, purpose=purpose, outcome=outcome, request_id=request_id,
            )
        except ValueError:
            raise click.BadParameter("--subject must be a subject id (UUID)") from None
        try:
            with rt.database.unit_of_work() as session:
                page = service.search(session=session, actor=Actor.operator(), filters=filters, cursor=cursor, limit=limit)
        except Problem as exc:
            raise click.ClickException(exc.detail or exc.title) from None
        lines = [f"{'seq':>8} {'time':32} {'actor':20} {'action':28} {'outcome':8} {'purpose':18} subject"]
        for item in page.events:
            e = item["event"]
            lines.append(f"{item['seq'] or '-':>8} {e['time']:32} {e['actor']['name'][:20]:20} {e['action'][:28]:28} {e['outcome']:8} {(e['purpose'] or '-'):18} {e['subject'] or '-'}")
        if page.next_cursor:
            lines.append(f"more: --cursor {page.next_cursor}")
        emit(as_json, {"events": page.events, "next_cursor": page.next_cursor}, "\n".join(lines))


@audit.command("seal")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--full", is_flag=True, help="Look at every event, not only those newer than the sealing window.")
@click.option("--follow", type=click.FloatRange(0.1, 3600), help="Keep sealing every N seconds.")
@click.option("--json", "as_json", is_flag=True)
def seal_cmd(batch_size: int, full: bool, follow: float | None, as_json: bool) -> None:
    """Link committed events into the hash chain (safe to run on several hosts at once)."""
    from govern.audit import chain

    with _rt() as rt:
        while True:
            result = chain.seal(database=rt.database, batch_size=batch_size, window_seconds=rt.settings.audit_seal_window_seconds, full=full)
            emit(as_json, result.__dict__, f"sealed {result.sealed} events; head seq {result.head_seq} {result.head_hash}")
            if follow is None:
                return
            time.sleep(follow)


@audit.command("checkpoint")
@click.option("--json", "as_json", is_flag=True)
def checkpoint_cmd(as_json: bool) -> None:
    """Seal, then sign a checkpoint and append it to GOVERN_CHECKPOINT_DIR (run on a schedule, also when idle)."""
    from govern.audit import checkpoints

    with _rt() as rt:
        try:
            issued = checkpoints.issue(database=rt.database, settings=rt.settings)
        except checkpoints.AuditIntegrityError as exc:
            _fail_clearly(f"no checkpoint signed: {exc}")
        body = issued.line["body"]
        emit(
            as_json, issued.line,
            f"checkpoint #{body['number']}: {body['tree_size']} events, head {body['head_hash']}, root {body['merkle_root']}, "
            f"key {body['key_id']}\nappended to {rt.settings.audit_checkpoint_dir / checkpoints.CHECKPOINT_FILE}",
        )


@audit.command("export")
@click.option("--from", "time_from", help="ISO time, inclusive (default: the beginning)")
@click.option("--to", "time_to", help="ISO time, exclusive (default: now, ending on a fresh checkpoint)")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "ocsf"]), default="jsonl", show_default=True, help="ocsf adds events.ocsf.jsonl")
@click.option("--json", "as_json", is_flag=True)
def export_cmd(time_from: str | None, time_to: str | None, out: Path, fmt: str, as_json: bool) -> None:
    """Export events.jsonl + a signed manifest.json into OUT (rerun the same command to resume)."""
    from govern.audit import checkpoints, export, service, signing
    from govern.identity.actor import Actor

    with _rt() as rt:
        started = time.monotonic()
        line = ProgressLine("exported", "events")

        def show(done: int, total: int) -> None:
            line(Progress(done, total, rate_since(started, done)))

        actor = Actor.operator()
        with rt.database.unit_of_work() as session:
            service.append(session=session, actor=actor, action=AuditAction.EXPORT, resource=f"export:{time_from or '-'}..{time_to or '-'}")
        try:
            result = export.export(database=rt.database, settings=rt.settings, out=out, time_from=_when(time_from), time_to=_when(time_to), fmt=fmt, on_progress=show)
        except checkpoints.AuditIntegrityError as exc:
            line.end()
            _fail_clearly(f"the audit log does not verify, so no signed export was made: {exc}")
        except signing.SigningKeyError as exc:
            line.end()
            _fail_clearly(str(exc))
        except (SQLAlchemyError, ValueError, KeyError, OSError) as exc:
            line.end()
            _fail_clearly(f"the export failed ({type(exc).__name__}): {_short(exc)}; run `govern audit verify`")
        line.end()
        emit(
            as_json, {"out": str(result.out), "first_seq": result.first_seq, "last_seq": result.last_seq, "events": result.events, "resumed": result.resumed},
            f"{'resumed; ' if result.resumed else ''}exported seq {result.first_seq}..{result.last_seq} ({result.events} events) to {result.out}\n"
            f"verify with: python audit/verify.py {result.out} --checkpoint {rt.settings.audit_checkpoint_dir}",
        )


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(as_json: bool) -> None:
    """Verify the live log against the checkpoints outside the database; exit 1 (and log an error) if it fails."""
    from govern.audit import integrity

    with _rt() as rt:
        try:
            report = integrity.verify_live(database=rt.database, settings=rt.settings, max_unsealed_seconds=rt.policy.audit.max_unsealed_seconds)
        except (SQLAlchemyError, ValueError, OSError) as exc:
            _fail_clearly(f"the audit log cannot be read for verification ({type(exc).__name__}): {_short(exc)}")
        emit(as_json, report.as_dict(), report.render())
        if not report.ok:
            sys.exit(1)


@audit.command("prove")
@click.argument("seq", type=int, required=False)
@click.option("--consistency", nargs=2, type=int, metavar="FIRST SECOND", help="Prove checkpoint SECOND extends checkpoint FIRST.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the proof here (default: print it).")
def prove_cmd(seq: int | None, consistency: tuple[int, int] | None, out: Path | None) -> None:
    """An inclusion proof for the event at SEQ (check it with `python audit/verify.py --proof FILE`)."""
    from govern.audit import checkpoints, service
    from govern.identity.actor import Actor

    with _rt() as rt:
        try:
            with rt.database.unit_of_work() as session:
                if consistency:
                    proof = checkpoints.consistency_proof(session=session, first=consistency[0], second=consistency[1])
                elif seq is not None:
                    proof = checkpoints.inclusion_proof(session=session, seq=seq, settings=rt.settings)
                else:
                    raise click.UsageError("give SEQ or --consistency FIRST SECOND")
                service.append(session=session, actor=Actor.operator(), action=AuditAction.PROOF, resource=f"audit_chain:{seq or consistency}")
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
        text = json.dumps(proof, ensure_ascii=False, indent=2)
        if out:
            out.write_text(text + "\n", encoding="utf-8")
            click.echo(f"wrote {out}")
        else:
            click.echo(text)


@audit.group("keys")
def keys_group() -> None:
    """The Ed25519 key that signs checkpoints."""


@keys_group.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(as_json: bool) -> None:
    """New signing key; the old one's validity ends now (keys.json) and its private half is destroyed."""
    from govern.audit import checkpoints, service, signing
    from govern.crypto import checks as keychecks
    from govern.identity.actor import Actor

    with _rt() as rt:
        try:
            checkpoints.issue(database=rt.database, settings=rt.settings)  # the last word of the old key
            key = signing.rotate(rt.settings)
        except signing.SigningKeyError as exc:
            raise click.ClickException(str(exc)) from None
        with rt.database.unit_of_work() as session:
            keychecks.record_audit_key(session=session, key_id=key.key_id)  # the key start-up and readiness expect from now on
            service.append(session=session, actor=Actor.operator(), action=AuditAction.SIGNING_KEY_ROTATE, resource=f"audit-key:{key.key_id}")
        checkpoints.issue(database=rt.database, settings=rt.settings)  # the first word of the new one
        emit(as_json, {"key_id": key.key_id, "keys": signing.published_keys(rt.settings)}, f"new signing key {key.key_id}; published in {signing.keys_path(rt.settings)}")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    """Public keys and their validity (keys.json)."""
    from govern.audit import signing

    with _rt() as rt:
        keys = signing.published_keys(rt.settings)
        emit(as_json, keys, "\n".join(f"{k['key_id']}  {k['valid_from']} .. {k['valid_to'] or 'now'}" for k in keys) or "no keys published yet")


@audit.command("purge")
@click.option("--execute", is_flag=True, help="Delete; without it, a dry run that only reports.")
@click.option("--json", "as_json", is_flag=True)
def purge_cmd(execute: bool, as_json: bool) -> None:
    """Delete event rows older than the audit retention (policies/audit.yaml, never under six months), up to the
    newest checkpoint before the cut-off; a signed purge checkpoint states what went, and the chain stays verifiable
    from it on."""
    from govern.audit import checkpoints, integrity
    from govern.identity.actor import Actor

    with _rt() as rt:
        keep_days = rt.policy.audit.retention_days
        if execute and rt.policy.audit.archive:
            _fail_clearly("policies/audit.yaml archive.enabled is true: events leave through `govern audit archive --execute`, which keeps "
                          "them in a verified archive (a purge now would delete what the archive has not taken)")
        try:
            result = integrity.purge(database=rt.database, settings=rt.settings, actor=Actor.operator(), keep_days=keep_days, dry_run=not execute)
        except checkpoints.AuditIntegrityError as exc:
            _fail_clearly(f"the audit log does not verify, nothing was purged: {exc}")
        verb = "would delete" if result.dry_run else "deleted"
        emit(as_json, result.__dict__, f"{verb} {result.events} events through seq {result.through_seq} (checkpoint #{result.checkpoint}); keeping {keep_days} days")


@audit.command("partitions")
@click.option("--json", "as_json", is_flag=True)
def partitions_cmd(as_json: bool) -> None:
    """PostgreSQL: create the partitions of the current and the next periods (policies/audit.yaml `partitions`; the
    audit_partitions job does it every day) and list them. SQLite keeps one plain table."""
    from govern.audit import partitions

    with _rt() as rt:
        policy = rt.policy.audit
        ahead = partitions.ensure_ahead(database=rt.database, period=policy.partition_period, create_ahead=policy.partition_create_ahead)
        with rt.database.unit_of_work() as session:
            parts = partitions.listing(session)
        rows = [{"name": p.name, "from": p.lower.isoformat() if p.lower else None, "to": p.upper.isoformat() if p.upper else None} for p in parts]
        lines = [f"{r['name']:32} {r['from'] or 'default':26} {r['to'] or ''}" for r in rows] or ["audit_events is one plain table (SQLite)"]
        if ahead.created:
            lines.append(f"created {', '.join(ahead.created)}")
        if ahead.default_holds_events:
            lines.append("warning: the default partition holds events (no partition covered their time); they leave with the archive, row by row")
        emit(as_json, {"partitions": rows, "created": ahead.created, "default_holds_events": ahead.default_holds_events}, "\n".join(lines))


@audit.command("archive")
@click.option("--execute", is_flag=True, help="Archive and remove; without it, a dry run listing the periods due.")
@click.option("--json", "as_json", is_flag=True)
def archive_cmd(execute: bool, as_json: bool) -> None:
    """Periods past the audit retention (policies/audit.yaml) leave the database through a verified archive in
    GOVERN_AUDIT_ARCHIVE_DIR: exported (events.jsonl + signed manifest), verified offline, then the partition dropped
    under a signed purge checkpoint naming the archive. Resumable; a second run at once is refused (exit 3)."""
    from govern.audit import archive, checkpoints, signing
    from govern.identity.actor import Actor

    with _rt() as rt:
        policy = rt.policy.audit
        if not execute:
            planned = archive.plan(database=rt.database, policy=policy)
            lines = [f"cut-off {planned.cutoff.isoformat()} ({policy.retention_days} days); due:"]
            lines += [f"  {d.period}  {d.events:>12,} events  {d.partition or '(rows of the default/legacy partition)'}" for d in planned.due] or ["  nothing"]
            emit(as_json, {"cutoff": planned.cutoff.isoformat(), "due": [{**d.__dict__, "start": d.start.isoformat(), "end": d.end.isoformat()} for d in planned.due]},
                  "\n".join(lines))
            return
        started = time.monotonic()
        line = ProgressLine("archived", "events")

        def show(period: str, done: int, total: int) -> None:
            line(Progress(done, total, rate_since(started, done)))

        try:
            result = archive.run(database=rt.database, settings=rt.settings, policy=policy, actor=Actor.operator(), on_progress=show)
        except archive.ArchiveBusy as exc:
            line.end()
            click.echo(f"error: {exc}", err=True)
            sys.exit(3)
        except (checkpoints.AuditIntegrityError, signing.SigningKeyError) as exc:
            line.end()
            _fail_clearly(f"nothing more was archived: {exc}")
        line.end()
        lines = [f"{a.period}: {a.events:,} events out (seq {a.first_seq}..{a.through_seq}, {a.exported:,} in {a.folder}), "
                 f"{'partition ' + a.dropped_partition + ' dropped' if a.dropped_partition else 'rows deleted'} in {a.remove_ms:.0f} ms; "
                 f"signed checkpoint #{a.statement}" for a in result.archived] or ["nothing was due"]
        if result.empty_partitions_dropped:
            lines.append(f"empty partitions dropped: {', '.join(result.empty_partitions_dropped)}")
        if result.refused:
            lines.append(f"stopped: {result.refused}")
        emit(as_json, {"archived": [a.__dict__ for a in result.archived], "empty_partitions_dropped": result.empty_partitions_dropped,
                        "refused": result.refused}, "\n".join(lines))
        if result.refused:
            sys.exit(1)


commands = [audit]
