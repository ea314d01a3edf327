"""The compliance calendar (issue 19 item 6): in one view, every date a DPO must keep — data-subject request
deadlines, incident notification clocks, the handler's duties (drills, reviews, audits, with their next due date) and
purge plans that expire unrun — overdue ones first, then the coming weeks; and the same as an iCalendar file
(RFC 5545, the `icalendar` package) for a calendar application. Each kind of date comes from its domain's service and
shows only to a role that may read that domain; the file carries ids, types, references and labels, never a person's
data or an incident's free-text title (it leaves govern for someone's calendar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, request, url_for
from icalendar import Calendar, Event

from govern.breach import board
from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission
from govern.processing import duties
from govern.retention import service as retention
from govern.subject_requests import figures as request_figures
from govern.subject_requests import service as requests
from govern.timeutil import as_utc, utcnow

from .i18n import month_title
from .views import blp, language, may, page, t, time_zone

WINDOWS = (30, 90, 365)  # days ahead a reader can choose; overdue dates always show
KINDS = ("request", "incident", "duty", "plan")


@dataclass(frozen=True)
class Entry:
    kind: str  # request | incident | duty | plan
    uid: str  # stable across exports: a calendar application updates the event instead of adding a second one
    title: str
    at: datetime | date  # an instant (a deadline, a clock) or a day (a duty's due date)
    overdue: bool
    endpoint: str
    values: dict[str, Any]

    @property
    def day(self) -> date:
        return self.at if not isinstance(self.at, datetime) else as_utc(self.at).astimezone(ZoneInfo(time_zone())).date()

    @property
    def instant(self) -> datetime:
        if isinstance(self.at, datetime):
            return as_utc(self.at)
        return datetime.combine(self.at, time.min, tzinfo=ZoneInfo(time_zone()))


def _requests(now: datetime, horizon: int) -> list[Entry]:
    if not may(Permission.CONSOLE_REQUESTS):
        return []
    rt = current_runtime()
    if not requests.sees_every_request(rt.policy, current_actor()):
        return []
    return [
        Entry("request", f"request-{d.id}", t("calendar.request_due", type=t(f"request_type.{d.type}"), jurisdiction=d.jurisdiction), d.due_at,
              d.overdue, "console.request_detail", {"request_id": d.id})
        for d in request_figures.due(session=rt.session(), policy=rt.policy, now=now, within_days=horizon)
    ]


def _incidents(now: datetime, horizon: int) -> list[Entry]:
    if not may(Permission.CONSOLE_INCIDENTS):
        return []
    rt = current_runtime()
    return [
        Entry("incident", f"incident-{c['incident_id']}-{c['key']}", t("calendar.incident_clock", reference=c["reference"], label=c["label"].get(language(), c["key"])),
              c["due_at"], c["overdue"], "console.incident_detail", {"incident_id": c["incident_id"]})
        for c in board.open_clocks(session=rt.session(), policy=rt.policy, now=now, include_drills=True)
        if c["due_at"] is not None and c["due_at"] <= now + timedelta(days=horizon)
    ]


def _duties(today: date, horizon: int) -> list[Entry]:
    if not may(Permission.CONSOLE_COMPLIANCE):
        return []
    rt = current_runtime()
    tasks = duties.tasks(session=rt.session(), policy=rt.policy, actor=current_actor(), today=today)["tasks"]
    return [
        Entry("duty", f"duty-{x['key']}", t("calendar.duty_due", label=x["label"].get(language(), x["key"])), date.fromisoformat(str(x["next_due"])),
              x["status"] == "overdue", "console.compliance_overview", {})
        for x in tasks
        if x["applies"] and x["next_due"] and x["status"] in ("due", "overdue", "never_done")
        and date.fromisoformat(str(x["next_due"])) <= today + timedelta(days=horizon)
    ]


def _plans(now: datetime, horizon: int) -> list[Entry]:
    if not may(Permission.CONSOLE_RETENTION):
        return []
    rt = current_runtime()
    rows = retention.plan_queue(session=rt.session(), policy=rt.policy, filters=retention.PlanFilters(state="awaiting"), limit=500, now=now)[0]
    return [
        Entry("plan", f"plan-{r.plan.id}", t("calendar.plan_expires", status=t(f"plan_status.{r.status}")), r.expires_at, False,
              "console.retention_plan", {"plan_id": r.plan.id})
        for r in rows if r.expires_at is not None and r.expires_at <= now + timedelta(days=horizon)
    ]


def entries(kinds: tuple[str, ...], horizon: int) -> list[Entry]:
    """Every date of the chosen kinds within `horizon` days (and every overdue one), soonest first."""
    now = utcnow()
    today = now.astimezone(ZoneInfo(time_zone())).date()
    found: list[Entry] = []
    for kind, collect in (("request", lambda: _requests(now, horizon)), ("incident", lambda: _incidents(now, horizon)),
                          ("duty", lambda: _duties(today, horizon)), ("plan", lambda: _plans(now, horizon))):
        if kind in kinds:
            found += collect()
    return sorted(found, key=lambda e: (e.instant, e.uid))


def _choice() -> tuple[tuple[str, ...], int]:
    kinds = tuple(k for k in request.args.getlist("kind") if k in KINDS) or KINDS
    horizon = int(request.args["days"]) if request.args.get("days") in {str(d) for d in WINDOWS} else 90
    return kinds, horizon


def _month(today: date) -> date:
    """The first day of the month the month view shows (?month=YYYY-MM; this month by default)."""
    try:
        return datetime.strptime(request.args.get("month", ""), "%Y-%m").date()
    except ValueError:
        return today.replace(day=1)


def month_grid(first: date, days: dict[date, list[Entry]]) -> list[list[tuple[date, list[Entry]] | None]]:
    """The month's weeks, Monday first: each cell a day of the month with its dates, None outside the month."""
    weeks: list[list[tuple[date, list[Entry]] | None]] = []
    cell = first - timedelta(days=first.weekday())
    while cell.month == first.month or cell < first:
        weeks.append([(d, days.get(d, [])) if d.month == first.month else None for d in (cell + timedelta(days=i) for i in range(7))])
        cell += timedelta(days=7)
    return weeks


