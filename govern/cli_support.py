"""What every `govern …` command shares: the runtime for one command and printing a result as text or JSON."""

from __future__ import annotations

import json
import os
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from govern.timeutil import as_utc

if TYPE_CHECKING:
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
