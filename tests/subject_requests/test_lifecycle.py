"""Filing, verification first, the clock from recorded events, explicit states: illegal moves and unverified attempts
are refused and change nothing; every state change is audited."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from govern.errors import Problem
from govern.subject_requests import flows, service
from govern.timeutil import utcnow
from tests.subject_requests.conftest import CRM

BRU, LA = ZoneInfo("Europe/Brussels"), ZoneInfo("America/Los_Angeles")


def _changed(before, after):
    return {t: (before[t], after[t]) for t in before if before[t] != after[t] and t not in ("audit_events",)}


def test_a_crm_files_a_request_and_gets_its_id_and_due_date(client_as, make_subject, audit_events):
    sid = make_subject()
    crm = client_as("sales_service")
    r = crm.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "app", "details": {"fields": ["email"]}})
    assert r.status_code == 201, r.json
    assert r.json["state"] == "received" and r.json["due_at"] and r.json["deadlines"]["sources"]["respond"].startswith("PIPL Art. 50")
    got = crm.get(f"/api/v1/requests/{r.json['id']}").json
    assert got["details"] == {"fields": ["email"]} and [e["kind"] for e in got["timeline"]] == ["received", "acknowledged"]
    assert [e.action for e in audit_events(subject_id=sid) if e.action.startswith("requests:")] == ["requests:request:file", "requests:request:read"]


def test_a_bad_request_names_the_problem_and_stores_nothing(client_as, make_subject, row_counts):
    sid = make_subject()
    crm = client_as("sales_service")
    before = row_counts()
    r = crm.post("/api/v1/requests", json={"subject_id": str(sid), "type": "rectification", "channel": "app", "details": {"fields": {"mobile": "12345"}}})
    assert r.status_code == 400 and "details.fields.mobile" in r.json["errors"]
    r = crm.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "pigeon"})
    assert r.status_code == 400 and "channel" in r.json["errors"]
    assert _changed(before, row_counts()) == {}


def test_nothing_is_disclosed_or_erased_before_verification(client_as, make_subject, file_request, row_counts, audit_events):
    sid = make_subject()
    access, erase = file_request(sid, "access"), file_request(sid, "erasure")
    staff = client_as("privacy_staff")
    before = row_counts()
    r = staff.get(f"/api/v1/requests/{access}/package")
    assert r.status_code == 409 and r.json["code"] == "identity_not_verified"
    r = staff.post(f"/api/v1/requests/{erase}/complete", json={})
    assert r.status_code == 409 and r.json["code"] == "identity_not_verified"
    assert _changed(before, row_counts()) == {}
    refused = [e for e in audit_events(outcome="denied") if e.reason == "identity_not_verified"]
    assert len(refused) == 2


def test_a_crm_session_verifies_and_work_starts(client_as, make_subject, file_request):
    sid = make_subject()
    crm = client_as("sales_service")
    rid = file_request(sid, "access", by=crm)
    r = crm.post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "sess-42"})
    assert r.status_code == 200 and r.json["verified"] and r.json["state"] == "in_progress"
    got = client_as("privacy_staff").get(f"/api/v1/requests/{rid}").json
    assert got["verification_method"] == "crm_session" and got["verified_by"].startswith("p-sales-service")


def test_only_a_crm_service_asserts_a_session_and_only_staff_check_documents(client_as, make_subject, file_request):
    crm = client_as("sales_service")
    rid = file_request(make_subject(), "access", by=crm)
    r = client_as("privacy_staff").post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "s"})
    assert r.status_code == 403 and r.json["reason"] == "not_a_crm_service"
    r = crm.post(f"/api/v1/requests/{rid}/verify", json={"method": "document", "reference": "doc-1"})
    assert r.status_code == 403 and r.json["reason"] == "not_staff"
    r = client_as("privacy_staff").post(f"/api/v1/requests/{rid}/verify", json={"method": "document", "reference": "doc-1"})
    assert r.status_code == 200 and r.json["verified"]


def test_a_one_time_code_verifies_and_only_its_keyed_hash_is_kept(client_as, make_subject, file_request, runtime):
    crm = client_as("sales_service")
    rid = file_request(make_subject(), "access", by=crm)
    issued = crm.post(f"/api/v1/requests/{rid}/otp")
    assert issued.status_code == 201 and len(issued.json["code"]) == 6
    with runtime.database.unit_of_work() as session:
        req = service.get_or_raise(session=session, request_id=rid)
        assert req.state == "identity_pending" and req.otp_hash and issued.json["code"] not in req.otp_hash
    r = crm.post(f"/api/v1/requests/{rid}/verify", json={"method": "otp", "code": issued.json["code"]})
    assert r.json["verified"] and r.json["state"] == "in_progress"


def test_repeated_failed_verification_locks_the_request(client_as, make_subject, file_request, runtime, audit_events):
    sid = make_subject()
    crm = client_as("sales_service")
    rid = file_request(sid, "erasure", by=crm)
    code = crm.post(f"/api/v1/requests/{rid}/otp").json["code"]
    wrong = "000000" if code != "000000" else "111111"
    results = []
    for _ in range(runtime.policy.requests.max_failures):
        if crm.post(f"/api/v1/requests/{rid}/otp").status_code != 201:
            break
        results.append(crm.post(f"/api/v1/requests/{rid}/verify", json={"method": "otp", "code": wrong}).json)
    assert [r["verified"] for r in results] == [False] * 5 and results[-1]["locked"] and results[-1]["failures_left"] == 0
    r = crm.post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "s"})
    assert r.status_code == 423 and r.json["code"] == "verification_locked"
    assert client_as("privacy_staff").post(f"/api/v1/requests/{rid}/complete", json={}).status_code == 409
    assert len(audit_events(action="requests:identity:lock")) == 1
    assert len([e for e in audit_events(action="requests:identity:verify") if e.outcome == "failed"]) == 5


def test_an_expired_code_fails(act, make_subject, file_request):
    rid = file_request(make_subject(), "access")
    now = datetime.now().astimezone()
    code, _ = act(service.issue_otp, actor=CRM, request_id=rid, now=now)
    result = act(service.verify, actor=CRM, request_id=rid, method="otp", code=code, now=now + timedelta(minutes=16))
    assert (result.verified, result.reason) == (False, "otp_expired")


@pytest.mark.parametrize(("path", "body"), [
    ("complete", {}), ("withdraw", None), ("extend", {"reason": "complex"}), ("pause", {"reason": "waiting"}),
    ("refuse", {"reason": "excessive", "legal_basis": "GDPR Art. 12(5)(b)"}), ("acknowledge", None),
])
def test_a_closed_request_refuses_every_move_and_changes_nothing(client_as, make_subject, file_request, act, row_counts, path, body):
    rid = file_request(make_subject(), "access")
    act(service.withdraw, actor=CRM, request_id=rid)
    staff = client_as("privacy_staff")
    before = row_counts()
    r = staff.post(f"/api/v1/requests/{rid}/{path}", json=body)
    assert r.status_code == 409 and r.mimetype == "application/problem+json", r.json
    assert _changed(before, row_counts()) == {}


def test_a_refusal_names_reason_and_basis_and_tells_how_to_complain(client_as, make_subject, file_request):
    rid = file_request(make_subject(jurisdiction="EU"), "access")
    staff = client_as("privacy_staff")
    assert staff.post(f"/api/v1/requests/{rid}/refuse", json={"reason": "excessive"}).status_code == 400
    r = staff.post(f"/api/v1/requests/{rid}/refuse", json={"reason": "manifestly_unfounded", "legal_basis": "GDPR Art. 12(5)(b)"})
    assert r.status_code == 200 and r.json["state"] == "refused"
    refusal = r.json["response"]["refusal"]
    assert refusal["legal_basis"] == "GDPR Art. 12(5)(b)" and "supervisory authority" in refusal["complaint"]["en"] and "Art. 77" in refusal["complaint"]["source"]


def test_gdpr_extension_must_be_told_within_the_first_month_with_reasons(make_subject, file_request, act):
    received = datetime(2026, 3, 10, 9, tzinfo=BRU)
    sid = make_subject(jurisdiction="EU")
    late = file_request(sid, "access", now=received)
    with pytest.raises(Problem) as exc:
        act(service.extend, request_id=late, reason="", now=received + timedelta(days=30))
    assert exc.value.code == "validation_failed"
    with pytest.raises(Problem) as exc:
        act(service.extend, request_id=late, reason="three archives to search", now=datetime(2026, 4, 11, 9, tzinfo=BRU))
    assert exc.value.code == "extension_too_late"
    d = act(service.extend, request_id=late, reason="three archives to search", now=datetime(2026, 4, 10, 20, tzinfo=BRU))
    assert (d.original_due.isoformat(), d.due.isoformat()) == ("2026-04-10", "2026-06-10")
    with pytest.raises(Problem) as exc:
        act(service.extend, request_id=late, reason="again", now=datetime(2026, 4, 10, 21, tzinfo=BRU))
    assert exc.value.code == "extension_exhausted"


def test_ccpa_clock_runs_from_receipt_while_verification_is_pending(make_subject, file_request, act, verify_by_session):
    received = datetime(2026, 3, 2, 10, tzinfo=LA)
    rid = file_request(make_subject(jurisdiction="US-CA"), "access", now=received, acknowledge=False)
    with pytest.raises(Problem) as exc:
        act(service.pause, request_id=rid, reason="waiting for ID", now=received + timedelta(days=2))
    assert exc.value.code == "pause_not_allowed"
    d = act(service.acknowledge, request_id=rid, now=datetime(2026, 3, 16, 17, tzinfo=LA))  # business day 10
    assert d.acknowledged_on == d.acknowledge_by
    verify_by_session(rid, now=received + timedelta(days=20))
    d = act(service.extend, request_id=rid, reason="volume of records", now=received + timedelta(days=40))
    assert d.due == (received + timedelta(days=90)).date()
    req, _, d2 = act(service.read, request_id=rid, now=received + timedelta(days=41))
    assert d2.due == d.due and req.extended


def test_the_queue_sorts_by_due_date_and_flags_due_soon_and_overdue(make_subject, file_request, act):
    now = datetime.now().astimezone()
    sid = make_subject()
    closure = file_request(sid, "account_closure", now=now - timedelta(days=25))  # 15 working days: overdue
    access = file_request(sid, "access", now=now - timedelta(days=28))  # 30 days: due within 3 days
    fresh = file_request(make_subject(), "access", now=now)
    items = act(service.queue, now=now)
    assert [i.request.id for i in items] == [closure, access, fresh]
    assert [(i.overdue, i.due_soon) for i in items] == [(True, False), (False, True), (False, False)]


def test_a_second_request_for_the_same_thing_while_one_is_open_is_a_duplicate(make_subject, file_request, act, verify_by_session):
    sid = make_subject()
    first = file_request(sid, "access")
    verify_by_session(first)
    second = file_request(sid, "access")
    other = file_request(sid, "access", details={"fields": ["email"]})
    req, _, _ = act(service.read, request_id=second)
    assert (req.state, req.duplicate_of) == ("duplicate", first)
    req, _, _ = act(service.read, request_id=other)
    assert req.state == "received"


def test_unverified_requests_close_themselves_after_the_configured_days(make_subject, file_request, act):
    now = datetime.now().astimezone()
    old = file_request(make_subject(), "access", now=now - timedelta(days=31))
    young = file_request(make_subject(), "access", now=now - timedelta(days=5))
    assert act(service.close_unverified, now=now) == 1
    assert act(service.read, request_id=old)[0].state == "refused"
    assert act(service.read, request_id=young)[0].state == "received"


def test_ccpa_opt_out_needs_no_verification_and_withdraws_consent(make_subject, file_request, act, runtime):
    from govern.consent import service as consent

    sid = make_subject(jurisdiction="US-CA")
    with runtime.database.unit_of_work() as session:
        consent.record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, action="grant",
                       purposes=["marketing"], channel="web", notice_version="2026-06", evidence="form-1")
    rid = file_request(sid, "objection", details={"purposes": ["marketing"]})
    assert act(service.read, request_id=rid)[0].state == "in_progress"
    done = act(flows.complete, request_id=rid)
    assert done.response["consent_withdrawn"] == ["marketing"] and done.state == "completed"
    with runtime.database.unit_of_work() as session:
        assert consent.derive_state(consent.events_of(session=session, subject_id=sid)) == {"marketing": "withdrawn"}


def test_rectification_is_validated_applied_and_audited_by_field_name(client_as, make_subject, file_request, act, verify_by_session, audit_events):
    sid = make_subject()
    rid = file_request(sid, "rectification", details={"fields": {"email": "new.address@example.cn"}})
    verify_by_session(rid)
    act(flows.complete, request_id=rid)
    fields = client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["fields"]
    assert fields["email"] == "new.address@example.cn"
    [update] = audit_events(action="subjects:profile:update", subject_id=sid)
    assert update.field_names == "email" and "new.address" not in update.canonical


def test_restriction_stops_every_purpose_but_legal_compliance_until_lifted(client_as, make_subject, file_request, act, verify_by_session):
    sid = make_subject()
    rid = file_request(sid, "restriction")
    verify_by_session(rid)
    act(flows.complete, request_id=rid)
    sales = client_as("sales_service")
    r = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert r.status_code == 403 and r.json["reason"] == "subject_restricted"
    assert client_as("dpo").get(f"/api/v1/subjects/{sid}", purpose="legal_compliance").status_code == 200
    act(flows.lift_restriction, request_id=rid, reason="the subject's dispute was resolved", told_at=utcnow(), told_channel="email")
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200


def test_every_state_change_is_audited(make_subject, file_request, act, verify_by_session, audit_events):
    sid = make_subject()
    rid = file_request(sid, "complaint")
    verify_by_session(rid)
    act(flows.complete, request_id=rid, explanation="apologised; process changed")
    actions = [e.action for e in audit_events(subject_id=sid) if e.action.startswith("requests:")]
    assert actions == ["requests:request:file", "requests:identity:verify", "requests:request:complete"]
    _, events, _ = act(service.read, request_id=rid)
    assert [(e.from_state, e.to_state) for e in events if e.to_state] == [("received", "in_progress"), ("in_progress", "completed")]
