"""A disclosure to a third party needs a legal basis or separate consent naming the recipient, an unexpired
agreement, and only fields the purpose and agreement allow; each one is recorded, audited and listed."""

import uuid
from datetime import date, timedelta

from sqlalchemy import update


def _disclose(client, sid, rid, fields=("name", "mobile"), **extra):
    return client.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": list(fields), **extra})


def test_a_disclosure_with_separate_consent_is_recorded_and_audited(client_as, make_subject, make_recipient, separate_grant, privacy, audit_events):
    sid, rid = make_subject(), make_recipient()
    receipt = separate_grant(sid, [rid])
    assert receipt["services"][0]["purposes"][0]["thirdPartyName"] == "Partner Brand Ltd"
    marketing = client_as("marketing_service")
    r = _disclose(marketing, sid, rid)
    assert r.status_code == 201, r.json
    assert r.json["values"] == {"mobile": "13812345678", "name": "张三"}
    assert (r.json["basis"], r.json["consent_receipt_id"], r.json["agreement_ref"]) == ("separate_consent", receipt["consentReceiptID"], "DSA-2026-007")
    [event] = audit_events(action="sharing:disclosure:create")
    assert (event.subject_id, event.field_names, event.purpose, event.resource) == (sid, "mobile,name", "partner_marketing", f"recipient:{rid}")

    listed = privacy.get(f"/api/v1/subjects/{sid}/disclosures")
    assert listed.status_code == 200
    [d] = listed.json["items"]
    assert (d["recipient"]["name"], d["fields"], d["basis"]) == ("Partner Brand Ltd", ["mobile", "name"], "separate_consent")
    assert "13812345678" not in listed.get_data(as_text=True)


def test_no_disclosure_without_consent_or_after_withdrawal(client_as, make_subject, make_recipient, separate_grant, row_counts):
    sid, rid = make_subject(), make_recipient()
    marketing = client_as("marketing_service")
    assert _disclose(marketing, sid, rid).json["reason"] == "consent_required"
    separate_grant(sid, [rid])
    assert _disclose(marketing, sid, rid).status_code == 201
    marketing.post(f"/api/v1/subjects/{sid}/consents", json={"action": "withdraw", "purpose": "partner_marketing", "channel": "app"})
    before = row_counts()
    r = _disclose(marketing, sid, rid)
    assert r.status_code == 403 and r.json["reason"] == "consent_withdrawn"
    assert "values" not in r.json
    assert row_counts()["disclosures"] == before["disclosures"]


def test_a_consent_that_does_not_name_the_recipient_is_not_enough(client_as, make_subject, make_recipient, separate_grant):
    sid = make_subject()
    named, other = make_recipient(), make_recipient(name="Other Brand")
    separate_grant(sid, [named])
    r = _disclose(client_as("marketing_service"), sid, other)
    assert r.status_code == 403 and r.json["reason"] == "separate_consent_required"


def test_an_expired_agreement_blocks_sharing(client_as, make_subject, make_recipient, separate_grant, runtime, audit_events):
    from govern.sharing.models import Recipient

    sid, rid = make_subject(), make_recipient()
    separate_grant(sid, [rid])
    with runtime.database.unit_of_work() as session:
        session.execute(update(Recipient).where(Recipient.id == uuid.UUID(rid)).values(agreement_expires_on=date.today() - timedelta(days=1)))
    r = _disclose(client_as("marketing_service"), sid, rid)
    assert r.status_code == 403 and r.json["reason"] == "agreement_expired"
    [event] = audit_events(action="sharing:disclosure:create")
    assert (event.outcome, event.reason) == ("denied", "agreement_expired")


def test_only_fields_the_purpose_and_agreement_allow(client_as, make_subject, make_recipient, separate_grant):
    sid = make_subject()
    rid = make_recipient(categories=["basic_identity"])
    separate_grant(sid, [rid])
    marketing = client_as("marketing_service")
    assert _disclose(marketing, sid, rid, fields=["id_card_number"]).json["reason"] == "field_not_in_purpose"
    assert _disclose(marketing, sid, rid, fields=["mobile"]).json["reason"] == "field_not_in_agreement"
    assert _disclose(marketing, sid, rid, fields=["shoe_size"]).status_code == 400
    assert _disclose(marketing, sid, rid, fields=["name"]).status_code == 201


def test_a_disabled_recipient_receives_nothing(client_as, make_subject, make_recipient, separate_grant, privacy):
    sid, rid = make_subject(), make_recipient()
    separate_grant(sid, [rid])
    assert privacy.open(f"/api/v1/recipients/{rid}", "DELETE").status_code == 200
    assert _disclose(client_as("marketing_service"), sid, rid).json["reason"] == "recipient_disabled"


def test_a_contract_basis_needs_no_consent(client_as, make_subject, make_recipient):
    sid = make_subject()
    rid = make_recipient(name="Fast Logistics", purpose="order_fulfilment", categories=["basic_identity", "contact"])
    r = _disclose(client_as("sales_service"), sid, rid, fields=["name", "address"])
    assert r.status_code == 201, r.json
    assert r.json["basis"] == "contract" and r.json["consent_receipt_id"] is None


def test_a_disclosure_is_never_replayed_from_storage(client_as, make_subject, make_recipient, separate_grant):
    sid, rid = make_subject(), make_recipient()
    separate_grant(sid, [rid])
    r = client_as("marketing_service").post(
        f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": ["name"]}, headers={"Idempotency-Key": "k"},
    )
    assert r.status_code == 400 and r.json["code"] == "idempotency_not_supported"


def test_a_grant_for_a_third_party_purpose_must_name_active_recipients(client_as, make_subject):
    crm = client_as("sales_service")
    body = {"action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "f", "separate": True}
    r = crm.post(f"/api/v1/subjects/{make_subject()}/consents", json=body)
    assert r.status_code == 400 and "recipients" in r.json["errors"]
    r = crm.post(f"/api/v1/subjects/{make_subject()}/consents", json={**body, "recipients": [str(uuid.uuid4())]})
    assert r.status_code == 400 and "recipients" in r.json["errors"]


def test_a_caller_cannot_hand_over_a_field_its_role_does_not_see_in_full(client_as, make_subject, make_recipient, runtime, monkeypatch, row_counts):
    import dataclasses

    purposes = dict(runtime.policy.purposes)  # a customs broker needs the ID-card number to clear an order
    purposes["order_fulfilment"] = dataclasses.replace(purposes["order_fulfilment"], fields=purposes["order_fulfilment"].fields | {"id_card_number"})
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(runtime.policy, purposes=purposes))
    sid = make_subject()
    rid = make_recipient(name="Customs Broker", purpose="order_fulfilment", categories=["basic_identity", "government_id"])
    sales = client_as("sales_service")  # sees government_id masked (policies/roles.yaml)
    before = row_counts()
    r = _disclose(sales, sid, rid, fields=["name", "id_card_number"])
    assert r.status_code == 403 and r.json["reason"] == "field_not_visible"
    assert "id_card_number" in r.json["detail"] and row_counts()["disclosures"] == before["disclosures"]
    assert _disclose(sales, sid, rid, fields=["name"]).status_code == 201
