"""A receipt proves what the person agreed to (PIPL Art. 23, 25, 39): the kinds of data a provision names are data the
catalog defines and the purpose processes (checked at start-up), a recipient is registered within them, a consent
names only recipients within what its notice told, and nothing reaches a recipient beyond the provision the person
consented under."""

import dataclasses
import shutil
import uuid

import pytest
from sqlalchemy import update

from govern.policies import load_policy
from govern.policy import PolicyError
from govern.sharing.models import Recipient
from tests.subject_requests.test_package_delivery import PROJECT_ROOT


def _policies_with(tmp_path, path, old, new):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    f = target / path
    text = f.read_text(encoding="utf-8")
    assert old in text
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(("kinds", "message"), [
    ("[basic_identity, contact, horoscope]", r"purposes.yaml: purposes.partner_marketing.provision.data: unknown data kind\(s\) 'horoscope'"),
    ("[basic_identity, contact, health]", r"purposes.yaml: purposes.partner_marketing.provision.data: 'health' not among the data 'partner_marketing' uses"),
    ("[basic_identity, contact, religion_field]", r"unknown data kind\(s\) 'religion_field'"),
])
def test_start_up_refuses_a_provision_naming_data_the_catalog_or_the_purpose_does_not_have(tmp_path, kinds, message):
    root = _policies_with(tmp_path, "purposes.yaml", "      data: [basic_identity, contact, transaction]\n      source: \"PIPL Art. 23\"",
                          f"      data: {kinds}\n      source: \"PIPL Art. 23\"")
    with pytest.raises(PolicyError, match=message):
        load_policy(root)


def test_start_up_refuses_a_notice_version_whose_provision_names_unknown_data(tmp_path):
    root = _policies_with(tmp_path, "notices/partner_marketing/versions.yaml", "data: [basic_identity, contact, transaction]",
                          "data: [basic_identity, contact, horoscope]")
    with pytest.raises(PolicyError, match=r"notices/partner_marketing/versions.yaml: versions\[0\].scope.provision.data: unknown data kind\(s\) 'horoscope'"):
        load_policy(root)


def test_fields_and_record_types_name_their_own_category(tmp_path):
    root = _policies_with(tmp_path, "purposes.yaml", "      data: [basic_identity, contact, transaction]\n      source: \"PIPL Art. 23\"",
                          "      data: [name, mobile, purchase]\n      source: \"PIPL Art. 23\"")
    with pytest.raises(PolicyError, match="changed in purposes.yaml after notice version"):  # valid kinds: only the notice lags
        load_policy(root)


def _narrowed(runtime, monkeypatch, data):
    """The policy as if the published partner_marketing notice had named only `data` among the kinds provided."""
    policy = runtime.policy
    nset = policy.notices.for_purpose("partner_marketing")
    version = nset.get("2026-01")
    scope = {**version.scope, "provision": {**version.scope["provision"], "data": data}}
    narrowed = dataclasses.replace(nset, versions=tuple(dataclasses.replace(v, scope=scope) if v is version else v for v in nset.versions))
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(policy, notices=dataclasses.replace(policy.notices, sets={**policy.notices.sets, "partner_marketing": narrowed})))


def test_a_consent_names_only_recipients_within_what_its_notice_told(client_as, make_subject, make_recipient, runtime, monkeypatch, row_counts):
    sid = make_subject()
    wide = make_recipient(name="Wide Ltd", categories=["basic_identity", "contact"])
    narrow = make_recipient(name="Narrow Ltd", categories=["basic_identity"])
    _narrowed(runtime, monkeypatch, ["basic_identity"])
    crm = client_as("sales_service")
    body = {"action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9", "separate": True}
    before = row_counts()
    r = crm.post(f"/api/v1/subjects/{sid}/consents", json={**body, "recipients": [wide]})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "contact" in r.json["errors"]["recipients"][0] and wide in r.json["errors"]["recipients"][0]
    assert row_counts() == before
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={**body, "recipients": [narrow]}).status_code == 201


def test_nothing_reaches_a_recipient_beyond_the_provision_the_person_consented_under(client_as, make_subject, make_recipient, runtime, monkeypatch, row_counts):
    sid = make_subject()
    rid = make_recipient(categories=["basic_identity"])
    _narrowed(runtime, monkeypatch, ["basic_identity"])
    crm = client_as("sales_service")
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
        "separate": True, "recipients": [rid],
    }).status_code == 201
    monkeypatch.undo()  # the published notice as it is: its provision names contact data too
    # A recipient whose agreement was widened afterwards (as one registered before recipients were tied to provisions).
    with runtime.database.unit_of_work() as session:
        session.execute(update(Recipient).where(Recipient.id == uuid.UUID(rid)).values(categories=["basic_identity", "contact"]))
    marketing = client_as("marketing_service")
    before = row_counts()
    r = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": ["mobile"]})
    assert r.status_code == 403 and r.mimetype == "application/problem+json" and r.json["reason"] == "field_not_in_provision"
    r = marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": rid, "fields": ["name"]})
    assert r.status_code == 403 and r.json["reason"] == "recipient_not_in_provision" and "contact" in r.json["detail"]
    assert {**row_counts(), "audit_events": 0} == {**before, "audit_events": 0}  # only the refusals are audited


def test_a_recipient_is_registered_within_the_kinds_of_data_the_purpose_tells_it_provides(privacy, recipient_body, runtime, monkeypatch):
    policy = runtime.policy
    purposes = dict(policy.purposes)
    pm = purposes["partner_marketing"]
    purposes["partner_marketing"] = dataclasses.replace(pm, provision={**pm.provision, "data": ["basic_identity", "transaction"]})
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(policy, purposes=purposes))
    r = privacy.post("/api/v1/recipients", json=recipient_body(categories=["basic_identity", "contact"]))
    assert r.status_code == 400 and "provision.data" in r.json["errors"]["categories"][0] and "contact" in r.json["errors"]["categories"][0]
    assert privacy.post("/api/v1/recipients", json=recipient_body(categories=["basic_identity"])).status_code == 201