def _shift(first: date, months: int) -> str:
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@blp.route("/calendar", methods=["GET"])
@requires(Permission.CONSOLE_CALENDAR)
def calendar():
    """The dates by day: overdue first (in red), today, then the coming days, each linked to its page; or the same
    dates on a month's grid (?view=month)."""
    kinds, horizon = _choice()
    today = utcnow().astimezone(ZoneInfo(time_zone())).date()
    view = "month" if request.args.get("view") == "month" else "agenda"
    first = _month(today)
    if view == "month":  # the whole month shown, however far it lies within a year
        horizon = max(horizon, min(366, (_next_month(first) - today).days))
    found = entries(kinds, horizon)
    days: dict[date, list[Entry]] = {}
    for e in found:
        days.setdefault(e.day, []).append(e)
    args = {"kind": list(kinds), "days": _choice()[1]}
    return page("calendar.html", days=days, today=today, kinds=kinds, all_kinds=KINDS, horizon=args["days"], windows=WINDOWS,
                ics_url=url_for("console.calendar_ics", **args), count=len(found), view=view, view_args=args,
                month=first, weeks=month_grid(first, days) if view == "month" else [], previous=_shift(first, -1), next=_shift(first, 1),
                titles={at: month_title(date.fromisoformat(_shift(first, n) + "-01"), language()) for at, n in (("previous", -1), ("this", 0), ("next", 1))},
                # overdue dates of earlier months stay in sight on this month's grid: how many, and the agenda lists them
                overdue_before=sum(1 for d, items in days.items() if d < first for e in items if e.overdue))


def _next_month(first: date) -> date:
    return date.fromisoformat(_shift(first, 1) + "-01")


@blp.route("/calendar.ics", methods=["GET"])
@requires(Permission.CONSOLE_CALENDAR)
def calendar_ics():
    """The same dates as an iCalendar file: one event per date, its UID stable so a re-import updates it."""
    kinds, horizon = _choice()
    cal = Calendar()
    cal.add("prodid", "-//govern//compliance calendar//" + language())
    cal.add("version", "2.0")
    cal.add("x-wr-calname", t("calendar"))
    stamp = utcnow()
    for e in entries(kinds, horizon):
        event = Event()
        event.add("uid", f"{e.uid}@govern")
        event.add("dtstamp", stamp)
        event.add("dtstart", e.at if not isinstance(e.at, datetime) else as_utc(e.at))
        if not isinstance(e.at, datetime):
            event.add("dtend", e.at + timedelta(days=1))  # an all-day date
        event.add("summary", (t("overdue") + ": " if e.overdue else "") + e.title)
        event.add("categories", [t(f"calendar_kind.{e.kind}")])
        event.add("url", url_for(e.endpoint, _external=True, **e.values))
        cal.add_component(event)
    return Response(cal.to_ical(), mimetype="text/calendar", headers={"Content-Disposition": 'attachment; filename="govern-compliance-calendar.ics"'})
