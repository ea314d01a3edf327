"""Receipts prove what the person agreed to: a separate consent to provide data to another handler (PIPL Art. 23) or to
transfer it abroad (Art. 39) names on the receipt each recipient's name, contact, purpose, processing method and kinds
of data, and for an overseas recipient how rights are exercised against it; a purpose of those kinds whose terms lack
one of these stops start-up. A guardian's consent for a child under 14 is itself marked as sensitive processing
(PIPL Art. 28, 31)."""

import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError
from tests.consent.conftest import years_ago
from tests.consent.test_minors import GUARDIAN
from tests.consent.test_separate_consent import overseas, partner  # noqa: F401 (fixtures)


def _grant(consent, crm, sid, purpose, recipient):
    r = consent(crm, sid, "grant", purpose=purpose, separate=True, recipients=[recipient])
    assert r.status_code == 201, r.json
    return r.json


def test_a_receipt_for_provision_names_the_recipient_and_its_processing(crm, make_subject, consent, partner, client_as):  # noqa: F811
    sid = make_subject()
    receipt = _grant(consent, crm, sid, "partner_marketing", partner)
    (named,) = receipt["govern"]["recipients"]["partner_marketing"]
    assert named["id"] == partner and named["name"] == "Partner Brand Ltd" and named["contact"] == "privacy@partner.example"
    assert named["purpose"] == "合作品牌向您推送其自有商品和优惠信息"  # in the subject's language (zh)
    assert named["method"].startswith("接收方以短信和电子邮件联系您")
    assert named["data"] == ["basic_identity", "contact"]  # what its agreement lets it receive
    assert "overseas" not in named
    again = client_as("dpo").get(f"/api/v1/receipts/{receipt['consentReceiptID']}")
    assert again.json["govern"]["recipients"] == receipt["govern"]["recipients"]  # as issued


def test_a_receipt_for_a_transfer_abroad_names_the_overseas_recipient_and_how_to_exercise_rights(crm, make_subject, consent, overseas):  # noqa: F811
    sid = make_subject()
    r = consent(crm, sid, "grant", purpose="global_membership", separate=True, recipients=[overseas], notice_language="en")
    assert r.status_code == 201, r.json
    (named,) = r.json["govern"]["recipients"]["global_membership"]
    assert (named["name"], named["contact"], named["country"], named["overseas"]) == ("Example Retail Holdings Pte. Ltd.", "privacy@example.sg", "SG", True)
    assert named["purpose"].startswith("Recognising your membership") and named["method"].startswith("The overseas recipient only")
    assert "access, copy, correction and deletion" in named["rights"]
    assert r.json["govern"]["scope"]["global_membership"]["method"] == ["cross_border"]


@pytest.fixture
def policy_copy(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    return root


def _drop_line(root, purpose: str, starts: str) -> None:
    path = root / "purposes.yaml"
    lines = path.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"  {purpose}:")
    at = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(starts))
    del lines[at]
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(("purpose", "line", "message"), [
    ("partner_marketing", "      method:", r"purposes.partner_marketing.provision: method: .*required"),
    ("partner_marketing", "      data:", r"purposes.partner_marketing.provision: data: .*required"),
    ("global_membership", "      rights:", r"purposes.global_membership.provision.rights: required in zh, en \(PIPL Art. 39"),
])
def test_a_provision_without_what_the_person_must_be_told_stops_start_up(policy_copy, purpose, line, message):
    _drop_line(policy_copy, purpose, line)
    with pytest.raises(PolicyError, match=message):
        load_policy(policy_copy)


def test_a_purpose_that_provides_data_without_its_terms_stops_start_up(policy_copy):
    _drop_line(policy_copy, "partner_marketing", "    provision:")
    for key in ("purpose", "method", "data", "source"):
        _drop_line(policy_copy, "partner_marketing", f"      {key}:")
    with pytest.raises(PolicyError, match=r"purposes.partner_marketing.provision: required \(provides_to_third_party\)"):
        load_policy(policy_copy)


def test_a_guardians_consent_for_a_child_under_14_is_marked_as_sensitive_processing(crm, make_subject, consent, valid_fields):
    child = make_subject({**valid_fields, "birth_date": years_ago(13)})
    r = consent(crm, child, "grant", guardian=GUARDIAN, separate=True)
    assert r.status_code == 201, r.json
    assert r.json["sensitive"] is True  # marketing uses no sensitive field: the child's age makes it sensitive
    assert r.json["govern"]["sensitive_processing"] == {"guardian_consent_for_minor": True, "source": "PIPL Art. 28, 31"}
    adult = make_subject()
    plain = consent(crm, adult, "grant")
    assert plain.json["sensitive"] is False and plain.json["govern"]["sensitive_processing"] is None


def test_the_notice_names_the_recipients_and_what_it_announced(app, overseas):  # noqa: F811
    r = app.test_client().get("/api/v1/notices/global_membership?lang=en")
    assert r.status_code == 200, r.json
    (named,) = r.json["recipients"]
    assert (named["name"], named["contact"], named["overseas"]) == ("Example Retail Holdings Pte. Ltd.", "privacy@example.sg", True)
    assert named["method"] and named["purpose"] and "rights" in named["rights"]
    assert r.json["scope"]["fields"] == ["email", "name"]
    assert app.test_client().get("/api/v1/notices/marketing?lang=en").json["recipients"] is None


def test_a_receipt_for_a_public_disclosure_names_what_is_published_and_how(crm, make_subject, consent, replace_purpose):
    terms = {
        "purpose": {"zh": "在获奖名单中公布", "en": "Published in the list of prize winners"},
        "method": {"zh": "在官网公示三十天", "en": "Shown on the website for thirty days"}, "data": ["basic_identity"], "source": "PIPL Art. 25",
    }
    replace_purpose("marketing", public_disclosure=True, provision=terms)
    sid = make_subject()
    r = consent(crm, sid, "grant", separate=True, notice_language="en")
    assert r.status_code == 201, r.json
    (named,) = r.json["govern"]["recipients"]["marketing"]
    assert (named["name"], named["purpose"], named["method"], named["data"]) == (
        "public", "Published in the list of prize winners", "Shown on the website for thirty days", ["basic_identity"],
    )
