"""What every `govern …` command shares: initialising the home, keyring and database (`govern init`, `serve` and
`restore`), the runtime for one command and printing a result as text or JSON."""

from __future__ import annotations

import json
import os
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from govern.timeutil import as_utc

if TYPE_CHECKING:
    from govern.config import Settings
    from govern.runtime import Runtime


def emit(as_json: bool, payload: Any, text: str) -> None:
    """`payload` as indented JSON with --json, else `text`."""
    click.echo(json.dumps(payload, default=str, ensure_ascii=False, indent=2) if as_json else text)


def operator_zone() -> tzinfo:
    """The zone an operator reads times in: `TZ` when it names a zone (Asia/Shanghai, Europe/Berlin), else the host's."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    zone = datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def local_time(at: datetime | None) -> str:
    """A time in a CLI table: ISO 8601 to the second with its offset, in the operator's zone. A deadline kept as the
    last instant of a day (…23:59:59.999999 UTC) reads 23:59:59 there, not a fraction of a second. --json keeps UTC."""
    return as_utc(at).astimezone(operator_zone()).isoformat(timespec="seconds") if at else "-"


def runtime() -> Runtime:
    """The runtime for one command; its connections are closed when the command ends, however it ends (also usable as
    `with runtime() as rt:`)."""
    from govern.config import Settings
    from govern.logging import STDERR, configure_logging
    from govern.runtime import build_runtime

    settings = Settings.from_env()
    configure_logging(settings.log_level, stream=STDERR)
    rt = build_runtime(settings)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(rt.database.dispose)
    return rt


def initialise(settings: Settings) -> dict:
    """Creates GOVERN_HOME (0700) and tightens looser modes under it, checks the policies, migrates the database, then
    checks the keyring against it — creating one only for a database that holds nothing encrypted yet."""
    from govern.crypto import checks
    from govern.db import Database
    from govern.files import fix_modes, make_home
    from govern.migrate import upgrade
    from govern.policies import load_policy

    make_home(settings)
    fixed = fix_modes(settings)
    load_policy(settings.policies_dir)
    database = Database(settings.database_url)
    try:
        # Schema changes as the owner role (GOVERN_MIGRATION_DATABASE_URL) when one is set; the serving role has DML only.
        owner = Database(settings.migration_url) if settings.migration_url != settings.database_url else database
        try:
            before, after = upgrade(owner.engine)
        finally:
            if owner is not database:
                owner.dispose()
        keys, created = checks.init_keyring(settings=settings, database=database)
        master_keys = keys.describe()
        keys.close()  # a token's session: each later command opens its own
        from govern.retention.ledger import open_missing_ledgers

        # Empty erasure and purge ledgers where the database has nothing they would hold: a restore then tells a lost
        # ledger from one that was never written to.
        ledgers_created = open_missing_ledgers(home=settings.home, database=database)
        from govern.deidentified.keys import create_if_missing

        # The export key of pseudonymised exports (govern/deidentified), in a file of its own: made once, never replaced.
        export_key_created = create_if_missing(settings.home)
    finally:
        database.dispose()
    return {
        "home": str(settings.home), "keyring": master_keys["path"], "keyring_created": created, "master_keys": master_keys, "migrated_from": before, "migrated_to": after,
        "ledgers_created": ledgers_created,
        "export_key_created": export_key_created,
        "modes_fixed": [{"path": str(f.path), "old_mode": oct(f.old), "new_mode": oct(f.new)} for f in fixed],
    }
