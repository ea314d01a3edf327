"""Counts over time for the console's charts (issue 19 item 5): the UTC day of a timestamp in SQL on either database,
and ISO weeks (Monday first). Domains count their own rows with these and hand out aggregates only — numbers per day,
week, type, jurisdiction or purpose, never an id or a value."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def utc_day(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC day of a timestamp column as 'YYYY-MM-DD' text. SQLite holds govern's timestamps as UTC text already."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def week_of(day: date | datetime) -> date:
    """The Monday that starts the ISO week of a day."""
    d = day.date() if isinstance(day, datetime) else day
    return d - timedelta(days=d.weekday())


def weeks(since: date, until: date) -> list[date]:
    """The Mondays of every week from the one holding `since` to the one holding `until`, oldest first."""
    first, last = week_of(since), week_of(until)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def as_day(text: str) -> date:
    return date.fromisoformat(str(text)[:10])
