"""Hostile input is a client error, never a 500: one place for each class of it.

- JSON bodies: nesting deeper than MAX_JSON_DEPTH, integers outside a 64-bit signed column, numbers that are not
  finite (1e400, NaN, Infinity) are refused with 400 before any parser of the request sees the body (Python's own
  decoder would raise RecursionError at ~1,000 levels, and ValueError past 4,300 digits, both outside what Flask
  and webargs turn into a 400).
- Integer ids in paths: the `int` converter matches only what a BIGINT column holds, so /runs/9223372036854775808 is
  the 404 of a missing run instead of a driver overflow.
- A value the database cannot hold (OverflowError from the SQLite driver or from date arithmetic past year 9999,
  PostgreSQL's data exceptions, SQLSTATE class 22) is a 400 `out_of_range`, whatever route it came through.
- A statement that waited for a lock longer than GOVERN_DB_LOCK_TIMEOUT_MS (PostgreSQL lock_timeout, SQLSTATE
  55P03), was cancelled by GOVERN_DB_STATEMENT_TIMEOUT_MS (57014), or found SQLite busy past its busy timeout is
  a 503 `database_busy` with Retry-After: nothing was changed, the client may try again. (An audit write that waited
  is the audit log's own 503 `audit_unavailable`, with the same Retry-After.)
- Two requests that raced for one unique value (IntegrityError at the database after both passed their checks): 409.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, current_app, request
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from werkzeug.routing import IntegerConverter

from govern.errors import BUSY_RETRY_AFTER_SECONDS, Problem, problem_response, validation_failed
from govern.logging import get_logger

MAX_JSON_DEPTH = 32  # the deepest body govern accepts (a record's payload, an incident's texts) needs a handful
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise _Refused("an integer outside the 64-bit range")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Refused("an integer outside the 64-bit range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("a number too large to represent")
    return value


def _constant(text: str) -> float:
    raise _Refused(f"{text} is not a JSON number")


def _depth_exceeds(node: Any, limit: int) -> bool:
    stack = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def check_json_body() -> None:
    """before_request: a JSON body within the limits above, or 400 naming the limit (never echoing the value)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    raw = request.get_data(cache=True)
    # One parse with hooks that see every number as its text (0.7 ms for a check of 10,000 ids, as fast as a plain
    # parse); the walk for depth only when the body has more brackets than the limit at all.
    try:
        data = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise validation_failed({"body": [f"JSON nested deeper than {MAX_JSON_DEPTH} levels"]}) from None
    except _Refused as exc:
        raise validation_failed({"body": [f"JSON holds {exc}"]}) from None
    except ValueError:
        return  # not JSON at all: the request's own parser answers that (400)
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _depth_exceeds(data, MAX_JSON_DEPTH):
        raise validation_failed({"body": [f"JSON nested deeper than {MAX_JSON_DEPTH} levels"]})


class Int64Converter(IntegerConverter):
    """`<int:…>` that matches only non-negative integers a BIGINT holds; anything larger is no route (404)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None, signed: bool = False) -> None:  # noqa: A002
        bounded = INT64_MAX if max is None or max > INT64_MAX else max
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=bounded, signed=signed)


def _busy(exc: OperationalError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in ("55P03", "57014"):  # lock_not_available (lock_timeout), query_canceled (statement_timeout)
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)


def install(app: Flask) -> None:
    """The converter (before any route is added), the body check and the handlers of this module."""

    log = get_logger("govern.input")
    app.url_map.converters["int"] = Int64Converter

    def _out_of_range(exc: Exception):
        log.info("value_out_of_range", error_type=type(exc).__name__)
        return problem_response(Problem(400, "out_of_range", "Value out of range", "A value in the request is beyond what can be stored or computed."))

    @app.errorhandler(OverflowError)
    def _overflow(exc: OverflowError):
        return _out_of_range(exc)

    @app.errorhandler(DataError)
    def _data(exc: DataError):
        return _out_of_range(exc)

    @app.errorhandler(IntegrityError)
    def _conflict(exc: IntegrityError):
        # Two requests raced for the same unique value (or a row another request just removed): the loser's insert
        # fails at the database after its own check passed. The client reads again and decides.
        log.warning("integrity_conflict", error_type=type(exc.orig).__name__)
        return problem_response(Problem(409, "conflict", "Conflict", "The request conflicts with a concurrent change; read again and retry."))

    @app.errorhandler(OperationalError)
    def _operational(exc: OperationalError):
        if exc.connection_invalidated:
            # The server ended the connection (a restart, a fail-over): this request's statements did not commit, and
            # the pools start afresh, so the client's retry is served on a new connection.
            log.warning("database_connection_lost", error_type=type(exc.orig).__name__)
            current_app.extensions["govern"].database.connection_lost()
            return problem_response(Problem(
                503, "database_unavailable", "Database unavailable",
                "The connection to the database was lost and the request was not carried out; try again.",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            ))
        if not _busy(exc):
            log.error("unhandled_error", error_type=type(exc).__name__)
            return problem_response(Problem(500, "internal_error", "Internal error", "The request failed; nothing was changed."))
        log.warning("database_busy", error_type=type(exc.orig).__name__)
        return problem_response(Problem(
            503, "database_busy", "Database busy", "The request waited too long for the database and was not carried out; try again.",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        ))
