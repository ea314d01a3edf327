"""The queues of incidents, purge plans and failed webhook deliveries (issue 19 item 1), built on the requests queue's
parts (govern/console/queue.py, govern/paging.py): full ids to copy, filters by state and date range, search, paging
with no cap, the CSV of the filtered view (formula-safe), and the time left coloured by urgency, in zh and en."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.breach import service as breach
from govern.identity.actor import Actor
from govern.retention import service as retention

from .test_webhooks import T0, failed_delivery  # noqa: F401  (a fixture)

NOW = datetime.now(timezone.utc)
SOC = Actor(name="soc", kind="staff", roles=("security",))


def _ids(html: str) -> list[str]:
    return re.findall(r'<code class="copyable" title="[^"]*">([0-9a-f-]{36})</code>', html)


def _walk(c, url: str) -> list[list[str]]:
    """Every page of a queue from `url`, following its next-page link: the ids of each page."""
    pages = []
    while url:
        html = c.get(url).get_data(as_text=True)
        pages.append(_ids(html))
        nxt = re.search(r'href="([^"]+)" id="next-page"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    return pages


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


# --- incidents ------------------------------------------------------------------------------------------------------


@pytest.fixture
def incidents(runtime):
    """Four incidents: one with a GDPR 72-hour clock 8 hours overdue, one with 10 hours left, one in assessment from
    40 days ago, one whose title would start a formula -> {name: (id, reference)}."""
    made = {}
    with runtime.database.unit_of_work() as session:
        for name, hours, title in (("late", 80, "Laptop stolen"), ("soon", 62, "Mail misdirected"), ("old", 40 * 24, "Old export lost"),
                                   ("formula", 1, "=HYPERLINK(1)")):
            incident = breach.create(session=session, policy=runtime.policy, actor=SOC, data={
                "title": title, "detected_at": NOW - timedelta(hours=hours), "aware_at": NOW - timedelta(hours=hours)})
            if name in ("late", "soon"):
                breach.assess(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id,
                              data={"risk": "risk", "notify": "yes", "rationale": "unencrypted", "people": {"EU": 4}})
            made[name] = (str(incident.id), incident.reference)
        breach.transition(session=session, policy=runtime.policy, actor=SOC, incident_id=uuid.UUID(made["old"][0]), to="assessing")
    return made


def test_the_incident_queue_shows_full_ids_and_hours_left_coloured_and_filters_by_state_date_and_search(console_as, incidents):
    c = console_as("security")
    html = c.get("/console/incidents").get_data(as_text=True)
    assert {i for i, _ in incidents.values()} <= set(_ids(html))
    late = re.search(rf'data-incident="{incidents["late"][0]}">(.*?)</tr>', html, re.S).group(1)
    soon = re.search(rf'data-incident="{incidents["soon"][0]}">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-urgency="bad">已逾期 8 小时', late)  # the 72-hour clock, 80 hours after awareness
    assert re.search(r'data-urgency="warn">剩余 (9|10) 小时', soon)  # under console.yaml's 24 hours: amber
    by = lambda **q: set(_ids(c.get("/console/incidents", query_string=q).get_data(as_text=True)))  # noqa: E731
    assert by(q=incidents["late"][1]) == {incidents["late"][0]}  # by reference
    assert by(q=incidents["soon"][0]) == {incidents["soon"][0]}  # by id
    assert by(q="export lost") == {incidents["old"][0]}  # by words of the title
    assert by(state="assessing") == {incidents["old"][0]}
    assert incidents["old"][0] not in by(aware_from=(NOW - timedelta(days=2)).date().isoformat())
    assert by(aware_to=(NOW - timedelta(days=30)).date().isoformat()) & {i for i, _ in incidents.values()} == {incidents["old"][0]}
    assert by(state="closed") & {i for i, _ in incidents.values()} == set()
    bad = c.get("/console/incidents", query_string={"state": "nonsense"})
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/incidents").get_data(as_text=True)
    assert re.search(r'data-urgency="bad">8 h overdue', en) and "Became aware from" in en and "Export this view (CSV)" in en


def test_the_incident_queue_pages_without_a_cap_and_exports_the_filtered_view(console_as, incidents, monkeypatch):
    from govern.breach import board

    monkeypatch.setattr(board, "PAGE_SIZE", 1)
    c = console_as("dpo")
    pages = _walk(c, "/console/incidents?state=all")
    seen = [i for p in pages for i in p]
    assert all(len(p) <= 1 for p in pages) and len(seen) == len(set(seen)) and {i for i, _ in incidents.values()} <= set(seen)
    rows = _csv(c.get("/console/incidents/export.csv?state=all"))
    assert rows[0][:3] == ["个人信息安全事件", "事件编号", "事件名称"]
    by_id = {r[0]: r for r in rows[1:]}
    assert {i for i, _ in incidents.values()} <= set(by_id)
    assert by_id[incidents["formula"][0]][2] == "'=HYPERLINK(1)"  # would start a formula: shown as text
    assert by_id[incidents["late"][0]][-1] == "已逾期 8 小时"
    only = _csv(c.get("/console/incidents/export.csv", query_string={"state": "assessing"}))
    assert [r[0] for r in only[1:]] == [incidents["old"][0]]


@pytest.fixture
def by_urgency(runtime):
    """Seven incidents in the order the queue must show them -> [(name, id)]: a 72-hour clock 37 days overdue, one 8
    hours overdue, one with 10 hours left, one with 71 hours left, two open with no clock running
    (assessed unlikely: aware 5 hours and 10 days ago), and a closed one aware only 2 hours ago."""
    made = []
    with runtime.database.unit_of_work() as session:
        for name, hours, risk in (("quiet-old", 240, "unlikely"), ("done", 2, "unlikely"), ("fresh", 1, "risk"), ("soon", 62, "risk"),
                                  ("ancient", 37 * 24 + 72, "risk"), ("quiet", 5, "unlikely"), ("late", 80, "risk")):
            incident = breach.create(session=session, policy=runtime.policy, actor=SOC, data={
                "title": f"urgency {name}", "detected_at": NOW - timedelta(hours=hours), "aware_at": NOW - timedelta(hours=hours)})
            if risk:
                breach.assess(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id, data={
                    "risk": risk, "notify": "no" if risk == "unlikely" else "yes", "rationale": "test", "people": {"EU": 4}})
            if name == "done":
                breach.transition(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id, to="assessing")
                breach.transition(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id, to="closed",
                                  review={"cause": "false alarm", "lessons": "none", "actions": []})
            made.append((name, str(incident.id)))
    order = ("ancient", "late", "soon", "fresh", "quiet", "quiet-old", "done")
    return sorted(made, key=lambda m: order.index(m[0]))


def test_the_incident_queue_puts_the_nearest_deadline_first_then_open_incidents_without_a_clock_then_closed_ones(console_as, by_urgency, monkeypatch):
    from govern.breach import board

    c = console_as("dpo")
    mine = {i: name for name, i in by_urgency}
    expected = [name for name, _ in by_urgency]
    html = c.get("/console/incidents?state=all").get_data(as_text=True)
    assert [mine[i] for i in _ids(html) if i in mine] == expected
    assert re.search(rf'data-incident="{by_urgency[0][1]}">.*?data-urgency="bad">逾期 37 天', html, re.S)
    assert [mine[i] for i in _ids(c.get("/console/incidents").get_data(as_text=True)) if i in mine] == expected[:-1]  # open only
    monkeypatch.setattr(board, "PAGE_SIZE", 2)  # the cursor carries the order across pages
    assert [mine[i] for p in _walk(c, "/console/incidents?state=all") for i in p if i in mine] == expected
    rows = _csv(c.get("/console/incidents/export.csv?state=all"))
    assert [mine[r[0]] for r in rows[1:] if r[0] in mine] == expected
    assert c.get("/console/incidents?cursor=9.nonsense").status_code == 400


@pytest.fixture
def back_dated(runtime):
    """Five open incidents, every one entered today, in the order the queue must show them -> [(name, id)]: one whose
    awareness was entered as 60 days ago (its 72-hour clock 57 days overdue), one opened as fresh and then corrected to
    aware 5 days ago (2 days overdue), one aware 62 hours ago (10 hours left), one whose overdue 72-hour filing was
    sent, leaving California's 30 days, and one aware now with only California's 30 days (far in the future)."""
    from govern.breach import letters
    from tests.breach.conftest import TEXTS

    made = []
    with runtime.database.unit_of_work() as session:
        for name, hours, people in (("far", 0, {"US-CA": 4}), ("sent-far", 80, {"EU": 4, "US-CA": 4}), ("soon", 62, {"EU": 4}),
                                    ("corrected", 0, {"EU": 4}), ("back-dated", 60 * 24, {"EU": 4})):
            incident = breach.create(session=session, policy=runtime.policy, actor=SOC, data={
                "title": f"back-dated {name}", "detected_at": NOW - timedelta(hours=hours), "aware_at": NOW - timedelta(hours=hours)})
            breach.assess(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id,
                          data={"risk": "risk", "notify": "yes", "rationale": "unencrypted", "people": people, "categories": ["contact"], "texts": TEXTS})
            if name == "corrected":  # the e-mail that reported it had reached the DPO inbox five days before
                five_days_ago = NOW - timedelta(days=5)
                breach.record_times(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id,
                                    times={"detected_at": five_days_ago, "aware_at": five_days_ago}, reason="reported by e-mail on Monday")
            if name == "sent-far":
                [gdpr] = [n for n in breach.notifications(session=session, incident_id=incident.id) if n.key == "gdpr_authority"]
                letters.generate(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=SOC, incident_id=incident.id,
                                 notification_id=gdpr.id, delay_reasons={"zh": "处理者第四天才告知", "en": "the processor told us on day four"})
                breach.mark_sent(session=session, policy=runtime.policy, actor=SOC, incident_id=incident.id, notification_id=gdpr.id,
                                 channel="portal", late_reason="the processor told us on day four")
            made.append((name, str(incident.id)))
    order = ("back-dated", "corrected", "soon", "sent-far", "far")
    return sorted(made, key=lambda m: order.index(m[0]))


def test_a_back_dated_incident_is_first_as_overdue_and_a_far_deadline_never_jumps_ahead_on_any_page_or_in_the_csv(console_as, by_urgency, back_dated, monkeypatch):
    """An incident entered today with an awareness weeks ago (or corrected to one) is as overdue as its clock says and
    leads the queue; a sent filing stops counting; a deadline 30 days out sorts after every nearer one and before open
    incidents with no clock running — on the first page, across pages of one and of two, and in the CSV."""
    from govern.breach import board

    c = console_as("dpo")
    names = {i: name for name, i in (*back_dated, *by_urgency)}
    # Both fixtures' incidents together: every running clock by its due time, then no clock, then closed.
    expected = ["back-dated", "ancient", "corrected", "late", "soon", "soon", "fresh", "sent-far", "far", "quiet", "quiet-old", "done"]
    html = c.get("/console/incidents?state=all").get_data(as_text=True)
    assert [names[i] for i in _ids(html)] == expected
    first, corrected = back_dated[0][1], back_dated[1][1]
    assert re.search(rf'data-incident="{first}">.*?data-urgency="bad">逾期 57 天', html, re.S)
    assert re.search(rf'data-incident="{corrected}">.*?data-urgency="bad">逾期 2 天', html, re.S)
    far = re.search(rf'data-incident="{back_dated[-1][1]}">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-urgency="ok">剩余 (29|30|31) 天', far)
    for size in (1, 2):
        monkeypatch.setattr(board, "PAGE_SIZE", size)
        assert [names[i] for p in _walk(c, "/console/incidents?state=all") for i in p] == expected, size
    rows = _csv(c.get("/console/incidents/export.csv?state=all"))
    assert [names[r[0]] for r in rows[1:]] == expected
    assert rows[1][-1] == "逾期 57 天"


def test_an_incident_cannot_be_opened_aware_in_the_future_or_before_it_was_detected(client_as, console_as, runtime):
    """Awareness in the future would push every clock out (and the incident down the queue); awareness before detection
    cannot be. The API answers problem+json naming the field, the console's form says so, and nothing is opened."""
    from sqlalchemy import func, select

    from govern.breach.models import Incident

    iso = lambda m: m.isoformat()  # noqa: E731
    api = client_as("dpo")
    for body, field in (
        ({"detected_at": iso(NOW - timedelta(hours=1)), "aware_at": iso(NOW + timedelta(days=2))}, "aware_at"),  # the future
        ({"detected_at": iso(NOW + timedelta(days=2))}, "detected_at"),  # detected in the future (aware then too)
        ({"detected_at": iso(NOW - timedelta(hours=1)), "aware_at": iso(NOW - timedelta(hours=2))}, "aware_at"),  # before detection
    ):
        r = api.post("/api/v1/incidents", json={"title": "Backup tape lost", **body})
        assert r.status_code == 400 and r.mimetype == "application/problem+json" and field in r.json["errors"], (body, r.json)
    c = console_as("security")
    shanghai = lambda m: m.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")  # noqa: E731  (the form's local time)
    for detected, aware in ((NOW - timedelta(hours=1), NOW + timedelta(days=2)), (NOW - timedelta(hours=1), NOW - timedelta(hours=2))):
        r = c.post("/console/incidents/new", {"title": "Backup tape lost", "detected_at": shanghai(detected), "aware_at": shanghai(aware)})
        html = r.get_data(as_text=True)
        assert r.status_code == 400 and 'id="action-error"' in html and "aware_at" in html
    with runtime.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


