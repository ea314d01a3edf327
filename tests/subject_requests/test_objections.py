"""An objection stops the legitimate-interest purposes it names (or all of them) for the subject at read time, until staff
lift it on compelling legitimate grounds (GDPR Art. 21(1)); the lift is audited and the objection is kept, never
dropped. A purpose that rests on another basis (fraud checks in China are a legal obligation) is not stopped."""

import dataclasses
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from govern.access import service as access
from govern.consent import objections
from govern.consent.models import ProcessingObjection
from govern.identity.actor import Actor
from govern.retention import service as retention
from govern.subject_requests import flows

SECURITY = Actor(name="fraud-desk", kind="staff", roles=("security",))
GROUNDS = "Card-testing attack traced to this account; DPO assessment DPIA-77 found the fraud checks override the objection"


def _object(file_request, verify_by_session, act, sid, purposes=None):
    rid = file_request(sid, "objection", details={"purposes": purposes} if purposes is not None else {})
    verify_by_session(rid)
    return rid, act(flows.complete, request_id=rid)


def _lift(client, rid, purpose="fraud_prevention", reason=GROUNDS):
    return client.post(f"/api/v1/requests/{rid}/objections/lift", json={"purpose": purpose, "reason": reason})


def test_an_objection_to_fraud_prevention_refuses_the_next_read_for_it_and_no_other(
    client_as, make_subject, file_request, verify_by_session, act, audit_events,
):
    sid = make_subject(jurisdiction="EU")
    security, sales = client_as("security"), client_as("sales_service")
    assert security.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").status_code == 200
    rid, done = _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    assert done.response["legitimate_interest_objected"] == ["fraud_prevention"] and done.response["not_stopped"] == []

    for url in (f"/api/v1/subjects/{sid}", f"/api/v1/subjects/{sid}/records"):
        r = security.get(url, purpose="fraud_prevention")
        assert r.status_code == 403 and r.json["reason"] == "objection_recorded", url
        assert "fields" not in r.json and "records" not in r.json
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    refused = audit_events(action="subjects:profile:read", subject_id=sid, outcome="denied")
    assert [(e.purpose, e.reason) for e in refused] == [("fraud_prevention", "objection_recorded")]
    [recorded] = audit_events(action="access:objection:record")
    assert (recorded.subject_id, recorded.purpose, recorded.resource) == (sid, "fraud_prevention", f"request:{rid}")


def test_an_objection_naming_no_purpose_stops_every_legitimate_interest_purpose_of_the_jurisdiction(
    make_subject, file_request, verify_by_session, act, runtime,
):
    sid = make_subject(jurisdiction="EU")
    _, done = _object(file_request, verify_by_session, act, sid)
    expected = sorted(n for n, p in runtime.policy.purposes.items() if p.basis_for("EU") == "legitimate_interest")
    assert expected == ["fraud_prevention"]
    assert done.response["legitimate_interest_objected"] == expected and "not_stopped" not in done.response


def test_a_lifted_objection_reads_again_and_the_lift_is_audited_and_kept(
    client_as, make_subject, file_request, verify_by_session, act, audit_events, runtime,
):
    sid = make_subject(jurisdiction="EU")
    rid, _ = _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    security, staff = client_as("security"), client_as("privacy_staff")
    assert security.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"

    r = _lift(staff, rid)
    assert r.status_code == 200, r.json
    [lifted] = [e for e in r.json["timeline"] if e["kind"] == "objection_lifted"]
    assert (lifted["reason"], lifted["data"], lifted["actor"]) == (GROUNDS, {"purpose": "fraud_prevention"}, staff.name)
    assert security.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").status_code == 200
    [event] = audit_events(action="access:objection:lift")
    assert (event.subject_id, event.purpose, event.reason, event.resource) == (sid, "fraud_prevention", "compelling_legitimate_grounds", f"request:{rid}")
    assert "DPIA-77" not in event.canonical  # the free-text grounds stay in the table and the timeline
    with runtime.database.unit_of_work() as session:
        [row] = objections.objections_of(session=session, subject_id=sid)
        assert (row.request_id, row.lifted_reason, row.lifted_by) == (rid, GROUNDS, staff.name) and row.lifted_at is not None
    # Lifted once: nothing left to lift; a new objection request stops the purpose again.
    assert _lift(staff, rid).json["code"] == "no_objection"
    _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    assert security.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"


def test_a_lift_needs_grounds_staff_and_an_objection_the_request_recorded(client_as, make_subject, file_request, verify_by_session, act, row_counts):
    sid = make_subject(jurisdiction="EU")
    rid, _ = _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    staff, restriction = client_as("privacy_staff"), file_request(sid, "restriction")
    before = row_counts()
    assert _lift(staff, rid, reason="  ").status_code == 400
    assert _lift(staff, rid, purpose="order_fulfilment").status_code == 400
    assert _lift(client_as("sales_service"), rid).json["code"] == "permission_denied"
    assert _lift(staff, restriction).json["code"] == "not_an_objection"
    after = row_counts()
    assert {t: after[t] for t in ("processing_objections", "dsr_events", "dsr_requests")} == {t: before[t] for t in ("processing_objections", "dsr_events", "dsr_requests")}
    assert client_as("security").get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"


