"""The age at which a person consents alone is the one each law sets, kept as policy with its source: GDPR Art. 8(1)
per member state (13–16; an EU subject carries its member state, a state not known gets 16), and CCPA 1798.120(c) —
a sale or share of a consumer under 16 needs an opt-in, their own from 13, a parent's or guardian's below 13."""

import pytest

from govern.access import service as access
from govern.identity.actor import Actor
from tests.conftest import FIXTURE_BASES
from tests.consent.conftest import years_ago

GUARDIAN = {"relationship": "parent", "name": "Maria Muster", "verification": "ID card and family record checked in store 0451"}


def test_the_age_table_is_policy_with_its_sources(runtime):
    eu = runtime.policy.ages["EU"]
    assert (eu.age("DE"), eu.age("FR"), eu.age("IT"), eu.age("ES"), eu.age("AT"), eu.age("BE"), eu.age("DK"), eu.age("IE"), eu.age("NL"),
            eu.age("PL"), eu.age("SE")) == (16, 15, 14, 14, 14, 13, 13, 16, 16, 16, 13)
    assert eu.age(None) == 16 and eu.age("XX") == 16  # unknown: the protective default of Art. 8(1)
    assert all(13 <= age <= 16 and source for age, source in eu.by_member_state.values()) and len(eu.by_member_state) == 27
    assert "Art. 45" in eu.source_for("FR")
    ca = runtime.policy.ages["US-CA"]
    assert (ca.default, ca.sale_opt_in_age) == (13, 16) and "1798.120(c)" in ca.sale_opt_in_source


@pytest.mark.parametrize(("state", "alone"), [("FR", True), ("BE", True), ("DE", False), (None, False)])
def test_a_fifteen_year_olds_consent_follows_the_member_state(crm, make_subject, consent, valid_fields, state, alone):
    sid = make_subject({**valid_fields, "birth_date": years_ago(15)}, jurisdiction="EU", member_state=state)
    r = consent(crm, sid, "grant")
    if alone:
        assert r.status_code == 201, r.json
    else:
        assert r.status_code == 422 and r.json["code"] == "guardian_consent_required" and "under 16" in r.json["detail"]
        assert consent(crm, sid, "grant", guardian=GUARDIAN).status_code == 201


def test_the_member_state_is_an_api_field_validated_against_the_table(client_as):
    sales = client_as("sales_service")
    body = {"jurisdiction": "EU", "fields": {"name": "Anna"}, "sensitive_basis": FIXTURE_BASES["EU"]}
    created = sales.post("/api/v1/subjects", json={**body, "member_state": "FR"})
    assert created.status_code == 201, created.json
    assert sales.get(f"/api/v1/subjects/{created.json['id']}", purpose="order_fulfilment").json["member_state"] == "FR"
    for bad in ("XX", "fr", "GB"):
        r = sales.post("/api/v1/subjects", json={**body, "member_state": bad})
        assert r.status_code == 400 and "member_state" in r.json["errors"]
    cn = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {"name": "张三"}, "member_state": "DE"})
    assert cn.status_code == 400 and "member_state" in cn.json["errors"]


def _check(runtime, ids, purpose="marketing"):
    actor = Actor(name="marketing", kind="service", roles=("marketing_service",))
    with runtime.database.unit_of_work() as session:
        return access.allowed_subjects(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, purpose_name=purpose, subject_ids=ids)


def test_the_bulk_check_reads_the_age_of_each_subjects_member_state(crm, make_subject, consent, client_as, runtime, valid_fields):
    sales = client_as("sales_service")
    ids = {}
    for state in ("FR", "DE"):
        sid = make_subject(dict(valid_fields), jurisdiction="EU", member_state=state)  # no date of birth known when consent is given
        assert consent(crm, sid, "grant").status_code == 201
        etag = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").headers["ETag"]
        assert sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"birth_date": years_ago(15)}}, headers={"If-Match": etag}).status_code == 200
        ids[state] = sid
    assert _check(runtime, list(ids.values())) == [ids["FR"]]  # 15 consents alone in France, not in Germany


def test_under_thirteen_a_parent_consents_in_california_and_from_thirteen_the_consumer(crm, make_subject, consent, valid_fields):
    teen = make_subject({**valid_fields, "birth_date": years_ago(14)}, jurisdiction="US-CA")
    child = make_subject({**valid_fields, "birth_date": years_ago(12)}, jurisdiction="US-CA")
    assert consent(crm, teen, "grant").status_code == 201
    r = consent(crm, child, "grant")
    assert r.status_code == 422 and r.json["code"] == "guardian_consent_required" and "under 13" in r.json["detail"]
    assert consent(crm, child, "grant", guardian=GUARDIAN).status_code == 201


@pytest.fixture
def sold_marketing(replace_purpose):
    """marketing as a CCPA "sale or share" on the opt-out model in California (it rests on consent in govern's policy)."""
    replace_purpose("marketing", sale_or_share=True, legal_basis_by_jurisdiction={"US-CA": "legitimate_interest"})


def test_a_sale_of_a_consumer_under_sixteen_needs_an_opt_in_theirs_from_thirteen_a_parents_below(
    sold_marketing, crm, marketing, make_subject, consent, runtime, valid_fields,
):
    adult, teen, child = (make_subject({**valid_fields, "birth_date": years_ago(a)}, jurisdiction="US-CA") for a in (20, 15, 12))
    assert marketing.get(f"/api/v1/subjects/{adult}", purpose="marketing").status_code == 200  # 16 and over: the opt-out model
    refused = marketing.get(f"/api/v1/subjects/{teen}", purpose="marketing")
    assert refused.status_code == 403 and refused.json["reason"] == "opt_in_required"
    assert set(_check(runtime, [adult, teen, child])) == {adult}
    assert consent(crm, teen, "grant").status_code == 201  # 13 to 15: the consumer opts in
    assert marketing.get(f"/api/v1/subjects/{teen}", purpose="marketing").status_code == 200
    assert consent(crm, child, "grant").json["code"] == "guardian_consent_required"  # under 13: a parent or guardian
    assert marketing.get(f"/api/v1/subjects/{child}", purpose="marketing").json["reason"] == "opt_in_required"
    assert consent(crm, child, "grant", guardian=GUARDIAN).status_code == 201
    assert marketing.get(f"/api/v1/subjects/{child}", purpose="marketing").status_code == 200
    assert set(_check(runtime, [adult, teen, child])) == {adult, teen, child}
    # an opt-out still stops the sale at any age
    assert consent(crm, teen, "withdraw").status_code == 201
    assert marketing.get(f"/api/v1/subjects/{teen}", purpose="marketing").json["reason"] == "opted_out"


def test_a_member_state_set_later_changes_the_age_that_applies(crm, client_as, make_subject, consent, valid_fields):
    sales = client_as("sales_service")
    sid = make_subject({**valid_fields, "birth_date": years_ago(14)}, jurisdiction="EU")
    assert consent(crm, sid, "grant").json["code"] == "guardian_consent_required"  # unknown state: 16

    def patch(body):
        etag = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").headers["ETag"]
        return sales.patch(f"/api/v1/subjects/{sid}", json=body, headers={"If-Match": etag})

    assert patch({"member_state": "XX"}).status_code == 400
    assert patch({"member_state": "IT"}).status_code == 200  # Italy: 14
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["member_state"] == "IT"
    assert consent(crm, sid, "grant").status_code == 201
