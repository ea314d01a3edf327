"""Affected subjects are computed from the audit log, not guessed: what a compromised key read or changed inside the
window (and nothing outside it), frozen as a versioned list that later reads do not change, with counts by
jurisdiction, category and sensitivity, and minors from the decrypted date of birth."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

from tests.breach.conftest import iso
from tests.conftest import VALID_FIELDS


def _tick() -> datetime:
    """A boundary strictly between the events before and after it."""
    time.sleep(0.01)
    moment = datetime.now(timezone.utc)
    time.sleep(0.01)
    return moment


def _incident(dpo, principals, start):
    r = dpo.post("/api/v1/incidents", json={
        "title": "Leaked CRM key", "detected_at": iso(datetime.now(timezone.utc)), "source": {"principals": principals, "from": iso(start)},
    })
    assert r.status_code == 201, r.json
    return r.json["id"]


def test_a_compromised_key_s_reads_inside_the_window_are_the_affected_subjects(client_as, dpo, make_subject):
    crm, other = client_as("sales_service"), client_as("sales_service")
    child_born = date.today().replace(year=date.today().year - 10)
    cn_adult = make_subject()
    cn_child = make_subject(fields={**VALID_FIELDS, "birth_date": child_born.isoformat()})
    eu = make_subject(jurisdiction="EU", fields={"name": "Anna Schmidt", "email": "anna@example.de"}, language="en")
    before_window = make_subject()
    after_window = make_subject()
    read_by_someone_else = make_subject()

    assert crm.get(f"/api/v1/subjects/{before_window}", purpose="order_fulfilment").status_code == 200
    start = _tick()
    etags = {}
    for sid in (cn_adult, cn_child, eu):
        r = crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
        assert r.status_code == 200
        etags[sid] = r.headers["ETag"]
    r = crm.patch(f"/api/v1/subjects/{cn_adult}", json={"fields": {"address": "北京市朝阳区建国路1号"}}, purpose="order_fulfilment", headers={"If-Match": etags[cn_adult]})
    assert r.status_code == 200, r.json
    # A refused read leaked nothing: not counted.
    assert crm.get(f"/api/v1/subjects/{read_by_someone_else}", purpose="marketing").status_code == 403
    assert other.get(f"/api/v1/subjects/{read_by_someone_else}", purpose="order_fulfilment").status_code == 200
    end = _tick()
    assert crm.get(f"/api/v1/subjects/{after_window}", purpose="order_fulfilment").status_code == 200

    iid = _incident(dpo, [crm.name], start)
    r = dpo.post(f"/api/v1/incidents/{iid}/scope", json={"principals": [str(crm.principal_id)], "from": iso(start), "to": iso(end)})
    assert r.status_code == 201, r.json
    scope = r.json
    assert scope["version"] == 1 and scope["method"] == "principals" and scope["subjects"] == 3
    counts = scope["counts"]
    assert counts["by_jurisdiction"] == {"CN": 2, "EU": 1}
    assert counts["by_category"]["contact"] == 3 and counts["by_category"]["basic_identity"] == 3
    assert counts["minors"] == 1 and counts["minors_unknown"] == 2
    # A child's data is sensitive under PIPL Art. 28 even though mobile/e-mail are not.
    assert counts["by_sensitivity"] == {"sensitive": 1, "not_sensitive": 2}
    listed = dpo.get(f"/api/v1/incidents/{iid}/scope").json
    assert listed["intact"] and {a["subject_id"] for a in listed["affected"]} == {str(cn_adult), str(cn_child), str(eu)}
    fields = {a["subject_id"]: a["fields"] for a in listed["affected"]}
    assert set(fields[str(eu)]) == {"name", "email"} and "mobile" in fields[str(cn_adult)]
    view = dpo.get(f"/api/v1/incidents/{iid}").json
    assert {n["key"] for n in view["notifications"] if n["status"] != "not_required"} >= {"pipl_authority", "pipl_subjects", "gdpr_authority"}


def test_the_list_is_frozen_and_a_new_computation_is_a_new_version(client_as, dpo, make_subject):
    crm = client_as("sales_service")
    first, later = make_subject(), make_subject()
    start = _tick()
    crm.get(f"/api/v1/subjects/{first}", purpose="order_fulfilment")
    iid = _incident(dpo, [crm.name], start)
    v1 = dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).json  # the incident's own source, up to now
    assert v1["subjects"] == 1
    # The key is still in the attacker's hands: it reads more after the list was frozen.
    crm.get(f"/api/v1/subjects/{later}", purpose="order_fulfilment")
    crm.get(f"/api/v1/subjects/{first}", purpose="customer_service")
    again = dpo.get(f"/api/v1/incidents/{iid}/scope?version=1").json
    assert again["intact"] and again["digest"] == v1["digest"] and [a["subject_id"] for a in again["affected"]] == [str(first)]
    v2 = dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).json
    assert v2["version"] == 2 and v2["subjects"] == 2 and v2["digest"] != v1["digest"]
    assert dpo.get(f"/api/v1/incidents/{iid}").json["scope"]["version"] == 2


def test_a_lost_audit_export_affects_the_subjects_it_names(client_as, dpo, make_subject, audit_events):
    crm, auditor = client_as("sales_service"), client_as("dpo")
    inside, outside = make_subject(), make_subject()
    start = _tick()
    crm.get(f"/api/v1/subjects/{inside}", purpose="order_fulfilment")
    end = _tick()
    crm.get(f"/api/v1/subjects/{outside}", purpose="order_fulfilment")
    exported = auditor.get("/api/v1/audit/export", query_string={"from": iso(start), "to": iso(end)})
    assert exported.status_code == 200
    exported.close()
    export_event = audit_events(action="audit:export:create")[-1]
    r = dpo.post("/api/v1/incidents", json={"title": "USB stick lost", "detected_at": iso(datetime.now(timezone.utc)), "source": {"export_id": export_event.id}})
    iid = r.json["id"]
    scope = dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).json
    assert scope["method"] == "export" and scope["parameters"]["kind"] == "audit_export" and scope["subjects"] == 1
    assert [a["subject_id"] for a in dpo.get(f"/api/v1/incidents/{iid}/scope").json["affected"]] == [str(inside)]
    # An event that is not an export is refused.
    not_export = audit_events(action="subjects:profile:read")[-1]
    r = dpo.post(f"/api/v1/incidents/{iid}/scope", json={"export_id": not_export.id})
    assert r.status_code == 400 and "export_id" in r.json["errors"]


def test_a_recipient_that_leaked_affects_what_it_was_sent(client_as, dpo, make_subject):
    privacy, crm, marketing = client_as("privacy_staff"), client_as("sales_service"), client_as("marketing_service")
    body = {
        "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity", "contact"],
        "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": (date.today() + timedelta(days=365)).isoformat(),
    }
    rid = privacy.post("/api/v1/recipients", json=body).json["id"]
    other = privacy.post("/api/v1/recipients", json={**body, "name": "Another Partner"}).json["id"]
    sent, sent_elsewhere = make_subject(), make_subject()
    for sid, to in ((sent, rid), (sent_elsewhere, other)):
        r = crm.post(f"/api/v1/subjects/{sid}/consents", json={
            "action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
            "separate": True, "recipients": [to],
        })
        assert r.status_code == 201, r.json
        r = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": to, "fields": ["name", "mobile"]})
        assert r.status_code == 201, r.json
    r = dpo.post("/api/v1/incidents", json={"title": "Partner was breached", "detected_at": iso(datetime.now(timezone.utc)), "source": {"recipient_id": rid}})
    iid = r.json["id"]
    scope = dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).json
    assert scope["method"] == "recipient" and scope["subjects"] == 1
    [row] = dpo.get(f"/api/v1/incidents/{iid}/scope").json["affected"]
    assert row["subject_id"] == str(sent) and row["fields"] == ["mobile", "name"]


def test_compromised_principal_is_disabled_as_containment(client_as, dpo, make_subject):
    crm = client_as("sales_service")
    sid = make_subject()
    iid = _incident(dpo, [crm.name], datetime.now(timezone.utc) - timedelta(minutes=1))
    r = dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "disable_principal", "principal": crm.name})
    assert r.status_code == 201 and r.json["executed"] and r.json["principal_name"] == crm.name
    assert crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 401
    r = dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "rotate_master_key"})
    assert r.status_code == 201 and not r.json["executed"] and "govern breach contain" in r.json["pending"]
    timeline = dpo.get(f"/api/v1/incidents/{iid}").json["timeline"]
    assert [e["data"]["action"] for e in timeline if e["kind"] == "containment"] == ["disable_principal", "rotate_master_key"]