# --- purge plans ----------------------------------------------------------------------------------------------------


@pytest.fixture
def plans(runtime):
    """A fresh draft, a draft 12 hours from expiry (plan_valid_for 14d), an expired one, one approved -> {name: id}."""
    alice = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))
    bob = Actor(name="bob", kind="staff", roles=("dpo",), principal_id=uuid.UUID(int=2))
    valid = runtime.policy.retention.plan_valid_for
    made = {}
    for name, as_of in (("fresh", NOW), ("expiring", valid.cutoff(NOW) + timedelta(hours=12)), ("expired", valid.cutoff(NOW) - timedelta(days=1)),
                        ("approved", NOW)):
        with runtime.database.unit_of_work() as session:
            made[name] = str(retention.make_plan(session=session, policy=runtime.policy, actor=alice, save=True, now=as_of).plan.id)
    with runtime.database.unit_of_work() as session:
        retention.approve_plan(session=session, policy=runtime.policy, actor=bob, plan_id=uuid.UUID(made["approved"]))
    return made


def test_the_plan_queue_shows_plans_awaiting_approval_or_a_run_with_the_time_before_they_expire(console_as, plans):
    c = console_as("dpo")
    html = c.get("/console/retention/plans").get_data(as_text=True)
    shown = set(_ids(html))
    assert {plans["fresh"], plans["expiring"], plans["approved"]} <= shown and plans["expired"] not in shown
    expiring = re.search(rf'data-plan="{plans["expiring"]}">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-urgency="warn">剩余 1[12] 小时', expiring) and "待审批" in expiring
    fresh = re.search(rf'data-plan="{plans["fresh"]}">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-urgency="ok">剩余 1[34] 天', fresh)
    by = lambda **q: set(_ids(c.get("/console/retention/plans", query_string=q).get_data(as_text=True)))  # noqa: E731
    assert plans["expired"] in by(state="expired") and plans["fresh"] not in by(state="expired")  # a stale draft reads expired
    assert by(state="approved") & set(plans.values()) == {plans["approved"]}
    assert by(q=plans["expiring"]) == {plans["expiring"]}
    assert by(state="all", created_to=(NOW - timedelta(days=1)).date().isoformat()) & set(plans.values()) == set()
    assert c.get("/console/retention/plans", query_string={"q": "not-an-id"}).status_code == 400
    assert 'href="/console/retention/plans"' in c.get("/console/retention").get_data(as_text=True)
    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/retention/plans").get_data(as_text=True)
    assert "Awaiting approval or a run" in en and re.search(r'data-urgency="warn">1[12] h left', en)


