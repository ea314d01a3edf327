"""The access package shows what each consent covered as the person was told it (PIPL Art. 14 ¶2, 23, 45; GDPR
Art. 15(1)): the notice version, the fields and record types it announced, the recipients the grant named with their
contact and the terms of provision — in data.json, consent_scope.csv and the zh/en summary — taken from the receipt,
not from what the purpose says today; and the privacy staff's request page shows the same for the subject."""

import dataclasses
import json
from datetime import date

from govern.identity.actor import Actor
from govern.sharing import service as sharing
from tests.subject_requests.test_erasure_and_package import _unzip


def _partner(runtime):
    with runtime.database.unit_of_work() as session:
        return str(sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity", "contact"],
            "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": date(2099, 1, 1)}).id)


def _consented_subject(client_as, make_subject, runtime, language="en"):
    sid = make_subject(language=language)
    partner = _partner(runtime)
    crm = client_as("sales_service")
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
        "separate": True, "recipients": [partner]}).status_code == 201
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "marketing", "notice_version": "2026-06", "channel": "app", "evidence": "form-10"}).status_code == 201
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={"action": "withdraw", "purpose": "marketing", "channel": "app"}).status_code == 201
    return sid, partner


def test_the_access_package_shows_what_each_consent_covered_as_told(client_as, make_subject, file_request, verify_by_session, runtime, monkeypatch):
    sid, partner = _consented_subject(client_as, make_subject, runtime)
    # The purpose uses more since the consent: the package still shows what the person agreed to.
    purposes = dict(runtime.policy.purposes)
    purposes["partner_marketing"] = dataclasses.replace(purposes["partner_marketing"], fields=purposes["partner_marketing"].fields | {"address"})
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(runtime.policy, purposes=purposes))
    rid = file_request(sid, "access")
    verify_by_session(rid)
    files = _unzip(client_as("privacy_staff").get(f"/api/v1/requests/{rid}/package").data)
    scope = {c["purpose"]: c for c in json.loads(files["data.json"])["consent"]["scope"]}
    pm = scope["partner_marketing"]
    assert (pm["status"], pm["notice_version"], pm["separate"]) == ("granted", "2026-01", True)
    assert sorted(pm["fields"]) == ["email", "mobile", "name"] and pm["record_types"] == ["purchase"]  # not address
    assert [(r["id"], r["name"], r["contact"], r["country"]) for r in pm["recipients"]] == [(partner, "Partner Brand Ltd", "privacy@partner.example", "CN")]
    assert pm["provision"]["data"] == ["basic_identity", "contact", "transaction"] and pm["provision"]["purpose"].startswith("The partner brand")
    assert (scope["marketing"]["status"], scope["marketing"]["notice_version"]) == ("withdrawn", "2026-06")
    rows = files["consent_scope.csv"].decode("utf-8-sig").splitlines()
    assert rows[0].startswith("purpose,status,notice_version") and any(r.startswith("partner_marketing,granted,2026-01") and "Partner Brand Ltd (CN)" in r for r in rows)
    summary = files["summary.en.txt"].decode()
    section = summary.split("## What your consents cover")[1].split("##")[0]
    assert "notice version 2026-01, in force" in section and "provided to: Partner Brand Ltd (CN, privacy@partner.example)" in section
    assert "Address" not in section and "notice version 2026-06, withdrawn" in section


def test_the_chinese_summary_names_the_scope_in_chinese(client_as, make_subject, file_request, verify_by_session, runtime):
    sid, _ = _consented_subject(client_as, make_subject, runtime, language="zh")
    rid = file_request(sid, "access")
    verify_by_session(rid)
    files = _unzip(client_as("privacy_staff").get(f"/api/v1/requests/{rid}/package").data)
    section = files["summary.zh.txt"].decode().split("## 您同意的范围")[1].split("##")[0]
    assert "告知版本 2026-01，有效" in section or "告知版本 2026-01, 有效" in section
    assert "提供给: Partner Brand Ltd" in section and "合作品牌向您推送其自有商品和优惠信息" in section
