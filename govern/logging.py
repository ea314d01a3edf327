"""Structured JSON logs through structlog: a request id on every line, and no personal-data value ever rendered."""

from __future__ import annotations

import logging
import sys
from typing import Any, Iterable

import structlog

# Keys that carry values rather than ids: never rendered, whatever the caller passes.
ALWAYS_REDACTED = frozenset({"value", "values", "payload", "fields_values", "body", "password", "api_key", "token"})
REDACTED = "[redacted]"


class PersonalDataFilter:
    """Drops any key the catalog names as a personal-data field, plus keys that carry values."""

    def __init__(self, personal_keys: Iterable[str] = ()) -> None:
        self.blocked = set(ALWAYS_REDACTED) | set(personal_keys)

    def extend(self, personal_keys: Iterable[str]) -> None:
        self.blocked |= set(personal_keys)

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        for key in list(event):
            if key in self.blocked:
                event[key] = REDACTED
        return event


personal_data_filter = PersonalDataFilter()


class _Standard:
    """sys.stdout or sys.stderr, resolved at each write, so redirection after start-up (tests, daemons, a command run
    inside another program) is honoured and a stream closed since is never written to."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        return getattr(sys, self.name).write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()


STDOUT, STDERR = _Standard("stdout"), _Standard("stderr")


def configure_logging(level: str = "INFO", stream=None) -> None:
    """JSON lines to stdout (or `stream`), shared by the app, gunicorn workers and the CLI."""
    stream = stream or STDOUT
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        personal_data_filter,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (werkzeug, gunicorn, alembic) go to stderr at
    # WARNING and above only: their INFO lines can echo request lines that structlog cannot filter.
    handler = logging.StreamHandler(STDERR)
    handler.setFormatter(stdlib_json_formatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    logging.captureWarnings(True)  # a library's DeprecationWarning too: a JSON line, not a bare `file:line: …` text


def stdlib_json_formatter() -> logging.Formatter:
    """Renders a standard-library record (gunicorn's arbiter and workers, alembic, werkzeug) as the same JSON line
    structlog writes, so an operator's log pipeline parses one format: level, time, logger, event."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            personal_data_filter,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer(ensure_ascii=False)],
    )


def get_logger(name: str = "govern") -> Any:
    return structlog.get_logger(name)
