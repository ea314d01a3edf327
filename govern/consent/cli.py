"""`govern consent …`: figures, the preference export for offline channels, and a check of the derived state."""

from __future__ import annotations

import json
import sys

import click

from govern.cli_support import runtime


@click.group("consent")
def consent() -> None:
    """Consent registry: figures, preference export, state verification."""


@consent.command("figures")
@click.option("--json", "as_json", is_flag=True)
def figures_cmd(as_json: bool) -> None:
    """Per purpose: grants that count, withdrawals, grants awaiting re-consent."""
    from govern.consent import reports
    from govern.identity.actor import Actor

    rt = runtime()
    with rt.database.unit_of_work() as session:
        rows = reports.figures(session=session, policy=rt.policy, actor=Actor.operator())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{'purpose':20} {'current':10} {'granted':>8} {'withdrawn':>10} {'reconsent':>10}")
    for r in rows:
        click.echo(f"{r['purpose']:20} {r['current_version'] or '-':10} {r['granted']:>8} {r['withdrawn']:>10} {r['pending_reconsent']:>10}")


@consent.command("export")
@click.option("--purpose", default=None, help="One purpose (default: all).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None, help="File to write (default: stdout).")
def export_cmd(purpose: str | None, out: str | None) -> None:
    """Current preferences as CSV (subject_id, purpose, preference, …) for call centres and mailings."""
    from govern.consent import reports
    from govern.errors import Problem
    from govern.identity.actor import Actor

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            text = reports.to_csv(reports.preferences(session=session, policy=rt.policy, actor=Actor.operator(), purpose=purpose))
    except Problem as exc:
        click.echo(f"error: {exc.detail or exc.title}", err=True)
        sys.exit(1)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {text.count(chr(10)) - 1} row(s) to {out}", err=True)
    else:
        click.echo(text, nl=False)


@consent.command("verify")
@click.option("--json", "as_json", is_flag=True)
def verify_cmd(as_json: bool) -> None:
    """Recompute every current state from the events and report disagreements (exit 1 if any)."""
    from govern.consent import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        result = service.verify_states(session=session)
    if as_json:
        click.echo(json.dumps(result, default=str))
    else:
        click.echo(f"{result['checked']} state(s) checked, {len(result['mismatches'])} mismatch(es)")
        for m in result["mismatches"]:
            click.echo(f"  subject {m['subject_id']} purpose {m['purpose']}: state {m['state']} but events say {m['events']}")
    if result["mismatches"]:
        sys.exit(1)


commands = [consent]
