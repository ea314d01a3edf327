"""Separate consent (单独同意): sensitive data (PIPL Art. 29), provision to a third party (Art. 23), public
disclosure (Art. 25) and transfer abroad (Art. 39) need their own explicit grant; bundled or implied grants are
refused with a clear error and nothing is stored."""

import dataclasses
import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError


@pytest.fixture
def partner(runtime):
    """An active recipient registered for partner_marketing, so a grant can name it."""
    from datetime import date, timedelta

    from govern.identity.actor import Actor
    from govern.sharing import service

    with runtime.database.unit_of_work() as session:
        r = service.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing",
            "categories": ["basic_identity", "contact"], "country": "CN", "agreement_ref": "DSA-2026-007",
            "agreement_expires_on": date.today() + timedelta(days=365),
        })
        return str(r.id)


@pytest.fixture
def overseas(runtime):
    """The overseas recipient of global_membership (a cross-border transfer under a standard contract)."""
    from datetime import date, timedelta

    from govern.identity.actor import Actor
    from govern.sharing import service

    with runtime.database.unit_of_work() as session:
        r = service.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Example Retail Holdings Pte. Ltd.", "contact": "privacy@example.sg", "purpose": "global_membership",
            "categories": ["basic_identity", "contact"], "country": "SG", "transfer_mechanism": "standard_contract",
            "agreement_ref": "SCC-2026-01", "agreement_expires_on": date.today() + timedelta(days=365),
        })
        return str(r.id)


@pytest.fixture
def recipients_for(partner, overseas):
    return lambda purpose: {"partner_marketing": {"recipients": [partner]}, "global_membership": {"recipients": [overseas]}}.get(purpose, {})


CASES = [
    ("health_services", "support_service", "sensitive_data"),
    ("partner_marketing", "marketing_service", "third_party"),
    ("global_membership", "sales_service", "cross_border"),
]


@pytest.mark.parametrize(("purpose", "role", "because"), CASES)
def test_a_bundled_grant_is_refused(crm, make_subject, consent, row_counts, recipients_for, purpose, role, because):
    sid = make_subject()
    before = row_counts()
    r = consent(crm, sid, purposes=["marketing", purpose], separate=True, **recipients_for(purpose))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert (r.json["code"], r.json["purpose"], r.json["because"]) == ("separate_consent_required", purpose, [because])
    assert "bundled" in r.json["detail"]
    assert row_counts() == before


@pytest.mark.parametrize(("purpose", "role", "because"), CASES)
def test_a_grant_not_given_on_its_own_is_refused(crm, make_subject, consent, row_counts, recipients_for, purpose, role, because):
    sid = make_subject()
    before = row_counts()
    r = consent(crm, sid, purpose=purpose, **recipients_for(purpose))
    assert r.status_code == 422 and r.json["code"] == "separate_consent_required"
    assert '"separate": true' in r.json["detail"]
    assert row_counts() == before


@pytest.mark.parametrize(("purpose", "role", "because"), CASES)
def test_a_separate_grant_allows_the_read(crm, client_as, make_subject, consent, recipients_for, purpose, role, because, valid_fields):
    sid = make_subject({**valid_fields, "health": "过敏：青霉素"})
    reader = client_as(role)
    assert reader.get(f"/api/v1/subjects/{sid}", purpose=purpose).json["reason"] == "consent_required"
    r = consent(crm, sid, purpose=purpose, separate=True, **recipients_for(purpose))
    assert r.status_code == 201, r.json
    assert r.json["govern"]["separate_consent"] is True
    assert reader.get(f"/api/v1/subjects/{sid}", purpose=purpose).status_code == 200


def test_ordinary_purposes_may_be_granted_together(crm, marketing, make_subject, consent):
    sid = make_subject()
    r = consent(crm, sid, purposes=["marketing", "personalisation"])
    assert r.status_code == 201, r.json
    assert [p["purposeCategory"] for p in r.json["services"][0]["purposes"]] == [["marketing"], ["personalisation"]]
    for purpose in ("marketing", "personalisation"):
        assert marketing.get(f"/api/v1/subjects/{sid}", purpose=purpose).status_code == 200


def test_a_grant_that_stops_counting_when_the_purpose_needs_separate_consent(crm, marketing, make_subject, consent, replace_purpose):
    sid = make_subject()
    assert consent(crm, sid).status_code == 201
    replace_purpose("marketing", separate_consent=True)  # the DPO decides marketing needs separate consent from now on
    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert r.status_code == 403 and r.json["reason"] == "separate_consent_required"
    assert consent(crm, sid, separate=True).status_code == 201
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200


def test_sensitive_fields_require_separate_consent_by_rule(runtime):
    health = runtime.policy.purposes["health_services"]
    assert health.sensitive_fields == frozenset({"health"}) and health.separate_consent_reasons == ("sensitive_data",)
    public = dataclasses.replace(runtime.policy.purposes["marketing"], public_disclosure=True)
    assert public.separate_consent_reasons == ("public_disclosure",)


def test_a_purpose_using_sensitive_data_cannot_opt_out_of_separate_consent(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    text = (root / "purposes.yaml").read_text(encoding="utf-8")
    text = text.replace("    fields: [name, mobile, health]\n", "    fields: [name, mobile, health]\n    separate_consent: false\n")
    (root / "purposes.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"purposes.yaml: purposes.health_services.separate_consent: cannot be false.*sensitive_data"):
        load_policy(root)
