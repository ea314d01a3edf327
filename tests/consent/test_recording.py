"""A consent event records purpose, notice version (and the hash of the exact text shown), channel, evidence, time
and who captured it; a receipt with the Kantara fields comes back and can be fetched again; bad input stores nothing."""

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from govern.config import PROJECT_ROOT

KANTARA = {
    "version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID", "language", "piiPrincipalId",
    "piiControllers", "policyUrl", "services", "sensitive", "spiCat",
}


def test_a_grant_returns_a_receipt_that_can_be_fetched_again(crm, client_as, make_subject, consent, audit_events):
    sid = make_subject()
    r = consent(crm, sid, channel="wechat", captured_by="store-0451")
    assert r.status_code == 201, r.json
    receipt = r.json
    assert KANTARA <= set(receipt)
    assert (receipt["piiPrincipalId"], receipt["jurisdiction"], receipt["collectionMethod"]) == (str(sid), "CN", "wechat: explicit")
    assert receipt["piiControllers"][0]["piiController"] == "示例零售有限公司"
    assert receipt["policyUrl"].endswith("/notices/marketing?lang=zh&version=2026-06")
    [purpose] = receipt["services"][0]["purposes"]
    assert purpose["purposeCategory"] == ["marketing"] and purpose["consentType"] == "EXPLICIT"
    assert set(purpose["piiCategory"]) == {"basic_identity", "contact", "transaction", "online_activity"}
    assert purpose["thirdPartyDisclosure"] is False and receipt["sensitive"] is False
    text = (PROJECT_ROOT / "policies/notices/marketing/2026-06.zh.md").read_bytes()
    assert receipt["govern"]["notices"] == [{"purpose": "marketing", "version": "2026-06", "language": "zh", "sha256": hashlib.sha256(text).hexdigest()}]
    assert r.headers["Location"] == f"/api/v1/receipts/{receipt['consentReceiptID']}"

    again = client_as("privacy_staff").get(r.headers["Location"])
    assert again.status_code == 200 and again.json == receipt
    [event] = audit_events(action="consent:event:grant")
    assert (event.subject_id, event.purpose, event.resource) == (sid, "marketing", f"consent-receipt:{receipt['consentReceiptID']}")


def test_the_event_pins_notice_version_hash_channel_evidence_and_actor(crm, make_subject, consent, runtime):
    from govern.consent.models import ConsentEvent

    sid = make_subject()
    when = datetime.now(timezone.utc) - timedelta(days=2)
    assert consent(crm, sid, channel="paper", method="written", evidence="scan-77", occurred_at=when.isoformat(), notice_version="2026-01", notice_language="en").status_code == 201
    with runtime.database.unit_of_work() as session:
        [e] = session.scalars(select(ConsentEvent)).all()
        assert (e.action, e.method, e.channel, e.notice_version, e.notice_language, e.evidence) == ("grant", "written", "paper", "2026-01", "en", "scan-77")
        assert e.notice_sha256 == hashlib.sha256((PROJECT_ROOT / "policies/notices/marketing/2026-01.en.md").read_bytes()).hexdigest()
        assert e.recorded_by == crm.principal_id and abs((e.occurred_at.replace(tzinfo=timezone.utc) - when).total_seconds()) < 1


def test_the_hash_a_client_saw_must_match_the_text(crm, make_subject, consent, row_counts):
    sid = make_subject()
    before = row_counts()
    r = consent(crm, sid, notice_sha256="0" * 64)
    assert r.status_code == 400 and "notice_sha256" in r.json["errors"]
    assert row_counts() == before


@pytest.mark.parametrize(("action", "body", "status", "code"), [
    ("grant", {"purpose": "astrology"}, 400, "validation_failed"),
    ("grant", {"notice_version": "1999-01"}, 400, "validation_failed"),
    ("grant", {"occurred_at": (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()}, 400, "validation_failed"),
    ("grant", {"occurred_at": "2026-01-01T00:00:00"}, 400, "validation_failed"),
    ("grant", {"channel": "carrier_pigeon"}, 400, "validation_failed"),
    ("grant", {"evidence": None}, 400, "validation_failed"),
    ("grant", {"purpose": "order_fulfilment", "notice_version": "2026-01"}, 409, "consent_not_applicable"),
    ("withdraw", {}, 409, "nothing_to_withdraw"),
])
def test_bad_input_is_a_problem_and_stores_nothing(crm, make_subject, consent, row_counts, action, body, status, code):
    sid = make_subject()
    before = row_counts()
    purpose = body.pop("purpose", "marketing")
    r = consent(crm, sid, action, purpose=purpose, **body)
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json" and r.json["code"] == code
    assert row_counts() == before


def test_a_withdrawal_of_a_withdrawn_consent_is_refused(crm, make_subject, consent):
    sid = make_subject()
    consent(crm, sid, "grant")
    assert consent(crm, sid, "withdraw").status_code == 201
    assert consent(crm, sid, "withdraw").json["code"] == "nothing_to_withdraw"


def test_an_event_dated_before_the_last_one_is_refused(crm, make_subject, consent):
    sid = make_subject()
    assert consent(crm, sid, "grant").status_code == 201
    old = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    r = consent(crm, sid, "withdraw", occurred_at=old, occurred_reason="letter opened late")
    assert r.status_code == 409 and r.json["code"] == "out_of_order"


def test_an_unknown_subject_is_not_found(crm, consent):
    r = consent(crm, "00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404


def test_a_retried_grant_with_the_same_idempotency_key_is_recorded_once(crm, make_subject, runtime):
    from govern.consent.models import ConsentEvent

    sid = make_subject()
    body = {"action": "grant", "purpose": "marketing", "notice_version": "2026-06", "channel": "app", "evidence": "f-1"}
    first = crm.post(f"/api/v1/subjects/{sid}/consents", json=body, headers={"Idempotency-Key": "k-1"})
    second = crm.post(f"/api/v1/subjects/{sid}/consents", json=body, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, second.status_code) == (201, 201) and first.json == second.json
    with runtime.database.unit_of_work() as session:
        assert len(session.scalars(select(ConsentEvent)).all()) == 1


def test_a_subjects_history_shows_state_and_every_event(crm, client_as, make_subject, consent, audit_events):
    sid = make_subject()
    consent(crm, sid, "grant")
    consent(crm, sid, "withdraw")
    consent(crm, sid, "grant", purpose="personalisation")
    r = client_as("privacy_staff").get(f"/api/v1/subjects/{sid}/consents")
    assert r.status_code == 200, r.json
    current = {c["purpose"]: c for c in r.json["current"]}
    assert (current["marketing"]["status"], current["marketing"]["usable"], current["marketing"]["reason"]) == ("withdrawn", False, "consent_withdrawn")
    assert (current["personalisation"]["status"], current["personalisation"]["usable"]) == ("granted", True)
    assert current["health_services"]["status"] == "none"
    assert [(e["purpose"], e["action"]) for e in r.json["events"]] == [("marketing", "grant"), ("marketing", "withdraw"), ("personalisation", "grant")]
    assert audit_events(action="consent:history:read")[0].subject_id == sid


def test_the_consent_history_needs_a_permission(marketing, make_subject):
    r = marketing.get(f"/api/v1/subjects/{make_subject()}/consents")
    assert r.status_code == 403 and r.json["code"] == "permission_denied"
