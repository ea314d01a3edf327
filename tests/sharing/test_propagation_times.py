"""A recipient told of a request's change outside govern (a letter sent last week) is marked told at that real time,
with why it is entered late and by whom (GDPR Art. 19; issue 16 item 6): never in the future, never before the request
was received, never without a reason; audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from govern.sharing.models import PropagationStep
from govern.timeutil import utcnow
from tests.subject_requests.test_recorded_endings import _verified_request

SENT = "told by registered letter, receipt card returned today"


def _manual_task(client_as, make_subject, make_recipient, separate_grant):
    sid, recipient = make_subject(), make_recipient()
    separate_grant(sid, [recipient])
    assert client_as("marketing_service").post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": recipient, "fields": ["mobile"]}).status_code == 201
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=12)
    rid = _verified_request(staff, sid, received, type="restriction")
    assert staff.post(f"/api/v1/requests/{rid}/recipients", json={"recipient_id": recipient, "method": "manual"}).status_code == 201
    assert staff.post(f"/api/v1/requests/{rid}/complete", json={}).status_code == 200
    return staff, rid, recipient, received


def test_a_recipient_told_by_letter_is_marked_told_when_it_was(client_as, make_subject, make_recipient, separate_grant, audit_events):
    staff, rid, recipient, received = _manual_task(client_as, make_subject, make_recipient, separate_grant)
    told = utcnow() - timedelta(days=4)
    r = staff.post(f"/api/v1/requests/{rid}/recipients/{recipient}/done", json={"occurred_at": told.isoformat(), "occurred_reason": SENT})
    assert r.status_code == 200, r.json
    assert r.json["done_at"][:16] == told.isoformat()[:16] and r.json["done_because"] == SENT and r.json["done_by"] == staff.name
    [event] = audit_events(action="sharing:propagation:done")
    assert event.reason == "entered:4d" and SENT not in event.canonical


def test_a_notice_time_is_never_future_before_receipt_or_without_a_reason(client_as, make_subject, make_recipient, separate_grant, row_counts, runtime):
    staff, rid, recipient, received = _manual_task(client_as, make_subject, make_recipient, separate_grant)
    url = f"/api/v1/requests/{rid}/recipients/{recipient}/done"
    before = row_counts()
    for body, key in (
        ({"occurred_at": (utcnow() + timedelta(days=1)).isoformat(), "occurred_reason": SENT}, "occurred_at"),
        ({"occurred_at": (received - timedelta(days=1)).isoformat(), "occurred_reason": SENT}, "occurred_at"),
        ({"occurred_at": (utcnow() - timedelta(days=2)).isoformat()}, "occurred_at_reason"),
    ):
        r = staff.post(url, json=body)
        assert r.status_code == 400 and r.mimetype == "application/problem+json" and key in r.json["errors"], (body, r.json)
    assert row_counts() == before
    with runtime.database.unit_of_work() as session:
        assert [s.done_at for s in session.scalars(select(PropagationStep))] == [None]
