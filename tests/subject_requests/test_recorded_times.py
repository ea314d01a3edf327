"""A request that arrived by post or e-mail days or months ago is entered by staff with its real receipt time: every
deadline, overdue flag and timeline entry counts from it; who entered it, when and why is kept and audited. A CRM
service cannot back-date (requests:request:backdate is staff-only, roles.yaml), nothing is ever dated in the future,
and a step done outside govern (an acknowledgement by letter, a document check at the counter, an extension told by
letter) is entered at its real time the same way."""

import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from govern.errors import Problem
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.subject_requests import service
from govern.subject_requests.deadlines import local_date
from govern.timeutil import utcnow
from tests.subject_requests.conftest import STAFF
from tests.subject_requests.test_package_delivery import PROJECT_ROOT

WHY = "letter opened late by the post room"


def _day_in(runtime, jurisdiction, moment):
    """The calendar day the law counts in: the jurisdiction's time zone (policies/jurisdictions.yaml), not UTC's."""
    return local_date(moment, ZoneInfo(runtime.policy.request_terms[jurisdiction].time_zone)).isoformat()


def _file(client, sid, received_at, **extra):
    body = {"subject_id": str(sid), "type": "access", "channel": "paper", "received_at": received_at.isoformat(), **extra}
    return client.post("/api/v1/requests", json=body)


def test_a_gdpr_request_received_40_days_ago_is_overdue_on_entry_and_counts_from_its_receipt(client_as, make_subject, audit_events, row_counts, runtime):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=40)
    r = _file(staff, sid, received, received_reason=WHY)
    assert r.status_code == 201, r.json
    assert r.json["deadlines"]["received_on"] == _day_in(runtime, "EU", received)
    view = staff.get(f"/api/v1/requests/{r.json['id']}").json
    assert view["overdue"] is True and view["due_soon"] is False
    assert view["deadlines"]["received_on"] == _day_in(runtime, "EU", received)
    [got] = [e for e in view["timeline"] if e["kind"] == "received"]
    assert got["occurred_at"][:16] == received.isoformat()[:16] and got["reason"] == WHY and got["actor"] == staff.name
    assert got["data"]["entered_at"] > received.isoformat()
    # In the queue too, soonest (here: most overdue) first.
    [queued] = [q for q in staff.get("/api/v1/requests").json["requests"] if q["id"] == r.json["id"]]
    assert queued["overdue"] is True
    [backdated] = audit_events(action="requests:clock:backdate", subject_id=sid)
    assert backdated.reason == "received:40d" and backdated.resource == f"request:{r.json['id']}"
    assert WHY not in backdated.canonical  # the free text stays in the timeline


def test_received_10_days_ago_is_not_yet_overdue_and_its_due_date_counts_from_receipt(client_as, make_subject):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=10)
    fresh = _file(staff, make_subject(jurisdiction="EU"), utcnow()).json
    late = _file(staff, sid, received, received_reason=WHY).json
    assert late["deadlines"]["due"] < fresh["deadlines"]["due"]
    assert staff.get(f"/api/v1/requests/{late['id']}").json["overdue"] is False


def test_a_crm_service_cannot_backdate_and_nothing_is_recorded(client_as, make_subject, row_counts, audit_events):
    sid = make_subject(jurisdiction="EU")
    crm = client_as("sales_service")
    before = row_counts()
    r = _file(crm, sid, utcnow() - timedelta(days=3), received_reason=WHY)
    assert r.status_code == 403 and r.json["reason"] == "backdating_not_allowed"
    assert {**row_counts(), "audit_events": 0} == {**before, "audit_events": 0}  # only the refusal's audit event is added
    assert [e.reason for e in audit_events(action="requests:clock:backdate", outcome="denied")] == ["backdating_not_allowed"]
    # A time within the clock skew is "now": the CRM files as before.
    assert _file(crm, sid, utcnow() - timedelta(minutes=1)).status_code == 201


def test_backdating_needs_a_reason_and_never_the_future(client_as, make_subject, row_counts):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    before = row_counts()
    r = _file(staff, sid, utcnow() - timedelta(days=3))
    assert r.status_code == 400 and "received_at_reason" in r.json["errors"]
    r = _file(staff, sid, utcnow() + timedelta(days=1), received_reason=WHY)
    assert r.status_code == 400 and "received_at" in r.json["errors"]
    assert row_counts() == before
    # Months ago is fine: there is no upper bound on how late a letter is entered.
    assert _file(staff, sid, utcnow() - timedelta(days=200), received_reason=WHY).status_code == 201


