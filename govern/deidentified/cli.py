"""`govern deidentified key …`: the export key of pseudonymised exports, kept in GOVERN_HOME/export-keys.json apart from
the keyring: create it once, rotate it (later exports cannot be linked with earlier ones), show its versions."""

from __future__ import annotations

import sys

import click

from govern.cli_support import emit


def _path():
    from govern.config import Settings
    from govern.deidentified import keys

    return keys.path_in(Settings.from_env().home)


def _audit(action) -> None:
    from govern.audit import service as audit
    from govern.cli_support import runtime
    from govern.identity.actor import Actor

    with runtime() as rt, rt.database.unit_of_work() as session:
        audit.append(session=session, actor=Actor.operator(), action=action, resource="deidentified:export-key")


@click.group("deidentified")
def deidentified() -> None:
    """Pseudonymised and anonymised exports (PIPL Art. 73): the export key."""


@deidentified.group("key")
def key() -> None:
    """The export key (HMAC-SHA256) that makes pseudonyms; held apart from the data keys."""


@key.command("create")
@click.option("--json", "as_json", is_flag=True)
def create_cmd(as_json: bool) -> None:
    """Create the export key file (refused when one exists: replacing it would silently change every pseudonym)."""
    from govern.audit.tags import DeidentifiedAction
    from govern.deidentified import keys

    path = _path()
    try:
        made = keys.create(path)
    except FileExistsError:
        click.echo(f"{path}: an export key exists; use `govern deidentified key rotate` for a new version", err=True)
        sys.exit(1)
    _audit(DeidentifiedAction.KEY_CREATE)
    emit(as_json, made.describe(), f"export key v{made.active} created in {path} (mode 0600): back it up apart from the keyring")


@key.command("rotate")
@click.option("--json", "as_json", is_flag=True)
def rotate_cmd(as_json: bool) -> None:
    """Add a new key version and make it active: later exports use new pseudonyms, unlinkable with earlier ones."""
    from govern.audit.tags import DeidentifiedAction
    from govern.deidentified import keys
    from govern.errors import Problem

    try:
        rotated = keys.rotate(_path())
    except Problem as exc:
        click.echo(exc.detail, err=True)
        sys.exit(1)
    _audit(DeidentifiedAction.KEY_ROTATE)
    emit(as_json, rotated.describe(), f"export key v{rotated.active} active; earlier versions kept in {rotated.path}")


@key.command("show")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(as_json: bool) -> None:
    """The key versions and their dates (never key material)."""
    from govern.deidentified import keys
    from govern.errors import Problem

    try:
        current = keys.load(_path())
    except Problem as exc:
        click.echo(exc.detail, err=True)
        sys.exit(1)
    d = current.describe()
    emit(as_json, d, "\n".join(f"v{v['version']}{' (active)' if v['version'] == d['active'] else ''}  created {v['created_at']}" for v in d["versions"]))


commands = [deidentified]
