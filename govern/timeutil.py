"""One clock for the whole service, in UTC, so tests and jobs agree on what "now" is."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def add_months(day: date, months: int) -> date:
    """The same date `months` later (earlier when negative), or the last day of that month when it has no such date
    (Regulation 1182/71 Art. 3(2)(c): six months from 31 August ends on the last day of February). The one month
    arithmetic of request deadlines and retention periods."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything govern stores is UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time that states its offset, in UTC; ValueError when it states none or when in UTC it would fall
    outside years 1–9999 (9999-12-31T23:00-12:00), instead of an OverflowError later."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("a date-time without an offset")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("a date-time out of range") from None
