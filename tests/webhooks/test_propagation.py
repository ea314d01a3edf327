"""A completed erasure, rectification, restriction (and its lift) or consent withdrawal is propagated (GDPR Art. 19,
CCPA regs §7022(b)(3)): every CRM component's endpoint and the endpoint of every recipient that received the subject's
data is told, through a signed webhook written to the outbox in the request's own transaction, carrying ids and
names, never a value."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select, text

from govern.subject_requests import flows
from govern.subjects import erasure
from govern.timeutil import utcnow
from govern.webhooks import service as webhooks
from govern.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.conftest import VALID_FIELDS
from tests.subject_requests.conftest import STAFF


def _disclose(client_as, sid, rid, fields=("name", "mobile")):
    r = client_as("marketing_service").post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": list(fields)})
    assert r.status_code == 201, r.json


def _verified(file_request, verify_by_session, sid, rtype, **kw):
    rid = file_request(sid, rtype, **kw)
    verify_by_session(rid)
    return rid


def test_a_crm_component_hears_of_a_completed_erasure_in_a_signed_notice_it_can_verify(
    receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, complete, deliver, deliveries, runtime, audit_events,
):
    endpoint_id, secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    sid = make_subject()
    rid = _verified(file_request, verify_by_session, sid, "erasure")
    complete(rid)
    [queued] = deliveries()
    assert (queued.state, queued.subject_id, queued.request_id, str(queued.endpoint_id)) == ("pending", sid, rid, endpoint_id)

    run = deliver()
    assert (run.claimed, run.delivered) == (1, 1)
    [got] = receiver.got("/crm")
    assert webhooks.verify_signature(secret=secret, body=got.body, header=got.headers["Govern-Signature"])
    assert not webhooks.verify_signature(secret="whsec_not-the-secret", body=got.body, header=got.headers["Govern-Signature"])
    assert not webhooks.verify_signature(secret=secret, body=got.body.replace(b"erased", b"rectif"), header=got.headers["Govern-Signature"])
    payload = json.loads(got.body)
    assert payload["type"] == "subject.erased" and payload["subject_id"] == str(sid) and payload["request_id"] == str(rid)
    assert got.headers["Govern-Event-Id"] == payload["id"] and got.headers["Content-Type"] == "application/json"
    datetime.fromisoformat(payload["occurred_at"])

    [done] = deliveries()
    assert (done.state, done.attempts, done.last_status) == ("delivered", 1, 200) and done.delivered_at is not None
    with runtime.database.unit_of_work() as session:
        [attempt] = session.scalars(select(WebhookAttempt)).all()
        assert (attempt.endpoint_id, attempt.status_code, attempt.outcome) == (done.endpoint_id, 200, "delivered")
    [event] = audit_events(action="webhooks:delivery:delivered")
    assert event.subject_id == sid and event.resource == f"webhook-endpoint:{endpoint_id}/delivery:{done.id}" and "status=200" in event.reason
    [queued_event] = audit_events(action="webhooks:event:queue")
    assert queued_event.subject_id == sid and "endpoints=1" in queued_event.reason
    # A second run finds nothing left to send.
    assert deliver().claimed == 0 and len(receiver.got()) == 1


def test_a_recipient_that_received_a_disclosure_is_told_and_one_that_did_not_is_not(
    receiver, make_endpoint, make_recipient, separate_grant, client_as, make_subject, file_request, verify_by_session, complete, deliver,
):
    sid = make_subject()
    told, untold = make_recipient(), make_recipient(name="Other Brand Ltd")
    make_endpoint("recipient", told, receiver.at("/told"))
    make_endpoint("recipient", untold, receiver.at("/untold"))
    separate_grant(sid, [told, untold])
    _disclose(client_as, sid, told)
    other = make_subject(fields={"name": "李四", "mobile": "13912345678"})
    separate_grant(other, [untold])
    _disclose(client_as, other, untold)  # the other recipient holds someone else's data, not this subject's

    complete(_verified(file_request, verify_by_session, sid, "erasure"))
    deliver()
    [got] = receiver.got("/told")
    assert json.loads(got.body)["subject_id"] == str(sid)
    assert receiver.got("/untold") == []


def test_a_rectification_names_the_fields_only_and_reaches_the_recipients_that_hold_them(
    receiver, make_endpoint, crm_component, make_recipient, separate_grant, client_as, make_subject, file_request, verify_by_session, complete,
    deliver, runtime, tmp_path,
):
    sid = make_subject()
    holds_mobile, holds_name = make_recipient(), make_recipient(name="Name Only Ltd")
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    make_endpoint("recipient", holds_mobile, receiver.at("/mobile"))
    make_endpoint("recipient", holds_name, receiver.at("/name"))
    separate_grant(sid, [holds_mobile, holds_name])
    _disclose(client_as, sid, holds_mobile, fields=("name", "mobile"))
    _disclose(client_as, sid, holds_name, fields=("name",))
    new_mobile = "13987654321"
    complete(_verified(file_request, verify_by_session, sid, "rectification", details={"fields": {"mobile": new_mobile}}))
    deliver()

    [crm] = receiver.got("/crm")
    [recipient] = receiver.got("/mobile")
    assert receiver.got("/name") == []  # it never received the mobile number, so there is nothing for it to correct
    for got in (crm, recipient):
        payload = json.loads(got.body)
        assert payload["type"] == "subject.rectified" and payload["fields"] == ["mobile"]

    # No value of the subject — old or new — in any body, header or row of the webhook tables.
    values = [*VALID_FIELDS.values(), new_mobile, "+86" + new_mobile]
    sent = b"".join(g.body + json.dumps(g.headers).encode() for g in receiver.got())
    with runtime.database.engine.connect() as conn:
        stored = "".join(
            repr(row) for table in ("webhook_endpoints", "webhook_deliveries", "webhook_attempts")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        ).encode()
    for value in values:
        assert value.encode() not in sent and value.encode() not in stored, value


def test_restriction_its_lift_and_a_consent_withdrawal_are_propagated(
    receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, complete, act, deliver, client_as, runtime,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    sid = make_subject()
    restriction = _verified(file_request, verify_by_session, sid, "restriction")
    complete(restriction)
    act(flows.lift_restriction, request_id=restriction, reason="the accuracy check is done", told_at=utcnow(), told_channel="letter")
    crm = client_as("sales_service")
    granted = crm.post(f"/api/v1/subjects/{sid}/consents", json={"action": "grant", "purpose": "marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-1"})
    assert granted.status_code == 201, granted.json
    complete(_verified(file_request, verify_by_session, sid, "withdrawal", details={"purposes": ["marketing"]}))
    deliver()

    payloads = [json.loads(g.body) for g in receiver.got("/crm")]
    by_type = {p["type"]: p for p in payloads}
    assert sorted(by_type) == ["subject.processing_stopped", "subject.restricted", "subject.restriction_lifted"]
    allowed = sorted(n for n, p in runtime.policy.purposes.items() if p.allowed_when_restricted)
    assert by_type["subject.restricted"]["purposes"] == allowed
    assert by_type["subject.processing_stopped"]["purposes"] == ["marketing"]
    assert by_type["subject.restriction_lifted"]["request_id"] == str(restriction)


def test_an_access_request_tells_nobody(receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, complete, deliveries):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    complete(_verified(file_request, verify_by_session, make_subject(), "access"))
    assert deliveries() == []


def test_a_disabled_endpoint_gets_nothing_and_a_disabled_one_holds_what_was_queued(
    receiver, make_endpoint, crm_component, admin, make_subject, file_request, verify_by_session, complete, deliver, deliveries,
):
    make_endpoint("principal", crm_component(), receiver.at("/off"), enabled=False)
    paused, _ = make_endpoint("principal", crm_component(), receiver.at("/paused"))
    complete(_verified(file_request, verify_by_session, make_subject(), "erasure"))
    [queued] = deliveries()
    assert str(queued.endpoint_id) == paused  # the disabled endpoint got no delivery at all

    etag = admin.get(f"/api/v1/webhooks/endpoints/{paused}").headers["ETag"]
    r = admin.patch(f"/api/v1/webhooks/endpoints/{paused}", json={"enabled": False}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.json["enabled"] is False and r.json["deliveries"]["pending"] == 1
    assert deliver().claimed == 0 and receiver.got() == []
    admin.patch(f"/api/v1/webhooks/endpoints/{paused}", json={"enabled": True}, headers={"If-Match": r.headers["ETag"]})
    assert deliver().delivered == 1
    assert len(receiver.got("/paused")) == 1 and receiver.got("/off") == []


def test_the_outbox_row_is_written_in_the_request_transaction(
    receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, runtime, deliveries, complete,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    sid = make_subject()
    rid = _verified(file_request, verify_by_session, sid, "erasure")

    class Crash(Exception):
        pass

    with pytest.raises(Crash):
        with runtime.database.unit_of_work() as session:
            flows.complete(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=STAFF, request_id=rid)
            assert len(session.scalars(select(WebhookDelivery)).all()) == 1  # written, not yet committed
            raise Crash  # the completion rolls back
    assert deliveries() == []
    with runtime.database.unit_of_work() as session:
        assert not erasure.is_erased(session=session, subject_id=sid)
    complete(rid)
    assert [d.request_id for d in deliveries()] == [rid]


def test_deliveries_are_listed_per_request_and_subject_for_privacy_staff(
    receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, complete, deliver, client_as, audit_events,
):
    make_endpoint("principal", crm_component(), receiver.at("/a"))
    make_endpoint("principal", crm_component(), receiver.at("/b"))
    sid = make_subject()
    rid = _verified(file_request, verify_by_session, sid, "erasure")
    complete(rid)
    deliver()
    privacy = client_as("privacy_staff")
    page = privacy.get(f"/api/v1/webhooks/deliveries?request_id={rid}")
    assert page.status_code == 200 and {d["state"] for d in page.json["deliveries"]} == {"delivered"} and len(page.json["deliveries"]) == 2
    first = privacy.get(f"/api/v1/webhooks/deliveries?subject_id={sid}&limit=1")
    assert len(first.json["deliveries"]) == 1 and first.json["next_cursor"]
    second = privacy.get(f"/api/v1/webhooks/deliveries?subject_id={sid}&limit=1&cursor={first.json['next_cursor']}")
    assert second.json["next_cursor"] is None and second.json["deliveries"][0]["id"] != first.json["deliveries"][0]["id"]
    one = privacy.get(f"/api/v1/webhooks/deliveries/{first.json['deliveries'][0]['id']}")
    assert one.json["payload"]["type"] == "subject.erased" and [a["outcome"] for a in one.json["attempt_log"]] == ["delivered"]
    assert audit_events(action="webhooks:delivery:list", subject_id=sid)
    assert privacy.get(f"/api/v1/webhooks/deliveries?subject_id={uuid.uuid4()}").json["deliveries"] == []


def test_an_objection_and_its_lift_are_propagated(
    receiver, make_endpoint, crm_component, make_subject, file_request, verify_by_session, complete, deliver, client_as,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"), events=("subject.processing_stopped", "subject.processing_resumed"))
    sid = make_subject(jurisdiction="EU")  # fraud_prevention rests on legitimate interest outside CN
    objection = _verified(file_request, verify_by_session, sid, "objection", details={"purposes": ["fraud_prevention"]})
    complete(objection)
    lifted = client_as("privacy_staff").post(f"/api/v1/requests/{objection}/objections/lift", json={
        "purpose": "fraud_prevention", "reason": "card-testing attack on this account; DPIA-77 found the checks override the objection",
    })
    assert lifted.status_code == 200, lifted.json
    deliver()

    by_type = {p["type"]: p for p in (json.loads(g.body) for g in receiver.got("/crm"))}
    assert sorted(by_type) == ["subject.processing_resumed", "subject.processing_stopped"]
    assert by_type["subject.processing_stopped"]["purposes"] == by_type["subject.processing_resumed"]["purposes"] == ["fraud_prevention"]
    assert "card-testing" not in json.dumps(by_type)  # the grounds are staff text: never sent
