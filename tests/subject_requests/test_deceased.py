"""Deceased persons (PIPL Art. 49): staff mark a subject deceased with the date and an evidence reference (audited);
then a verified close relative may file access (and copy), correction and deletion requests about the deceased, unless
the deceased arranged otherwise. The relative is recorded by a relationship code from policy and the reference of the
check — never by name; other request types are recorded and refused with the reason and how to complain."""

import uuid
from datetime import date, timedelta

from govern.subject_requests.models import DataSubjectRequest
from govern.timeutil import utcnow

KIN = {"relationship": "spouse", "verification_ref": "KIN-CHECK-2026-0042"}


def _mark(client, sid, **extra):
    body = {"deceased_on": (utcnow() - timedelta(days=12)).date().isoformat(), "evidence_ref": "DEATH-CERT-REF-991", **extra}
    return client.post(f"/api/v1/requests/deceased/{sid}", json=body)


def _file(client, sid, type="access", next_of_kin=KIN, **extra):
    body = {"subject_id": str(sid), "type": type, "channel": "in_store", "next_of_kin": next_of_kin, **extra}
    return client.post("/api/v1/requests", json=body)


def test_staff_mark_a_subject_deceased_with_evidence_audited_and_a_service_cannot(client_as, make_subject, audit_events, row_counts):
    sid = make_subject(jurisdiction="CN")
    crm, staff = client_as("sales_service"), client_as("privacy_staff")
    before = row_counts()
    assert _mark(crm, sid).json["code"] == "permission_denied"
    r = _mark(staff, sid, evidence_ref="")
    assert r.status_code == 400
    r = _mark(staff, sid, deceased_on=(date.today() + timedelta(days=5)).isoformat())
    assert r.status_code == 400 and "deceased_on" in r.json["errors"]
    r = _mark(staff, sid, evidence_ref="certificate of 张伟 13800138000")
    assert r.status_code == 400 and "evidence_ref" in r.json["errors"]
    assert {**row_counts(), "audit_events": 0} == {**before, "audit_events": 0}
    r = _mark(staff, sid)
    assert r.status_code == 200, r.json
    assert (r.json["evidence_ref"], r.json["arranged_otherwise"]) == ("DEATH-CERT-REF-991", False)
    [event] = audit_events(action="requests:deceased:record", subject_id=sid)
    assert (event.reason, event.actor_name) == ("marked", staff.name)


def test_a_close_relative_files_access_correction_and_deletion_verified_by_a_document_check(client_as, make_subject, runtime):
    sid = make_subject(jurisdiction="CN")
    staff = client_as("privacy_staff")
    _mark(staff, sid)
    for rtype, details in (("access", {}), ("erasure", {}), ("rectification", {"fields": {"email": "corrected@example.cn"}})):
        r = _file(staff, sid, rtype, details=details)
        assert r.status_code == 201 and r.json["state"] == "received" and r.json["verification_required"], r.json
        view = staff.get(f"/api/v1/requests/{r.json['id']}").json
        assert view["requester_relationship"] == "spouse"
        [received] = [e for e in view["timeline"] if e["kind"] == "received"]
        assert received["data"]["next_of_kin"] == "spouse"
    # Verified by staff checking documents only: never through the deceased's CRM session.
    rid = _file(staff, sid, "access").json["id"]
    r = client_as("sales_service").post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "sess-9"})
    assert r.status_code in (404, 409)
    r = staff.post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "sess-9"})
    assert r.status_code in (403, 409)
    r = staff.post(f"/api/v1/requests/{rid}/verify", json={"method": "document", "reference": "KIN-CHECK-2026-0042"})
    assert r.status_code == 200 and r.json["verified"] and r.json["state"] == "in_progress", r.json
    # Nothing about the relative but the code and the reference is stored.
    with runtime.database.unit_of_work() as session:
        row = session.get(DataSubjectRequest, uuid.UUID(rid))
        assert (row.requester_relationship, row.requester_verification_ref) == ("spouse", "KIN-CHECK-2026-0042")


def test_a_relative_asking_for_another_type_is_recorded_and_refused_with_the_reason(client_as, make_subject):
    sid = make_subject(jurisdiction="CN")
    staff = client_as("privacy_staff")
    _mark(staff, sid)
    r = _file(staff, sid, "portability")
    assert r.status_code == 201 and r.json["state"] == "refused", r.json
    view = staff.get(f"/api/v1/requests/{r.json['id']}").json
    refusal = view["response"]["refusal"]
    assert refusal["reason"] == "not_applicable" and "PIPL Art. 49" in refusal["legal_basis"] and refusal["complaint"]["zh"]
    assert "access" in refusal["explanation"]


def test_the_deceaseds_own_arrangement_refuses_every_relative(client_as, make_subject):
    sid = make_subject(jurisdiction="CN")
    staff = client_as("privacy_staff")
    _mark(staff, sid)
    assert _mark(staff, sid, arranged_otherwise=True).json["arranged_otherwise"] is True  # a will found later
    r = _file(staff, sid, "access")
    assert r.status_code == 201 and r.json["state"] == "refused"
    assert staff.get(f"/api/v1/requests/{r.json['id']}").json["refusal_reason"] == "legal_exception"


def test_relationship_is_a_policy_code_and_personal_data_is_refused(client_as, make_subject, row_counts):
    sid = make_subject(jurisdiction="CN")
    staff = client_as("privacy_staff")
    _mark(staff, sid)
    before = row_counts()
    for kin, field in (
        ({"relationship": "friend", "verification_ref": "K-1"}, "next_of_kin.relationship"),
        ({"relationship": "child", "verification_ref": "son 李雷 mobile 13800138000"}, "next_of_kin.verification_ref"),
        ({"relationship": "child", "verification_ref": "K-1", "name": "李雷"}, "next_of_kin"),
    ):
        r = _file(staff, sid, "access", next_of_kin=kin)
        assert r.status_code == 400 and field in str(r.json["errors"]), (kin, r.json)
    assert row_counts() == before


def test_a_relative_acts_only_for_a_deceased_subject_and_nobody_files_as_the_deceased(client_as, make_subject, row_counts):
    living, dead = make_subject(jurisdiction="CN"), make_subject(jurisdiction="CN")
    staff, crm = client_as("privacy_staff"), client_as("sales_service")
    r = _file(staff, living, "access")
    assert r.status_code == 409 and r.json["code"] == "subject_not_deceased"
    _mark(staff, dead)
    r = crm.post("/api/v1/requests", json={"subject_id": str(dead), "type": "access", "channel": "app"})
    assert r.status_code == 409 and r.json["code"] == "subject_deceased"


def test_a_relatives_verified_erasure_is_carried_out(client_as, make_subject):
    sid = make_subject(jurisdiction="CN")
    staff = client_as("privacy_staff")
    _mark(staff, sid)
    rid = _file(staff, sid, "erasure").json["id"]
    assert staff.post(f"/api/v1/requests/{rid}/complete", json={}).json["code"] == "identity_not_verified"
    assert staff.post(f"/api/v1/requests/{rid}/verify", json={"method": "document", "reference": "KIN-CHECK-2026-0042"}).json["verified"]
    r = staff.post(f"/api/v1/requests/{rid}/complete", json={})
    assert r.status_code == 200 and r.json["state"] == "completed", r.json
    assert client_as("dpo").get(f"/api/v1/subjects/{sid}", purpose="legal_compliance").status_code in (404, 410)
