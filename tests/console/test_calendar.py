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
