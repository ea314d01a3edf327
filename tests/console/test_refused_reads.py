"""A page shown after a refused action keeps the audit events of its reads (govern/db.py begin_after_refusal,
console/views.py after_refusal): the refused action leaves nothing, the page is read in a unit of work begun afresh and
the request commits it though it answers 400/409/423 — or, if that commit fails, answers 503 instead of the page. The
refusal's own audit event (g.refusal_audit) is kept once, as before."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from govern.subject_requests.models import DataSubjectRequest
from govern.webhooks.models import WebhookDelivery
from tests.subject_requests.conftest import file_request  # noqa: F401  (a fixture)
from tests.subject_requests.test_package_consent_scope import _consented_subject

from .test_queues import NOW
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)


def _rid() -> str:
    return uuid.uuid4().hex


def _actions(audit_events, request_id: str) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in audit_events(request_id=request_id)]


def test_a_refused_acknowledgement_shows_the_request_page_and_keeps_its_reads_audited(console_as, client_as, make_subject, runtime, file_request, audit_events):  # noqa: F811
    sid, _ = _consented_subject(client_as, make_subject, runtime)
    rid = file_request(sid, "access")
    c = console_as("privacy_staff")  # filed through the app: acknowledged on receipt
    again = _rid()
    refused = c.post(f"/console/requests/{rid}/acknowledge", headers={"X-Request-Id": again})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and 'id="action-error"' in html
    assert 'id="consent-scope"' in html and "partner_marketing" in html  # the subject's consents were sent…
    # …and so the reads that made the page are in the log, under this request's id: the request and the consents.
    assert _actions(audit_events, again) == [("requests:request:read", "allowed"), ("consent:history:read", "allowed")]
    assert [e.resource for e in audit_events(request_id=again, action="consent:history:read")] == [f"subject:{sid}/consents/scope"]


def test_a_refusal_with_its_own_audit_event_keeps_it_once_beside_the_pages_reads(console_as, client_as, make_subject, runtime, file_request, audit_events):  # noqa: F811
    sid, _ = _consented_subject(client_as, make_subject, runtime)
    rid = file_request(sid, "access")  # CN: the requester's identity must be verified first
    with runtime.database.unit_of_work() as session:
        session.get(DataSubjectRequest, rid).state = "in_progress"
    c = console_as("dpo")
    refused_id = _rid()
    refused = c.post(f"/console/requests/{rid}/complete", {"explanation": "Done."}, headers={"X-Request-Id": refused_id})
    assert refused.status_code == 409 and 'id="action-error"' in refused.get_data(as_text=True)
    events = _actions(audit_events, refused_id)
    assert events.count(("requests:request:complete", "denied")) == 1  # the refusal, once
    assert ("requests:request:read", "allowed") in events and ("consent:history:read", "allowed") in events
    with runtime.database.unit_of_work() as session:
        assert session.get(DataSubjectRequest, rid).state == "in_progress"  # and nothing changed


def test_the_page_after_a_refusal_is_not_served_when_its_reads_cannot_be_committed(console_as, client_as, make_subject, runtime, file_request, audit_events, monkeypatch):  # noqa: F811
    sid, _ = _consented_subject(client_as, make_subject, runtime)
    rid = file_request(sid, "access")
    c = console_as("privacy_staff")
    real_commit = Session.commit

    def failing_commit(self):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(Session, "commit", failing_commit)
    try:
        lost = _rid()
        refused = c.post(f"/console/requests/{rid}/acknowledge", headers={"X-Request-Id": lost})
    finally:
        monkeypatch.setattr(Session, "commit", real_commit)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 503 and "audit_unavailable" in body
    assert "partner_marketing" not in body and 'id="consent-scope"' not in body  # nothing of the page left
    assert _actions(audit_events, lost) == []


def test_a_refused_assignment_shows_the_delivery_and_keeps_its_read_audited(console_as, failed_delivery, runtime, audit_events):  # noqa: F811
    delivery_id, subject_id, name = failed_delivery
    with runtime.database.unit_of_work() as session:  # re-queued and since delivered
        row = session.get(WebhookDelivery, delivery_id)
        row.state, row.delivered_at, row.failed_at = "delivered", NOW, None
    c = console_as("privacy_staff")
    refused_id = _rid()
    refused = c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": "me"}, headers={"X-Request-Id": refused_id})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409 and 'id="action-error"' in html
    assert name in html and str(subject_id) in html and 'data-state="delivered"' in html  # the delivery as it stands
    assert _actions(audit_events, refused_id) == [("webhooks:delivery:read", "allowed")]
    assert [e.subject_id for e in audit_events(request_id=refused_id)] == [subject_id]
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookDelivery, delivery_id).assignee_id is None
