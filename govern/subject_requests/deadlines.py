"""The deadline engine: a request's acknowledgement and answer deadlines, computed from its recorded events (received,
acknowledged, extended, paused, resumed) and the jurisdiction's rules in policies/jurisdictions.yaml. No figure here.

Counting conventions (docs/requests.md): the day of receipt is day 0; `n calendar_days` ends on receipt + n;
`n months` ends on the same date n months later, or the last day of that month when it has no such date
(Regulation 1182/71 Art. 3(2)(c): 31 January + 1 month = 28/29 February); `n working_days`/`business_days` end on
the n-th working day after receipt on the jurisdiction's calendar. A deadline ends at 23:59:59 local time. Time
paused while waiting for the requester (where the law allows it) moves the deadline by the days it lasted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from govern.errors import Conflict, Misconfigured
from govern.subject_requests.policy import Period, RequestRule, RequestTerms, WorkingCalendar
from govern.timeutil import add_months, as_utc


@dataclass(frozen=True)
class ClockEvent:
    kind: str  # received | acknowledged | extended | paused | resumed | …
    at: datetime


@dataclass(frozen=True)
class Deadlines:
    received_on: date
    acknowledge_by: date | None
    acknowledged_on: date | None
    original_due: date  # the answer deadline before any extension (pauses included)
    due: date  # the deadline in force
    due_at: datetime  # `due` at 23:59:59.999999 local, in UTC
    extensions: int
    paused: bool
    paused_days: int
    provisional: bool  # counted over a calendar year whose holidays are not yet published
    sources: dict[str, str] = field(default_factory=dict)


def _calendar_needed(cal: WorkingCalendar | None, unit: str) -> WorkingCalendar:
    if cal is None:
        raise Misconfigured("calendar_missing", "No working-day calendar", f"A deadline in {unit} needs a calendar in policies/calendars/.")
    return cal


def add_working_days(start: date, n: int, cal: WorkingCalendar, flags: set[str] | None = None) -> date:
    """The n-th working day after `start` (n=0: start itself)."""
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if not cal.covers(day):
            raise Conflict(
                "calendar_not_covered", "Calendar does not cover the deadline",
                f"policies/calendars/{cal.name}.yaml has no entry for {day.year}: add that year's holidays before counting working days into it.",
            )
        if cal.is_provisional(day) and flags is not None:
            flags.add("provisional")
        if cal.is_working_day(day):
            counted += 1
    return day


def add_period(start: date, period: Period, cal: WorkingCalendar | None, flags: set[str] | None = None) -> date:
    if period.unit == "calendar_days":
        return start + timedelta(days=period.period)
    if period.unit == "months":
        return add_months(start, period.period)
    return add_working_days(start, period.period, _calendar_needed(cal, period.unit), flags)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    return as_utc(datetime.combine(day, time(23, 59, 59, 999999), tzinfo=zone))


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return as_utc(moment).astimezone(zone).date()


def _shift(due: date, paused_dates: list[date], unit: str, cal: WorkingCalendar | None, flags: set[str]) -> date:
    if not paused_dates:
        return due
    if unit in ("business_days", "working_days"):
        cal = _calendar_needed(cal, unit)
        return add_working_days(due, sum(1 for d in paused_dates if cal.is_working_day(d)), cal, flags)
    return due + timedelta(days=len(paused_dates))


def compute(*, terms: RequestTerms, rule: RequestRule, calendars: dict, events: Iterable[ClockEvent], now: datetime) -> Deadlines:
    """Every deadline of one request, from its events alone; `now` closes a pause still open."""
    zone = ZoneInfo(terms.time_zone)
    cal = calendars.get(terms.calendar) if terms.calendar else None
    events = sorted(events, key=lambda e: as_utc(e.at))
    received = next((e for e in events if e.kind == "received"), None)
    if received is None:
        raise ValueError("a request's clock needs its received event")
    received_on = local_date(received.at, zone)
    flags: set[str] = set()
    paused_dates: list[date] = []
    paused_since: date | None = None
    acknowledged_on: date | None = None
    extensions = 0
    for e in events:
        if e.kind == "paused" and paused_since is None:
            paused_since = local_date(e.at, zone)
        elif e.kind == "resumed" and paused_since is not None:
            end = local_date(e.at, zone)
            paused_dates += [paused_since + timedelta(days=i) for i in range((end - paused_since).days)]
            paused_since = None
        elif e.kind == "acknowledged" and acknowledged_on is None:
            acknowledged_on = local_date(e.at, zone)
        elif e.kind == "extended":
            extensions += 1
    if paused_since is not None:
        today = local_date(now, zone)
        paused_dates += [paused_since + timedelta(days=i) for i in range(max((today - paused_since).days, 0))]
    if not rule.pause_allowed:
        paused_dates = []
    base = add_period(received_on, rule.respond, cal, flags)
    original = _shift(base, paused_dates, rule.respond.unit, cal, flags)
    due = original
    if extensions and rule.extension is not None:
        for _ in range(min(extensions, rule.extension.max_times)):
            due = add_period(due, Period(rule.extension.period, rule.extension.unit), cal, flags)
    ack_by = add_period(received_on, rule.acknowledge, cal, flags) if rule.acknowledge else None
    sources = {"respond": rule.respond.source}
    if rule.acknowledge:
        sources["acknowledge"] = rule.acknowledge.source
    if rule.extension:
        sources["extension"] = rule.extension.source
    if paused_dates:
        sources["pause"] = rule.pause_source
    return Deadlines(
        received_on=received_on, acknowledge_by=ack_by, acknowledged_on=acknowledged_on, original_due=original, due=due,
        due_at=end_of_day(due, zone), extensions=extensions, paused=paused_since is not None and rule.pause_allowed,
        paused_days=len(paused_dates), provisional="provisional" in flags, sources=sources,
    )
