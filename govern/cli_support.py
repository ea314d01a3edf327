"""What every `govern …` command shares: the runtime for one command and printing a result as text or JSON."""

from __future__ import annotations

import json
from typing import Any

import click


def emit(as_json: bool, payload: Any, text: str) -> None:
    """`payload` as indented JSON with --json, else `text`."""
    click.echo(json.dumps(payload, default=str, ensure_ascii=False, indent=2) if as_json else text)


def runtime():
    """The runtime for one command; its connections are closed when the command ends, however it ends (also usable as
    `with runtime() as rt:`)."""
    from govern.app import build_runtime
    from govern.config import Settings
    from govern.logging import STDERR, configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, stream=STDERR)
    rt = build_runtime(settings)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(rt.database.dispose)
    return rt
