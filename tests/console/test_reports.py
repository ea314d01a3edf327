"""Charts on the home page and the reports page (issue 19 item 5): requests received and completed per week by type
or jurisdiction, the on-time share and median days to close, consent grants and withdrawals per purpose, purge
volumes and audit events per day — SVG drawn on the server, each with its table, from the domains' aggregates
(counts only: no id, no external reference), in zh and en, for the roles that read reports."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern import figures
from govern.subject_requests import service as requests_service
from tests.consent.conftest import consent, crm  # noqa: F401  (fixtures)
from tests.subject_requests.conftest import file_request  # noqa: F401  (a fixture)

NOW = datetime.now(timezone.utc)


def _table(html: str, chart: str) -> dict[str, list[str]]:
    """A chart's table fallback: {period label: the row's cells}."""
    body = re.search(rf'<table id="chart-{chart}-table">(.*?)</table>', html, re.S).group(1)
    return {m.group(1): re.findall(r"<td>(.*?)</td>", m.group(2)) for m in re.finditer(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', body)}


def test_request_figures_count_each_week_and_the_on_time_share_and_median(runtime, make_subject, file_request):  # noqa: F811
    from govern.identity.actor import Actor
    from govern.subject_requests import figures as request_figures

    staff = Actor(name="dpo", kind="staff", roles=("dpo",))
    sid = make_subject(jurisdiction="EU")
    early = file_request(sid, "access", now=NOW - timedelta(days=14))
    file_request(sid, "erasure", now=NOW - timedelta(days=1))
    with runtime.database.unit_of_work() as session:  # refused four days after receipt: closed on time
        requests_service.refuse(session=session, policy=runtime.policy, actor=staff, request_id=early, reason="manifestly_unfounded",
                                legal_basis="GDPR Art. 12(5)", explanation="test", now=NOW - timedelta(days=10))
    with runtime.database.unit_of_work() as session:
        w = request_figures.weekly(session=session, since=(NOW - timedelta(days=20)).date(), until=NOW.date())
        by_place = request_figures.weekly(session=session, since=(NOW - timedelta(days=20)).date(), until=NOW.date(), by="jurisdiction")
    assert w.received[figures.week_of(NOW - timedelta(days=14))]["access"] == 1
    assert w.received[figures.week_of(NOW - timedelta(days=1))]["erasure"] == 1
    closed_week = figures.week_of(NOW - timedelta(days=10))
    assert (w.closed[closed_week], w.on_time[closed_week], w.median_days[closed_week]) == (1, 1, 4.0)
    assert sum(c["EU"] for c in by_place.received.values()) == 2


def test_the_reports_page_draws_every_chart_with_its_table_and_no_personal_data(runtime, make_subject, file_request, console_as, crm, consent):  # noqa: F811
    sid = make_subject(external_ref="CRM-REPORT-9")
    file_request(sid, "access")
    assert consent(crm, sid, "grant", purpose="marketing").status_code == 201
    assert consent(crm, sid, "withdraw", purpose="marketing").status_code in (200, 201)
    c = console_as("dpo")
    r = c.get("/console/reports")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<h1>统计报表</h1>" in html
    for chart in ("requests-received", "requests-completed", "on-time", "median-days", "consent-marketing", "purges", "audit-events"):
        assert f'id="chart-{chart}"' in html and f'id="chart-{chart}-table"' in html, chart
    assert html.count('<svg class="chart-svg"') >= 3 and 'id="chart-purges-empty"' in html and "<script" not in html  # nothing purged: said, not drawn
    this_week = figures.week_of(NOW, ZoneInfo("Asia/Shanghai")).strftime("%m-%d")  # weeks in the policy's time zone
    assert _table(html, "requests-received")[this_week] == ["1"]  # one access request this week
    assert _table(html, "consent-marketing")[this_week] == ["1", "1"]  # granted, withdrawn
    assert int(_table(html, "audit-events")[NOW.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d")][0]) > 0  # today in Shanghai
    assert str(sid) not in html and "CRM-REPORT-9" not in html  # aggregates only
    by_place = c.get("/console/reports?by=jurisdiction&weeks=4").get_data(as_text=True)
    assert "每周收到的请求（按法域）" in by_place and len(_table(by_place, "requests-received")) == 4
    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/reports").get_data(as_text=True)
    assert "<h1>Reports</h1>" in en and "Requests received per week, by type" in en and "Consent granted and withdrawn: " in en


def test_the_home_page_shows_two_charts_to_roles_that_read_reports(console_as):
    home = console_as("privacy_staff").get("/console/").get_data(as_text=True)
    assert 'id="home-charts"' in home and 'id="chart-audit-events"' in home and 'href="/console/reports"' in home
    assert console_as("auditor").get("/console/reports").status_code == 200
    security = console_as("security")
    assert 'id="home-charts"' not in security.get("/console/").get_data(as_text=True)
    assert security.get("/console/reports").status_code == 403


# --- weeks in the policy's time zone -----------------------------------------------------------------------------------

SHANGHAI = "Asia/Shanghai"
SUNDAY_LATE = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)  # Monday 30 November, 07:30 in Shanghai (UTC+8)


def test_an_event_at_sunday_2330_utc_counts_in_the_week_starting_that_monday_in_shanghai(runtime, make_subject, file_request):  # noqa: F811
    from govern.subject_requests import figures as request_figures

    zone = ZoneInfo(SHANGHAI)
    assert runtime.policy.console.default_time_zone == SHANGHAI  # the zone the console shows times in
    monday, last_monday = SUNDAY_LATE.date() + timedelta(days=1), SUNDAY_LATE.date() - timedelta(days=6)
    assert figures.week_of(SUNDAY_LATE, zone) == monday and figures.week_of(SUNDAY_LATE) == last_monday
    assert figures.span(monday, monday, zone) == (datetime(2026, 11, 29, 16, tzinfo=timezone.utc), datetime(2026, 11, 30, 16, tzinfo=timezone.utc))
    file_request(make_subject(jurisdiction="EU"), "access", now=SUNDAY_LATE)
    with runtime.database.unit_of_work() as session:
        local = request_figures.weekly(session=session, since=last_monday, until=monday + timedelta(days=6), zone=zone)
        utc = request_figures.weekly(session=session, since=last_monday, until=monday + timedelta(days=6))
    assert (local.received[monday]["access"], local.received[last_monday]["access"]) == (1, 0)
    assert (utc.received[monday]["access"], utc.received[last_monday]["access"]) == (0, 1)


LOCAL_DAYS = [  # (zone, an instant, its day there)
    (SHANGHAI, SUNDAY_LATE, "2026-11-30"),
    ("UTC", SUNDAY_LATE, "2026-11-29"),
    ("Europe/Berlin", datetime(2026, 3, 28, 22, 30, tzinfo=timezone.utc), "2026-03-28"),  # 23:30 CET, before the change
    ("Europe/Berlin", datetime(2026, 3, 29, 22, 30, tzinfo=timezone.utc), "2026-03-30"),  # 00:30 CEST, after it
    ("America/New_York", datetime(2026, 11, 2, 3, 30, tzinfo=timezone.utc), "2026-11-01"),  # 22:30 EST, after the change
]


@pytest.mark.parametrize(("zone_name", "moment", "day"), LOCAL_DAYS)
def test_the_local_day_of_a_timestamp_in_sql_follows_the_zone_and_its_clock_changes(runtime, zone_name, moment, day):
    """On PostgreSQL with its zone database; on SQLite by the zone's offsets, piecewise across a clock change."""
    from sqlalchemy import DateTime, literal, select

    zone = ZoneInfo(zone_name)
    start, end = figures.span(date(2026, 3, 1), date(2026, 12, 31), zone)
    with runtime.database.unit_of_work() as session:
        assert session.scalar(select(figures.local_day(session, literal(moment, DateTime(timezone=True)), zone, start=start, end=end))) == day


@pytest.mark.parametrize(("zone_name", "moment", "day"), LOCAL_DAYS)
def test_audit_events_count_on_the_day_they_were_written_in_the_zone_given(runtime, monkeypatch, zone_name, moment, day):
    """The audit chart's days are the policy's, like the other charts': an event is counted on its local day, never
    on its UTC day when the two differ (the clock of audit's append moved to the moment)."""
    from govern.audit import service as audit
    from govern.audit.tags import SubjectAction
    from govern.identity.actor import Actor

    monkeypatch.setattr(audit, "utcnow", lambda: moment)
    with runtime.database.unit_of_work() as session:
        audit.append(session=session, actor=Actor(name="dpo", kind="staff", roles=("dpo",)), action=SubjectAction.READ, resource="subjects")
    on = date.fromisoformat(day)
    with runtime.database.unit_of_work() as session:
        counted = audit.events_per_day(session=session, since=on - timedelta(days=1), until=on + timedelta(days=1), zone=ZoneInfo(zone_name))
    assert counted == {on - timedelta(days=1): 0, on: 1, on + timedelta(days=1): 0}
