"""Lifting a restriction (GDPR Art. 18(3)) records when and how the subject was told first, at its real time in the
request's timeline, and sends `subject.restriction_lifted` to the CRM components that talk to the subject."""

from datetime import timedelta

from sqlalchemy import select

from govern.subject_requests import flows
from govern.timeutil import utcnow
from govern.webhooks.models import WebhookDelivery


def _restricted(make_subject, file_request, verify_by_session, act):
    sid = make_subject(jurisdiction="EU")
    rid = file_request(sid, "restriction", now=utcnow() - timedelta(hours=3))
    verify_by_session(rid, now=utcnow() - timedelta(hours=3))
    act(flows.complete, request_id=rid, now=utcnow() - timedelta(hours=2))  # restricted two hours ago
    return sid, rid


def test_a_lift_records_when_and_how_the_subject_was_told_and_sends_the_event(
    client_as, make_subject, file_request, verify_by_session, act, make_endpoint, crm_component, receiver, runtime, audit_events,
):
    make_endpoint("principal", crm_component(), receiver.url + "/crm")
    sid, rid = _restricted(make_subject, file_request, verify_by_session, act)
    told = utcnow() - timedelta(minutes=30)
    r = client_as("privacy_staff").post(f"/api/v1/requests/{rid}/lift", json={
        "reason": "accuracy check done", "told_at": told.isoformat(), "told_channel": "letter",
    })
    assert r.status_code == 200, r.json
    assert client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    view = client_as("privacy_staff").get(f"/api/v1/requests/{rid}").json
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds[-2:] == ["subject_told", "lifted"]
    told_event, lifted = view["timeline"][-2:]
    assert told_event["occurred_at"][:16] == told.isoformat()[:16] and told_event["data"]["channel"] == "letter"
    assert lifted["data"] == {"told_at": told.isoformat(), "told_channel": "letter"}
    with runtime.database.unit_of_work() as session:
        types = list(session.scalars(select(WebhookDelivery.event_type).where(WebhookDelivery.subject_id == sid)))
    assert "subject.restriction_lifted" in types
    [audited] = audit_events(action="requests:restriction:lift", subject_id=sid)
    assert audited.reason == "told:letter"
