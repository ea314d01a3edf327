"""Every recipient that received the data a rectification, erasure or restriction changes is told (GDPR Art. 19; CCPA
regs §7022(b)(3)): by its webhook, by a manual task with a due date, or a recorded reason why telling it is impossible
or disproportionate. The request cannot complete silently, and the subject can be told who the recipients are."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from govern.sharing.models import PropagationStep
from tests.subject_requests.conftest import act, file_request, verify_by_session  # noqa: F401  (fixtures)
from tests.webhooks.conftest import admin, loopback_receivers, make_endpoint, receiver  # noqa: F401  (fixtures)


@pytest.fixture
def staff(client_as):
    return client_as("privacy_staff")


@pytest.fixture
def two_recipients(make_subject, make_recipient, separate_grant, client_as, make_endpoint, receiver):  # noqa: F811
    """A subject disclosed to two recipients: `hooked` has a webhook for erasures and rectifications, `manual` has none."""
    sid = make_subject()
    hooked, manual = make_recipient(), make_recipient(name="Other Brand Ltd")
    make_endpoint("recipient", hooked, receiver.at("/hooked"))
    separate_grant(sid, [hooked, manual])
    marketing = client_as("marketing_service")
    for rid, fields in ((hooked, ["name", "mobile"]), (manual, ["mobile"])):
        r = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": fields})
        assert r.status_code == 201, r.json
    return sid, hooked, manual


def _verified(file_request, verify_by_session, sid, rtype, **kw):  # noqa: F811
    rid = file_request(sid, rtype, **kw)
    verify_by_session(rid)
    return rid


def test_an_erasure_cannot_complete_until_the_recipient_without_a_webhook_has_a_manual_task(
    two_recipients, file_request, verify_by_session, staff, audit_events,  # noqa: F811
):
    sid, hooked, manual = two_recipients
    rid = _verified(file_request, verify_by_session, sid, "erasure")

    refused = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"
    assert refused.json["code"] == "recipients_not_told" and "Other Brand Ltd" in refused.json["detail"]
    assert [o["id"] for o in refused.json["open_recipients"]] == [manual]
    assert staff.get(f"/api/v1/subjects/{sid}").status_code != 410  # nothing was erased by the refused completion
    assert staff.get(f"/api/v1/requests/{rid}").json["state"] == "in_progress"

    listed = staff.get(f"/api/v1/requests/{rid}/recipients")
    assert listed.status_code == 200
    assert {r["id"]: r["told_by"] for r in listed.json["recipients"]} == {hooked: "webhook", manual: None}
    assert listed.json["open"] == [manual]

    task = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual"})
    assert task.status_code == 201, task.json
    assert task.json["due_on"] == (date.today() + timedelta(days=30)).isoformat()  # policies/sharing.yaml manual_due_days
    [event] = audit_events(action="sharing:propagation:record")
    assert event.subject_id is not None and str(event.subject_id) == str(sid) and event.reason == "manual"

    done = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert done.status_code == 200, done.json
    told = {r["name"]: r for r in done.json["response"]["recipients"]}
    assert told["Partner Brand Ltd"]["told_by"] == "webhook" and told["Partner Brand Ltd"]["fields"] == ["mobile", "name"]
    assert told["Other Brand Ltd"]["told_by"] == "manual" and told["Other Brand Ltd"]["due_on"] == task.json["due_on"]
    # The certificate the subject is handed names them too (GDPR Art. 19, second sentence).
    cert = staff.get(f"/api/v1/requests/{rid}/certificate").json["certificate"]
    assert [r["name"] for r in cert["recipients"]] == ["Other Brand Ltd", "Partner Brand Ltd"]

    [open_task] = staff.get("/api/v1/recipients/notice-tasks").json["items"]
    assert (open_task["recipient_id"], open_task["request_id"], open_task["done_at"]) == (manual, str(rid), None)
    assert staff.get("/api/v1/recipients/notice-tasks?overdue=true").json["items"] == []  # due in 30 days
    finished = staff.post(f"/api/v1/requests/{rid}/recipients/{manual}/done")
    assert finished.status_code == 200 and finished.json["done_at"] is not None
    assert staff.get("/api/v1/recipients/notice-tasks").json["items"] == []


def test_a_specific_reason_why_telling_is_impossible_lets_the_erasure_complete(
    two_recipients, file_request, verify_by_session, staff, runtime,  # noqa: F811
):
    sid, _, manual = two_recipients
    rid = _verified(file_request, verify_by_session, sid, "erasure")

    bare = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "impossible"})
    assert bare.status_code == 400 and "reason" in bare.json["errors"]
    with_data = staff.post(f"/api/v1/requests/{rid}/recipients", json={
        "recipient_id": manual, "method": "impossible", "reason": "the recipient was dissolved; call 13812345678"})
    assert with_data.status_code == 400  # a reason is free text: no personal data in it
    reason = "The recipient company was dissolved in 2026 and has no successor to tell."
    ok = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "impossible", "reason": reason})
    assert ok.status_code == 201, ok.json
    again = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual"})
    assert again.status_code == 409 and again.json["code"] == "propagation_recorded"

    done = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert done.status_code == 200, done.json
    [exempt] = [r for r in done.json["response"]["recipients"] if r["id"] == manual]
    assert (exempt["told_by"], exempt["reason"]) == ("impossible", reason)
    with runtime.database.unit_of_work() as session:
        [step] = session.scalars(select(PropagationStep).where(PropagationStep.request_id == rid)).all()
        assert (step.method, step.due_on) == ("impossible", None)
    late = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual"})
    assert late.status_code == 409 and late.json["code"] == "request_closed"


def test_a_recipient_with_a_webhook_needs_no_task_and_one_that_got_none_of_the_changed_fields_is_owed_nothing(
    two_recipients, file_request, verify_by_session, staff,  # noqa: F811
):
    sid, hooked, manual = two_recipients
    # Only `hooked` received the name: correcting the name owes `manual` nothing, and `hooked` hears by webhook.
    rid = _verified(file_request, verify_by_session, sid, "rectification", details={"fields": {"name": "张三丰"}})
    listed = staff.get(f"/api/v1/requests/{rid}/recipients").json
    assert [(r["id"], r["told_by"]) for r in listed["recipients"]] == [(hooked, "webhook")] and listed["open"] == []
    hooked_task = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": hooked, "method": "manual"})
    assert hooked_task.status_code == 409 and hooked_task.json["code"] == "recipient_has_webhook"
    unowed = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual"})
    assert unowed.status_code == 404 and unowed.json["code"] == "recipient_not_owed"
    assert staff.post(f"/api/v1/requests/{rid}/complete", json={}).status_code == 200


def test_a_restriction_is_owed_to_every_recipient_and_a_manual_task_is_due_within_the_policy_days(
    two_recipients, file_request, verify_by_session, staff,  # noqa: F811
):
    sid, _, manual = two_recipients
    rid = _verified(file_request, verify_by_session, sid, "restriction")
    # The webhook fixture subscribes `hooked` to restrictions too; `manual` must be accounted for.
    assert staff.post(f"/api/v1/requests/{rid}/complete", json={}).status_code == 409
    too_late = (date.today() + timedelta(days=31)).isoformat()
    late = staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual", "due_on": too_late})
    assert late.status_code == 400 and "due_on" in late.json["errors"]
    soon = (date.today() + timedelta(days=7)).isoformat()
    assert staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": manual, "method": "manual", "due_on": soon}).status_code == 201
    done = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert done.status_code == 200 and [r["due_on"] for r in done.json["response"]["recipients"] if r["id"] == manual] == [soon]


def test_a_request_with_no_recipients_completes_without_a_recipients_list(make_subject, file_request, verify_by_session, staff):  # noqa: F811
    rid = _verified(file_request, verify_by_session, make_subject(), "erasure")
    done = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert done.status_code == 200 and "recipients" not in done.json["response"]
