"""The compliance calendar (issue 19 item 6): request deadlines, incident clocks, duties (drills, reviews, audits)
and expiring purge plans in one view, overdue first, each kind only for a role that may read it; and the same dates
as an iCalendar file (parsed back with the `icalendar` package) holding ids, types and labels, no personal data."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from govern.subject_requests import service as requests_service

from .test_queues import incidents, plans  # noqa: F401  (fixtures)

NOW = datetime.now(timezone.utc)


@pytest.fixture
def dated(runtime, make_subject, incidents, plans):  # noqa: F811
    """An access request received 40 days ago (overdue), one received today, the incidents and plans of test_queues."""
    from tests.subject_requests.conftest import CRM

    sid = make_subject(external_ref="CRM-CAL-1")
    made = {}
    for name, when in (("late", NOW - timedelta(days=40)), ("fresh", NOW)):
        with runtime.database.unit_of_work() as session:
            made[name] = requests_service.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid,
                                               type="access", channel="app", now=when).request.id
    return {"requests": made, "incidents": incidents, "plans": plans, "subject": sid}


def _uids(html: str) -> list[str]:
    return re.findall(r'data-uid="([^"]+)"', html)


def test_the_calendar_shows_every_kind_of_date_overdue_first_to_a_dpo(console_as, dated):
    c = console_as("dpo")
    html = c.get("/console/calendar").get_data(as_text=True)
    uids = _uids(html)
    late, fresh = f"request-{dated['requests']['late']}", f"request-{dated['requests']['fresh']}"
    late_clock = f"incident-{dated['incidents']['late'][0]}-gdpr_authority"
    assert {late, fresh, late_clock, f"plan-{dated['plans']['expiring']}"} <= set(uids)
    assert any(u.startswith("duty-") for u in uids)  # the handler's drills, reviews and audits
    assert uids.index(late) < uids.index(fresh) and uids.index(late_clock) < uids.index(fresh)  # overdue first
    assert "查阅、复制请求答复期限" in html and "CRM-CAL-1" not in html and str(dated["subject"]) not in html
    only = _uids(c.get("/console/calendar?kind=incident&days=30").get_data(as_text=True))
    assert only and all(u.startswith("incident-") for u in only)
    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/calendar").get_data(as_text=True)
    assert "<h1>Compliance calendar</h1>" in en and re.search(r">\w[\w ,]* request due \(CN\)</a>", en) and "Export as iCalendar (.ics)" in en


def test_each_role_sees_only_the_dates_it_may_read(console_as, dated):
    security = _uids(console_as("security").get("/console/calendar").get_data(as_text=True))
    assert security and all(u.startswith("incident-") for u in security)
    auditor = _uids(console_as("auditor").get("/console/calendar").get_data(as_text=True))
    assert not any(u.startswith(("request-", "incident-")) for u in auditor)
    assert console_as("admin").get("/console/calendar").status_code == 403


def test_the_calendar_exports_as_icalendar_with_stable_uids_and_no_personal_data(console_as, dated):
    c = console_as("dpo")
    r = c.get("/console/calendar.ics")
    assert r.status_code == 200 and r.mimetype == "text/calendar" and "attachment" in r.headers["Content-Disposition"]
    cal = Calendar.from_ical(r.data)
    events = {str(e["uid"]): e for e in cal.walk("VEVENT")}
    late = events[f"request-{dated['requests']['late']}@govern"]
    assert str(late["summary"]).startswith("已逾期: ") and late.decoded("dtstart") < NOW
    assert str(late["url"]).endswith(f"/console/requests/{dated['requests']['late']}")
    duty = next(e for uid, e in events.items() if uid.startswith("duty-"))
    assert isinstance(duty.decoded("dtstart"), date) and not isinstance(duty.decoded("dtstart"), datetime)  # an all-day date
    text = r.data.decode()
    assert "CRM-CAL-1" not in text and str(dated["subject"]) not in text and "Laptop stolen" not in text  # no incident title either
    again = Calendar.from_ical(c.get("/console/calendar.ics").data)
    assert {str(e["uid"]) for e in again.walk("VEVENT")} == set(events)  # the same UIDs: a re-import updates, not duplicates


def _day_of(html: str, uid: str) -> str:
    """The day (data-day) of the agenda block or month cell that holds the date `uid`."""
    return re.findall(r'data-day="([0-9-]+)"', html.split(f'data-uid="{uid}"')[0])[-1]


def test_the_month_view_shows_the_agenda_s_dates_of_that_month_on_a_grid_of_weeks(console_as, dated):
    c = console_as("dpo")
    agenda = c.get("/console/calendar?days=365").get_data(as_text=True)
    fresh = f"request-{dated['requests']['fresh']}"
    due = _day_of(agenda, fresh)[:7]  # the month its deadline falls in
    html = c.get(f"/console/calendar?view=month&month={due}").get_data(as_text=True)
    grid = html.split('id="month"')[1].split("</table>")[0]
    assert 'id="agenda"' not in html and re.findall(r"<tr>", grid)[1:] and grid.count("<td") % 7 == 0  # whole weeks
    assert fresh in _uids(grid) and set(_uids(grid)) <= set(_uids(agenda))  # the same dates, the same colours and links
    assert _day_of(grid, fresh) == _day_of(agenda, fresh)  # on its own day
    assert all(day.startswith(due) for day in re.findall(r'<td class="day[^"]*" data-day="([^"]+)"', grid))
    late = f"request-{dated['requests']['late']}"  # overdue: on its own month's grid, in red
    before = c.get(f"/console/calendar?view=month&month={_day_of(agenda, late)[:7]}").get_data(as_text=True)
    year, month = map(int, due.split("-"))
    after = f"{year + month // 12:04d}-{month % 12 + 1:02d}"  # seen from a later month, it is counted above the grid, linked to the agenda
    later = c.get(f"/console/calendar?view=month&month={after}").get_data(as_text=True)
    assert late not in _uids(later) and re.search(r'id="overdue-before"><a href="/console/calendar\?[^"]*">[^<]*\d', later)
    assert late in _uids(before) and re.search(rf'<span class="badge bad">[^<]+</span>\s*<a href="/console/requests/{dated["requests"]["late"]}"', before)
    assert 'id="view-agenda"' in html and 'id="view-month" href="/console/calendar?view=month' in html and 'id="previous-month"' in html
    assert "<th scope=\"col\">周一</th>" in grid
    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/calendar?view=month").get_data(as_text=True)
    assert '<th scope="col">Mon</th>' in en and ">Month</a>" in en and ">Agenda</a>" in en
    assert c.get("/console/calendar?view=month&month=not-a-month").status_code == 200  # this month instead


def test_the_month_view_names_its_month_and_the_months_beside_it_as_each_language_writes_them(console_as):
    c = console_as("dpo")
    nav = lambda: re.search(r'id="month-nav">(.+?)</p>', c.get("/console/calendar?view=month&month=2026-12").get_data(as_text=True), re.S).group(1)  # noqa: E731
    zh = nav()
    assert '>← 2026年11月</a>' in zh and '<time datetime="2026-12">2026年12月</time>' in zh and '>2027年1月 →</a>' in zh
    c.post("/console/preferences", {"language": "en"})
    en = nav()
    assert '>← November 2026</a>' in en and '<time datetime="2026-12">December 2026</time>' in en and '>January 2027 →</a>' in en


@pytest.mark.browser
def test_in_a_browser_the_month_view_is_a_grid_on_a_laptop_and_the_agenda_on_a_phone_in_both_languages(page, make_staff, dated):
    from .test_browser_flows import _sign_in, _submit

    fresh = f"request-{dated['requests']['fresh']}"
    _sign_in(page, make_staff("dpo").name, "/console/calendar")
    for lang, monday in (("zh", "周一"), ("en", "Mon")):
        if lang == "en":
            _submit(page, "#switch-language")
        page.set_viewport_size({"width": 1366, "height": 900})
        due = page.locator(f'#agenda li.day:has(li[data-uid="{fresh}"])').get_attribute("data-day")[:7]
        _submit(page, "#view-month")
        if page.locator("#month-title time").get_attribute("datetime") != due:
            _submit(page, "#next-month")  # its deadline falls next month
        assert page.locator("#month-title time").get_attribute("datetime") == due
        assert page.locator("#month thead th").first.inner_text() == monday and page.locator("#month tbody tr").count() >= 4
        assert page.locator(f'#month li[data-uid="{fresh}"] a').is_visible()
        page.focus(f'#month li[data-uid="{fresh}"] a')  # reachable by keyboard: Enter opens the request
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith(f"/console/requests/{dated['requests']['fresh']}")
        page.go_back()
        page.set_viewport_size({"width": 390, "height": 800})  # a phone: only the days with dates, one under the other
        assert not page.locator("#month thead").is_visible() and page.locator(f'#month li[data-uid="{fresh}"] a').is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing sideways
        assert all(not cell.is_visible() for cell in page.locator("#month td.empty").all()[:5])
        _submit(page, "#view-agenda")
        assert page.locator(f'#agenda li[data-uid="{fresh}"]').count() == 1
