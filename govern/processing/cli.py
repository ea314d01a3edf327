"""`govern processing …`: the records of processing (as of any instant), their kept versions; `govern compliance …`:
the handler's own duties and the signed compliance audit pack for an external auditor."""

from __future__ import annotations

import json
import sys
from datetime import datetime, time, timezone
from pathlib import Path

import click

from govern.cli_support import emit, runtime


def _instant(value: str | None, what: str) -> datetime | None:
    """An ISO date (midnight UTC) or a date-time with an offset."""
    if value is None:
        return None
    from govern.timeutil import parse_instant

    try:
        if len(value) == 10:
            return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.min, tzinfo=timezone.utc)
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(f"{what}: an ISO date (2026-01-01) or a date-time with an offset") from None


@click.group("processing")
def processing() -> None:
    """Records of processing activities (generated from policy, every version kept)."""


@processing.command("records")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--as-of", "as_of", default=None, help="The versions in force at this date or instant (default: now).")
def records_cmd(lang: str, fmt: str, as_of: str | None) -> None:
    """Print the records of processing as JSON or CSV."""
    from govern.identity.actor import Actor
    from govern.processing import service

    at = _instant(as_of, "--as-of")
    rt = runtime()
    with rt.database.unit_of_work() as session:
        document = service.records(session=session, policy=rt.policy, actor=Actor.operator(), settings=rt.settings, language=lang, as_of=at)
    click.echo(service.as_csv(document) if fmt == "csv" else json.dumps(document, ensure_ascii=False, indent=2), nl=fmt != "csv")


@processing.command("history")
@click.argument("kind", type=click.Choice(["controller", "activity", "assessment"]))
@click.argument("key")
def history_cmd(kind: str, key: str) -> None:
    """Every kept version of one record (a purpose, an assessment reference, or `controller controller`)."""
    from govern.identity.actor import Actor
    from govern.processing import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        versions = service.history(session=session, actor=Actor.operator(), kind=kind, key=key)
    emit(True, versions, "")


def keep_records(settings=None, actor=None) -> int:
    """Stores the versions of the records of processing that took effect (`govern serve` calls it at start-up)."""
    from govern.identity.actor import Actor
    from govern.processing import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        stored = service.sync(session=session, policy=rt.policy, actor=actor or Actor(name="system:start-up", kind="system"), settings=rt.settings)
    return len(stored)


@processing.command("sync")
@click.option("--json", "as_json", is_flag=True)
def sync_cmd(as_json: bool) -> None:
    """Store a new version of every record of processing that changed (nothing is stored twice)."""
    from govern.identity.actor import Actor

    stored = keep_records(actor=Actor.operator())
    emit(as_json, {"stored": stored}, f"{stored} new version(s) stored")


@click.group("compliance")
def compliance() -> None:
    """The handler's own duties (PIPL Art. 52, 54; CSL Art. 21; the data-security policy) and the audit pack."""


@compliance.command("duties")
@click.option("--json", "as_json", is_flag=True)
def duties_cmd(as_json: bool) -> None:
    """The duties as tasks: status, last done, next due. Exit status 2 when one is overdue or not met."""
    from govern.identity.actor import Actor
    from govern.processing import duties

    rt = runtime()
    with rt.database.unit_of_work() as session:
        result = duties.tasks(session=session, policy=rt.policy, actor=Actor.operator())
    lines = [f"subjects held: {result['subjects']}", f"{'duty':24} {'status':15} {'every/within':13} {'last done':11} next due"]
    for t in result["tasks"]:
        lines.append(f"{t['key']:24} {t['status']:15} {t['period'] or '-':13} {t['last_done'] or '-':11} {t['next_due'] or '-'}")
    emit(as_json, result, "\n".join(lines))
    if any(t["status"] in ("overdue", "not_met") for t in result["tasks"]):
        sys.exit(2)


@compliance.command("pack")
@click.option("--from", "time_from", required=True, help="Start of the period (ISO date or date-time with offset), inclusive.")
@click.option("--to", "time_to", default=None, help="End of the period, exclusive (default: now).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="The zip to write (default: compliance-pack-FROM-TO.zip).")
@click.option("--json", "as_json", is_flag=True)
def pack_cmd(time_from: str, time_to: str | None, out: Path | None, as_json: bool) -> None:
    """One signed zip for an external auditor: records of processing and assessments in force in the period, request
    log, breach register, drills, retention runs, access review, duties, the audit-log export and its verifier."""
    from govern.audit.signing import SigningKeyError
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.processing import pack
    from govern.timeutil import utcnow

    start = _instant(time_from, "--from")
    end = _instant(time_to, "--to") or utcnow()
    assert start is not None
    out = out or Path(f"compliance-pack-{start:%Y%m%d}-{end:%Y%m%d}.zip")
    rt = runtime()
    try:
        result = pack.build(database=rt.database, settings=rt.settings, policy=rt.policy, actor=Actor.operator(), start=start, end=end, out=out)
    except Problem as exc:
        click.echo(f"error: {exc.detail or exc.title}", err=True)
        sys.exit(1)
    except SigningKeyError as exc:  # a pack that cannot be signed is not made
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    emit(as_json, {"path": str(result.path), "summary": result.summary, "key_id": result.manifest["key_id"], "files": len(result.manifest["files"])},
         f"{result.path}: {len(result.manifest['files'])} files, signed by {result.manifest['key_id']}")


commands = [processing, compliance]
