"""A consent covers what its notice said, nothing more (PIPL Art. 14 ¶2; GDPR Art. 7, 13): each notice version records
the scope it announced; a purpose changed in purposes.yaml after its latest notice version stops start-up until a new
version announces it; a consent given under an older version keeps covering only that version's scope."""

import shutil

import pytest
import yaml

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError
from tests.consent.conftest import add_purpose_fields


@pytest.fixture
def policy_copy(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    return root


def test_a_field_added_to_a_purpose_without_a_new_notice_stops_start_up(policy_copy):
    add_purpose_fields(policy_copy, "marketing", ("address",))
    with pytest.raises(PolicyError, match=r"notices/marketing/versions.yaml: purpose 'marketing' changed .* after notice version 2026-06: fields added: address"):
        load_policy(policy_copy)


def test_a_changed_method_without_a_new_notice_stops_start_up(policy_copy):
    path = policy_copy / "purposes.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  marketing:\n    legal_basis: consent\n", "  marketing:\n    legal_basis: consent\n    automated_decisions: true\n"
                                 "    impact_assessment: {reference: PIA-X, assessed_at: 2026-01-01, approved_by: dpo}\n", 1), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"purpose 'marketing' changed .*method added: automated_decisions"):
        load_policy(policy_copy)


def test_a_new_notice_version_announcing_the_field_lets_govern_start(policy_copy):
    add_purpose_fields(policy_copy, "marketing", ("address",))
    folder = policy_copy / "notices/marketing"
    index = yaml.safe_load((folder / "versions.yaml").read_text(encoding="utf-8"))
    index["versions"].append({
        "version": "2026-09", "published_at": "2026-09-01T00:00:00+08:00", "summary": {"zh": "新增地址", "en": "Address added"},
        "scope": {**index["versions"][-1]["scope"], "fields": ["address", "email", "mobile", "name"]},
    })
    (folder / "versions.yaml").write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    for lang in ("zh", "en"):
        (folder / f"2026-09.{lang}.md").write_text("# Marketing\n\nWe also use your address.\n", encoding="utf-8")
    policy = load_policy(policy_copy)
    assert policy.notices.for_purpose("marketing").get("2026-09").scope["fields"] == ["address", "email", "mobile", "name"]
    assert policy.notices.for_purpose("marketing").get("2026-06").scope["fields"] == ["email", "mobile", "name"]


def test_every_version_of_a_purpose_notice_states_its_scope(policy_copy):
    path = policy_copy / "notices/personalisation/versions.yaml"
    index = yaml.safe_load(path.read_text(encoding="utf-8"))
    del index["versions"][0]["scope"]
    path.write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"notices/personalisation/versions.yaml: versions\[0\].scope: required"):
        load_policy(policy_copy)


def test_an_old_consent_reads_the_old_fields_only_and_re_consent_reads_both(
    crm, marketing, make_subject, consent, publish_notice, audit_events,
):
    sid = make_subject()  # name, mobile, email, address, …
    assert consent(crm, sid, "grant").status_code == 201  # under 2026-06: name, mobile, email
    publish_notice("marketing", requires_reconsent=False, add_fields=("address",))

    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert r.status_code == 200, r.json
    assert set(r.json["fields"]) == {"name", "mobile", "email"}  # the address was never announced to this subject
    assert audit_events(action="subjects:profile:read")[-1].field_names == "email,mobile,name"

    def check(**body):
        r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(sid)], **body})
        assert r.status_code == 200, r.json
        return r.json["allowed"] == [str(sid)]

    assert check(fields=["name", "email"])  # within the old scope: still covered
    assert not check(fields=["address"])  # outside it: not covered
    assert not check()  # by default the check asks for everything the purpose uses now
    history = crm.get(f"/api/v1/subjects/{sid}/consents").json["current"]
    assert next(c for c in history if c["purpose"] == "marketing")["not_covered"] == ["address"]

    again = consent(crm, sid, "grant", notice_version="2026-11")
    assert again.status_code == 201, again.json
    assert again.json["govern"]["scope"]["marketing"]["fields"] == ["address", "email", "mobile", "name"]
    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert set(r.json["fields"]) == {"name", "mobile", "email", "address"}
    assert check(fields=["address"]) and check()


def test_the_bulk_check_refuses_data_the_purpose_does_not_use(marketing, make_subject):
    sid = make_subject()
    r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(sid)], "fields": ["health"]})
    assert r.status_code == 400 and "fields" in r.json["errors"]


def test_a_record_type_the_notice_did_not_announce_is_refused_as_not_covered(
    crm, marketing, make_subject, consent, runtime, monkeypatch,
):
    import dataclasses

    sid = make_subject()
    assert consent(crm, sid, "grant").status_code == 201  # records: purchase, browsing
    # The purpose uses communication records from now on (the running policy, as after a restart with a new notice).
    policy = runtime.policy
    purposes = dict(policy.purposes)
    purposes["marketing"] = dataclasses.replace(purposes["marketing"], record_types=purposes["marketing"].record_types | {"communication"})
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(policy, purposes=purposes))
    r = marketing.get(f"/api/v1/subjects/{sid}/records?type=communication", purpose="marketing")
    assert r.status_code == 403 and r.json["reason"] == "not_covered_by_consent"
    assert marketing.get(f"/api/v1/subjects/{sid}/records?type=purchase", purpose="marketing").status_code == 200


def test_an_edited_scope_of_a_used_version_does_not_widen_old_consents(
    crm, marketing, make_subject, consent, runtime, tmp_path, monkeypatch,
):
    sid = make_subject()
    assert consent(crm, sid, "grant").status_code == 201  # records the scope of 2026-06 as first used
    root = tmp_path / "edited"
    shutil.copytree(runtime.settings.policies_dir, root)
    add_purpose_fields(root, "marketing", ("address",))
    path = root / "notices/marketing/versions.yaml"
    index = yaml.safe_load(path.read_text(encoding="utf-8"))
    index["versions"][-1]["scope"]["fields"].append("address")  # the published version rewritten, no new version
    path.write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(runtime, "policy", load_policy(root))  # the file alone cannot tell

    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert set(r.json["fields"]) == {"name", "mobile", "email"}  # the consent keeps the scope it was given under
    other = make_subject()
    refused = consent(crm, other, "grant")
    assert refused.status_code == 409 and refused.json["code"] == "notice_scope_changed"