def test_an_objection_does_not_stop_fraud_checks_that_are_a_legal_obligation_in_china(client_as, make_subject, file_request, verify_by_session, act):
    sid = make_subject(jurisdiction="CN")
    _, done = _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    assert done.response["legitimate_interest_objected"] == []
    assert done.response["not_stopped"] == [{"purpose": "fraud_prevention", "legal_basis": "legal_obligation"}]
    assert client_as("security").get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").status_code == 200


def test_the_bulk_check_and_a_disclosure_refuse_the_objecting_subject_too(client_as, make_subject, file_request, verify_by_session, act, runtime):
    from govern.errors import Problem
    from govern.sharing import service as sharing

    objecting, other, chinese = make_subject(jurisdiction="EU"), make_subject(jurisdiction="EU"), make_subject(jurisdiction="CN")
    _object(file_request, verify_by_session, act, objecting, ["fraud_prevention"])
    _object(file_request, verify_by_session, act, chinese, ["fraud_prevention"])
    with runtime.database.unit_of_work() as session:
        allowed = access.allowed_subjects(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=SECURITY,
                                           purpose_name="fraud_prevention", subject_ids=[objecting, other, chinese])
    assert allowed == [other, chinese]

    recipient = uuid.UUID(client_as("privacy_staff").post("/api/v1/recipients", json={
        "name": "Card Scheme Fraud Desk", "contact": "fraud@scheme.example", "purpose": "fraud_prevention", "categories": ["basic_identity"],
        "country": "CN", "agreement_ref": "DSA-2026-031", "agreement_expires_on": (date.today() + timedelta(days=365)).isoformat(),
    }).json["id"])
    # A fraud desk that sees names in full (security sees them masked, and may disclose only what it sees in full).
    roles = dict(runtime.policy.roles)
    roles["security"] = dataclasses.replace(roles["security"], field_visibility={"name": "full"})
    policy = dataclasses.replace(runtime.policy, roles=roles)
    with runtime.database.unit_of_work() as session:
        try:
            sharing.disclose(session=session, policy=policy, envelope=runtime.envelope, actor=SECURITY, subject_id=objecting,
                             recipient_id=recipient, fields=["name"])
            raise AssertionError("disclosed despite the objection")
        except Problem as exc:
            assert exc.extra == {"reason": "objection_recorded"}
        assert sharing.disclose(session=session, policy=policy, envelope=runtime.envelope, actor=SECURITY, subject_id=other,
                                recipient_id=recipient, fields=["name"]).values == {"name": "张三"}


@pytest.mark.parametrize("kind", ["erasure", "account_closure"])
@pytest.mark.parametrize("weighed", [False, True], ids=["shredded-at-once", "weighed-record-by-record"])
def test_an_erased_subject_takes_its_objections_with_it(make_subject, file_request, verify_by_session, act, runtime, kind, weighed):
    sid = make_subject(jurisdiction="EU")
    _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    if weighed:  # a hold on a record type the subject does not hold: every record is weighed, and nothing is kept
        with runtime.database.unit_of_work() as session:
            retention.place_hold(session=session, policy=runtime.policy, actor=Actor.operator(), subject_id=sid, reason="litigation",
                                 record_type="purchase")
    rid = file_request(sid, kind)
    verify_by_session(rid)
    done = act(flows.complete, request_id=rid, ledgers=runtime.ledgers)
    assert done.response["certificate"]["subject_status"] == "erased"
    with runtime.database.unit_of_work() as session:
        assert session.scalars(select(ProcessingObjection).where(ProcessingObjection.subject_id == sid)).all() == []


def test_the_access_package_lists_the_objection_and_no_longer_the_purpose_it_stopped(make_subject, file_request, verify_by_session, act):
    import io
    import json
    import zipfile


    sid = make_subject(jurisdiction="EU")
    rid, _ = _object(file_request, verify_by_session, act, sid, ["fraud_prevention"])
    access_request = file_request(sid, "access")
    verify_by_session(access_request)
    with zipfile.ZipFile(io.BytesIO(act(flows.package, request_id=access_request).content)) as z:
        data, summary = json.loads(z.read("data.json")), z.read("summary.zh.txt").decode()
    [objection] = data["objections"]
    assert (objection["purpose"], objection["request_id"], objection["lifted_at"]) == ("fraud_prevention", str(rid), None)
    assert "fraud_prevention" not in [p["purpose"] for p in data["processing"]]
    assert "order_fulfilment" in [p["purpose"] for p in data["processing"]]
    assert "反对处理" in summary and "反欺诈: 有效，已停止处理" in summary  # the purpose by its name (issue 19 item 3)
