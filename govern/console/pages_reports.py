"""Console reports (issue 19 item 5): what a DPO would rather look at than read — requests received and completed
per week by type or jurisdiction, the share answered on time and the median days to close, consent grants and
withdrawals per purpose, purge volumes, audit events per day — drawn as SVG on the server (console/charts.py), each
with its table. The numbers are the domains' own aggregates (counts only: no id, no subject, no value)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import request

from govern import figures
from govern.api_support import current_call
from govern.audit import service as audit
from govern.consent import reports as consent_reports
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.retention import service as retention
from govern.subject_requests import figures as request_figures
from govern.timeutil import utcnow

from .charts import Chart, bars, lines
from .views import HOME_PANELS, blp, language, may, page, t

WEEKS = (4, 12, 26, 52)  # the periods a reader can choose (weeks back from this one); the first page shows 12
AUDIT_DAYS = 30


def _zone() -> ZoneInfo:
    """Days and weeks are the policy's (the zone the console shows times in), the same for every reader."""
    return ZoneInfo(current_runtime().policy.console.default_time_zone)  # the policy only: no call context needed


def _period(weeks: int) -> tuple[date, date, list[date]]:
    today = utcnow().astimezone(_zone()).date()
    since = figures.week_of(today) - timedelta(weeks=weeks - 1)
    return since, today, figures.weeks(since, today)


def _label(day: date) -> str:
    return day.strftime("%m-%d")


def request_charts(weeks: int, by: str) -> list[Chart]:
    since, until, mondays = _period(weeks)
    f = request_figures.weekly(session=current_call().session, since=since, until=until, by=by, zone=_zone())
    labels = [_label(w) for w in mondays]
    name = (lambda k: t(f"request_type.{k}")) if by == "type" else (lambda k: k)
    out = []
    for key, counts in (("received", f.received), ("completed", f.completed)):
        kinds = sorted(set().union(*(c.keys() for c in counts.values())))
        out.append(bars(f"requests-{key}", t(f"chart_requests_{key}_by_{by}"), labels, [(name(k), [counts[w][k] for w in mondays]) for k in kinds]))
    rate = [round(100 * f.on_time[w] / f.closed[w], 1) if f.closed[w] else None for w in mondays]
    out.append(lines("on-time", t("chart_on_time"), labels, [(t("on_time_rate"), rate)], unit="%", top=100))
    out.append(lines("median-days", t("chart_median_days"), labels, [(t("median_days"), [f.median_days[w] for w in mondays])]))
    return out


def consent_charts(weeks: int) -> list[Chart]:
    since, until, mondays = _period(weeks)
    ctx = current_call()
    policy = ctx.policy
    out = []
    for purpose, per_week in consent_reports.trend(session=ctx.session, since=since, until=until, zone=_zone()).items():
        label = (policy.purposes[purpose].label.get(language()) if purpose in policy.purposes else None) or purpose
        out.append(lines(f"consent-{purpose}", t("chart_consent", purpose=label), [_label(w) for w in mondays], [
            (t("granted_events"), [per_week[w]["grant"] for w in mondays]), (t("withdrawn_events"), [per_week[w]["withdraw"] for w in mondays])]))
    return out


def purge_charts(weeks: int) -> list[Chart]:
    since, until, mondays = _period(weeks)
    volumes = retention.purge_volumes(session=current_call().session, since=since, until=until, zone=_zone())
    return [bars("purges", t("chart_purges"), [_label(w) for w in mondays],
                 [(t(f"purged_{kind}"), [volumes[w][kind] for w in mondays]) for kind in ("fields", "records", "subjects")])]


def audit_chart(days: int) -> Chart:
    until = utcnow().astimezone(_zone()).date()  # today where the console shows times, as the other charts' days
    per_day = audit.events_per_day(session=current_call().session, since=until - timedelta(days=days - 1), until=until, zone=_zone())
    return bars("audit-events", t("chart_audit_events", n=days), [_label(d) for d in per_day], [(t("audit_events"), list(per_day.values()))])


@blp.route("/reports", methods=["GET"])
@requires(Permission.CONSOLE_REPORTS)
def reports():
    """Every chart for the chosen period (?weeks=4|12|26|52) and grouping of requests (?by=type|jurisdiction)."""
    weeks = int(request.args["weeks"]) if request.args.get("weeks") in {str(w) for w in WEEKS} else 12
    by = request.args.get("by") if request.args.get("by") in ("type", "jurisdiction") else "type"
    sections = [
        ("requests", request_charts(weeks, by)), ("consent", consent_charts(weeks)), ("purges", purge_charts(weeks)),
        ("audit", [audit_chart(AUDIT_DAYS)]),
    ]
    return page("reports.html", sections=[(k, c) for k, c in sections if c], weeks=weeks, by=by, choices=WEEKS)


def _home_panel():
    """Two charts on the home page: requests received per week by type, and audit events per day."""
    if not may(Permission.CONSOLE_REPORTS):
        return None
    received = [c for c in request_charts(12, "type") if c.id == "requests-received"]
    return {"charts": [*received, audit_chart(14)]}


HOME_PANELS.insert(0, ("charts", _home_panel))
