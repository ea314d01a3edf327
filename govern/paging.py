"""Keyset paging shared by the staff queues (data-subject requests, incidents, purge plans, webhook deliveries): a
cursor names the last row shown by its sort instant and id, so a page neither repeats nor skips a row however many
there are (no cap, no offset), and `every` walks all pages for an export of the whole filtered view (issue 19)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session
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


def within(query: Select[Any], column: Any, start: datetime | None, before: datetime | None) -> Select[Any]:
    """The rows whose `column` lies from `start` (included) to `before` (excluded); an end left None is open."""
    if start is not None:
        query = query.where(column >= as_utc(start))
    if before is not None:
        query = query.where(column < as_utc(before))
    return query


def latest_first(session: Session, query: Select[Any], moment_column: Any, id_column: Any, after_cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """One page of `query`'s rows, latest `moment_column` first (ties by id, descending), from the row after
    `after_cursor`; with the cursor of the next page, None on the last."""
    if after_cursor:
        query = query.where(after(moment_column, id_column, after_cursor, descending=True))
    found = list(session.scalars(query.order_by(moment_column.desc(), id_column.desc()).limit(limit + 1)))
    more, found = len(found) > limit, found[:limit]
    return found, cursor(getattr(found[-1], moment_column.key), getattr(found[-1], id_column.key)) if more else None


def every(fetch: Callable[[str | None], tuple[list[T], str | None]]) -> Iterator[T]:
    """Every row of a paged listing: `fetch(cursor)` answers a page and the next cursor (None on the last)."""
    next_cursor: str | None = None
    while True:
        rows, next_cursor = fetch(next_cursor)
        yield from rows
        if next_cursor is None:
            return
