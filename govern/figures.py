"""Counts over time for the console's charts (issue 19 item 5): days and weeks (Monday first) in the policy's time
zone (policies/console.yaml `display.default_time_zone`, the zone the console shows times in) — an event at Sunday
23:30 UTC is Monday 07:30 in Shanghai and counts in Monday's week there. The local day of a timestamp in SQL on either
database, the instants a span of local days covers, and the Mondays and days of a span. Domains count their own rows
with these and hand out aggregates only — numbers per day, week, type, jurisdiction or purpose, never an id or a value."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import case, func, literal
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from govern.timeutil import as_utc

UTC = timezone.utc


def span(since: date, until: date, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The instants [start, end) (UTC) that the local days `since` to `until` (both included) cover in `zone`."""
    start = datetime.combine(since, time.min, tzinfo=zone).astimezone(UTC)
    return start, datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)


def local_date(moment: datetime, zone: tzinfo = UTC) -> date:
    """The day an instant falls on in `zone`."""
    return as_utc(moment).astimezone(zone).date()


def _offsets(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[datetime, int]]:
    """[(from, the zone's UTC offset in minutes from then)] over [start, end): one entry unless a clock change
    (daylight saving) falls inside. A change is found hour by hour, then to the minute."""

    def minutes(at: datetime) -> int:
        offset = at.astimezone(zone).utcoffset() or timedelta(0)
        return int(offset.total_seconds() // 60)

    out = [(start, minutes(start))]
    at = start
    while at < end:
        step = min(at + timedelta(hours=1), end)
        if minutes(step) != out[-1][1]:
            low, high = at, step  # the change lies in (low, high]
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                low, high = (low, mid) if minutes(mid) != out[-1][1] else (mid, high)
            out.append((high, minutes(high)))
        at = step
    return out


def local_day(session: Session, column: Any, zone: tzinfo = UTC, *, start: datetime, end: datetime) -> ColumnElement[str]:
    """The day of a timestamp column in `zone` as 'YYYY-MM-DD' text, exact for rows in [start, end). PostgreSQL
    converts with its own zone database; SQLite (which has none, and holds govern's timestamps as UTC text) shifts by
    the zone's offset, piecewise where a clock change falls inside the span."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(getattr(zone, "key", "UTC"), column), "YYYY-MM-DD")
    pieces = _offsets(as_utc(start), as_utc(end), zone)

    def shifted(minutes: int) -> ColumnElement[str]:
        return func.strftime("%Y-%m-%d", column, f"{minutes:+d} minutes") if minutes else func.strftime("%Y-%m-%d", column)

    if len(pieces) == 1:
        return shifted(pieces[0][1])
    whens = [(column < literal(until, column.type), shifted(minutes)) for (_, minutes), (until, _) in zip(pieces, pieces[1:], strict=False)]
    return case(*whens, else_=shifted(pieces[-1][1]))


def week_of(day: date | datetime, zone: tzinfo | None = None) -> date:
    """The Monday that starts the week of a day; of an instant, its day in `zone` when one is given."""
    if isinstance(day, datetime):
        d = local_date(day, zone) if zone is not None else day.date()
    else:
        d = day
    return d - timedelta(days=d.weekday())


def weeks(since: date, until: date) -> list[date]:
    """The Mondays of every week from the one holding `since` to the one holding `until`, oldest first."""
    first, last = week_of(since), week_of(until)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def as_day(text: str) -> date:
    return date.fromisoformat(str(text)[:10])