def test_the_plan_queue_pages_without_a_cap_and_exports_the_filtered_view(console_as, plans, monkeypatch):
    from govern.console import pages_retention

    monkeypatch.setattr(pages_retention, "PAGE_SIZE", 1)
    c = console_as("privacy_staff")
    pages = _walk(c, "/console/retention/plans?state=all")
    seen = [i for p in pages for i in p]
    assert all(len(p) <= 1 for p in pages) and len(seen) == len(set(seen)) and set(plans.values()) <= set(seen)
    rows = _csv(c.get("/console/retention/plans/export.csv?state=all"))
    by_id = {r[0]: r for r in rows[1:]}
    assert set(plans.values()) <= set(by_id) and by_id[plans["expired"]][1] == "已过期（未执行）"
    assert [r[0] for r in _csv(c.get("/console/retention/plans/export.csv?state=approved"))[1:]] == [plans["approved"]]


# --- failed webhook deliveries --------------------------------------------------------------------------------------


def test_failed_deliveries_show_the_days_left_to_follow_up_are_searched_by_id_and_exported(console_as, runtime, failed_delivery, audit_events):  # noqa: F811
    from govern.webhooks.models import WebhookDelivery

    delivery_id, subject_id, _ = failed_delivery
    with runtime.database.unit_of_work() as session:  # the worker gave up an hour ago
        session.get(WebhookDelivery, delivery_id).failed_at = NOW - timedelta(hours=1)
    c = console_as("privacy_staff")
    html = c.get("/console/webhooks").get_data(as_text=True)
    row = re.search(rf'id="delivery-{delivery_id}">(.*?)</tr>', html, re.S).group(1)
    assert str(delivery_id) in _ids(row) and str(subject_id) in _ids(row)
    assert re.search(r'data-urgency="ok">剩余 2 天', row)  # console.yaml follow_up_days: 3
    assert _ids(c.get("/console/webhooks", query_string={"q": str(subject_id)}).get_data(as_text=True))[0] == str(delivery_id)
    assert f'id="delivery-{delivery_id}"' not in c.get("/console/webhooks", query_string={"q": str(uuid.uuid4())}).get_data(as_text=True)
    created = T0.date()
    assert f'id="delivery-{delivery_id}"' in c.get("/console/webhooks", query_string={"created_from": created.isoformat(), "created_to": created.isoformat()}).get_data(as_text=True)
    assert f'id="delivery-{delivery_id}"' not in c.get("/console/webhooks", query_string={"created_from": (created + timedelta(days=1)).isoformat()}).get_data(as_text=True)
    bad = c.get("/console/webhooks", query_string={"q": "CRM-1"})
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    rows = _csv(c.get("/console/webhooks/export.csv"))
    assert [r[0] for r in rows[1:]] == [str(delivery_id)] and rows[1][4] == str(subject_id) and rows[1][6] == "投递失败"
    # Staler than the follow-up period: overdue, in red.
    with runtime.database.unit_of_work() as session:
        session.get(WebhookDelivery, delivery_id).failed_at = NOW - timedelta(days=runtime.policy.console.follow_up_days + 2, hours=1)
    assert re.search(r'data-urgency="bad">逾期 2 天', c.get("/console/webhooks").get_data(as_text=True))
    assert "webhook-deliveries?state=failed" in {e.resource for e in audit_events(action="webhooks:delivery:list", actor_name=c.name)}
    c.post("/console/preferences", {"language": "en"})
    assert re.search(r'data-urgency="bad">2 days overdue', c.get("/console/webhooks").get_data(as_text=True))
