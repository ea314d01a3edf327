"""Keyset paging shared by the staff queues (data-subject requests, incidents, purge plans, webhook deliveries): a
cursor names the last row shown by its sort instant and id, so a page neither repeats nor skips a row however many
there are (no cap, no offset), and `every` walks all pages for an export of the whole filtered view (issue 19)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Callable, Iterator, TypeVar

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from govern.errors import validation_failed
from govern.timeutil import as_utc

T = TypeVar("T")


def cursor(moment: datetime, ident: uuid.UUID) -> str:
    """The opaque cursor of a row sorted by (moment, id)."""
    return base64.urlsafe_b64encode(f"{as_utc(moment).isoformat()}|{ident}".encode()).decode().rstrip("=")


def read_cursor(text: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) a cursor names; 400 when it is not one of ours (typed by hand, cut short)."""
    try:
        moment, ident = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split("|")
        return as_utc(datetime.fromisoformat(moment)), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_failed({"cursor": ["not a cursor of this queue"]}) from exc


def after(moment_column, id_column, text: str, *, descending: bool = False) -> ColumnElement[bool]:
    """The rows that follow the cursor's row in (moment, id) order, ascending or descending."""
    moment, ident = read_cursor(text)
    if descending:
        return or_(moment_column < moment, and_(moment_column == moment, id_column < ident))
    return or_(moment_column > moment, and_(moment_column == moment, id_column > ident))


def every(fetch: Callable[[str | None], tuple[list[T], str | None]]) -> Iterator[T]:
    """Every row of a paged listing: `fetch(cursor)` answers a page and the next cursor (None on the last)."""
    next_cursor: str | None = None
    while True:
        rows, next_cursor = fetch(next_cursor)
        yield from rows
        if next_cursor is None:
            return
