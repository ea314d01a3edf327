"""A disclosure on separate consent covers only the fields the notice announced when the consent was given (PIPL
Art. 14 ¶2, 23): a field the purpose uses since is not handed over until the subject consents again."""

import dataclasses


def test_a_field_added_to_the_purpose_after_the_consent_is_not_disclosed(client_as, make_subject, make_recipient, separate_grant, runtime, monkeypatch):
    sid, rid = make_subject(), make_recipient()
    separate_grant(sid, [rid])  # under notice 2026-01: name, mobile, email
    policy = runtime.policy
    purposes = dict(policy.purposes)
    purposes["partner_marketing"] = dataclasses.replace(purposes["partner_marketing"], fields=purposes["partner_marketing"].fields | {"address"})
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(policy, purposes=purposes))
    marketing = client_as("marketing_service")
    r = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": ["name", "address"]})
    assert r.status_code == 403 and r.json["reason"] == "not_covered_by_consent" and "address" in r.json["detail"]
    ok = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": ["name"]})
    assert ok.status_code == 201, ok.json