def test_an_acknowledgement_and_a_document_check_done_earlier_take_their_real_times(client_as, make_subject, audit_events, runtime):
    sid = make_subject(jurisdiction="US-CA")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=20)
    rid = _file(staff, sid, received, received_reason=WHY, acknowledge=False).json["id"]
    told = received + timedelta(days=2)
    r = staff.post(f"/api/v1/requests/{rid}/acknowledge", json={"occurred_at": told.isoformat(), "occurred_reason": "acknowledged by letter"})
    assert r.status_code == 200, r.json
    assert r.json["acknowledged_at"][:16] == told.isoformat()[:16]
    assert r.json["deadlines"]["acknowledged_on"] == _day_in(runtime, "US-CA", told)
    checked = received + timedelta(days=5)
    r = staff.post(f"/api/v1/requests/{rid}/verify", json={
        "method": "document", "reference": "DOC-CHECK-7", "occurred_at": checked.isoformat(), "occurred_reason": "checked at the counter",
    })
    assert r.status_code == 200 and r.json["verified"], r.json
    view = staff.get(f"/api/v1/requests/{rid}").json
    assert view["verified_at"][:16] == checked.isoformat()[:16]
    kinds = {e["kind"]: e for e in view["timeline"]}
    assert kinds["verified"]["occurred_at"][:16] == checked.isoformat()[:16] and kinds["verified"]["reason"] == "checked at the counter"
    assert sorted(e.reason.split(":")[0] for e in audit_events(action="requests:clock:backdate", subject_id=sid)) == ["acknowledged", "received", "verified"]
    # Never before the receipt, never by a CRM.
    r = staff.post(f"/api/v1/requests/{rid}/extend", json={"reason": "complex", "occurred_at": (received - timedelta(days=1)).isoformat(), "occurred_reason": "x"})
    assert r.status_code == 400 and "occurred_at" in r.json["errors"]


def test_an_extension_told_within_the_period_is_entered_afterwards(act, make_subject, runtime):
    sid = make_subject(jurisdiction="EU")
    now = utcnow()
    received = now - timedelta(days=40)
    filed = act(service.file, subject_id=sid, type="access", channel="email", received_at=received, received_reason=WHY, now=now)
    rid = filed.request.id
    assert filed.deadlines.due_at < now
    d = act(service.extend, actor=STAFF, request_id=rid, reason="complex request", occurred_at=received + timedelta(days=20),
            occurred_reason="told by letter, entered now", now=now)
    assert d.extensions == 1 and d.due_at > now  # no longer overdue: the extension was told in time
    # An extension first told today is too late: the first month has passed.
    other = act(service.file, subject_id=make_subject(jurisdiction="EU"), type="access", channel="email", received_at=received,
                received_reason=WHY, now=now).request.id
    with pytest.raises(Problem) as exc:
        act(service.extend, actor=STAFF, request_id=other, reason="complex request", now=now)
    assert exc.value.code == "extension_too_late"


def test_a_reply_that_arrived_by_post_ends_the_pause_on_its_real_day(client_as, make_subject, audit_events):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=20)
    rid = _file(staff, sid, received, received_reason=WHY).json["id"]
    asked, answered = received + timedelta(days=2), received + timedelta(days=7)
    r = staff.post(f"/api/v1/requests/{rid}/pause", json={"reason": "asked which account", "occurred_at": asked.isoformat(), "occurred_reason": "asked by letter"})
    assert r.status_code == 200 and r.json["paused"], r.json
    # Not before the pause began; never by a CRM.
    r = staff.post(f"/api/v1/requests/{rid}/resume", json={"occurred_at": (asked - timedelta(days=1)).isoformat(), "occurred_reason": "reply by post"})
    assert r.status_code == 400 and "occurred_at" in r.json["errors"]
    r = staff.post(f"/api/v1/requests/{rid}/resume", json={"occurred_at": answered.isoformat(), "occurred_reason": "reply by post, opened today"})
    assert r.status_code == 200 and not r.json["paused"], r.json
    assert r.json["deadlines"]["paused_days"] == 5  # the five days waited, not the thirteen until it was typed in
    assert sorted(e.reason.split(":")[0] for e in audit_events(action="requests:clock:backdate", subject_id=sid)) == ["paused", "received", "resumed"]


def test_no_service_role_may_be_given_backdating_or_the_deceased_record(tmp_path):
    for permission in ("requests:request:backdate", "requests:deceased:record"):
        target = tmp_path / permission.replace(":", "-")
        shutil.copytree(PROJECT_ROOT / "policies", target)
        roles = target / "roles.yaml"
        roles.write_text(roles.read_text().replace("      - requests:request:withdraw\n", f"      - requests:request:withdraw\n      - {permission}\n", 1))
        with pytest.raises(PolicyError, match=f"roles.sales_service.permissions: {permission} may be held by staff roles only"):
            load_policy(target)


def test_a_letter_entered_late_is_not_closed_unverified_before_its_requester_could_verify(act, make_subject):
    sid = make_subject(jurisdiction="EU")
    now = utcnow()
    late = act(service.file, subject_id=sid, type="access", channel="paper", received_at=now - timedelta(days=40), received_reason=WHY, now=now).request.id
    typed = act(service.file, subject_id=make_subject(jurisdiction="EU"), type="access", channel="app", now=now - timedelta(days=40)).request.id
    assert act(service.close_unverified, now=now) == 1  # the request filed 40 days ago, not the letter entered today
    states = {rid: act(service.read, request_id=rid, now=now)[0].state for rid in (late, typed)}
    assert states == {late: "received", typed: "refused"}
    # The period then counts from the entry.
    assert act(service.close_unverified, now=now + timedelta(days=32)) == 1
