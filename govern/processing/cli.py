"""`govern processing records`: the records of processing, for the DPO's file or a regulator's request."""

from __future__ import annotations

import json

import click


@click.group("processing")
def processing() -> None:
    """Records of processing activities (generated, never hand-written)."""


@processing.command("records")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
def records_cmd(lang: str, fmt: str) -> None:
    """Print the records of processing as JSON or CSV."""
    from govern.cli import _runtime
    from govern.identity.actor import Actor
    from govern.processing import service

    rt = _runtime()
    with rt.database.unit_of_work() as session:
        document = service.records(session=session, policy=rt.policy, actor=Actor.operator(), language=lang)
    click.echo(service.as_csv(document) if fmt == "csv" else json.dumps(document, ensure_ascii=False, indent=2), nl=fmt != "csv")


commands = [processing]
