"""One clock for the whole service, in UTC, so tests and jobs agree on what "now" is."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def add_months(day: date, months: int) -> date:
    """The same date `months` later (earlier when negative), or the last day of that month when it has no such date
    (Regulation 1182/71 Art. 3(2)(c): six months from 31 August ends on the last day of February). The one month
    arithmetic of request deadlines and retention periods."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def months_later(start: datetime, months: int) -> datetime:
    """The instant `months` calendar months after `start`: the same time on the same date, or, when that month has no
    such date, the end of its last day (the next midnight): six months from 31 August 10:00 run to 1 March 00:00."""
    day = add_months(start.date(), months)
    if day.day != start.day:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=start.tzinfo)
    return start.replace(year=day.year, month=day.month, day=day.day)


def months_cutoff(now: datetime, months: int) -> datetime:
    """The latest instant whose `months` calendar months have run by `now` (the exact inverse of `months_later`:
    `months_later(t, n) <= now` exactly when `t <= months_cutoff(now, n)`). Never a count of days: six months back
    from 1 January is 1 July (184 days), from 1 September is 1 March (184 or 185)."""
    day = add_months(now.date(), -months)
    if day.day != now.day:
        # That month has no such date (31 March, one month back): every start on its last day has run by now.
        return datetime.combine(day, time.max, tzinfo=now.tzinfo)
    return now.replace(year=day.year, month=day.month, day=day.day)


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
