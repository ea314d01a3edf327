"""Privacy staff register third-party recipients with purpose, categories, country and a data-security agreement."""

from datetime import date, timedelta

import pytest


def test_a_recipient_is_registered_and_listed(privacy, recipient_body, audit_events, app):
    r = privacy.post("/api/v1/recipients", json=recipient_body())
    assert r.status_code == 201, r.json
    assert (r.json["purpose"], r.json["agreement_in_force"], r.json["categories"]) == ("partner_marketing", True, ["basic_identity", "contact"])
    assert [x["id"] for x in privacy.get("/api/v1/recipients").json["items"]] == [r.json["id"]]
    assert audit_events(action="sharing:recipient:create")[0].resource == f"recipient:{r.json['id']}"
    # the third-party sharing list is public
    public = app.test_client().get("/api/v1/recipients/public?purpose=partner_marketing")
    assert public.status_code == 200 and public.json["items"] == [{
        "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing",
        "categories": ["basic_identity", "contact"], "country": "CN",
    }]


@pytest.mark.parametrize(("over", "status", "code"), [
    ({"purpose": "marketing"}, 422, "purpose_not_for_third_parties"),
    ({"country": "SG"}, 422, "cross_border_not_allowed"),
    ({"purpose": "global_membership", "country": "SG", "categories": ["basic_identity"]}, 400, "validation_failed"),  # no transfer mechanism
    ({"agreement_expires_on": (date.today() - timedelta(days=1)).isoformat()}, 400, "validation_failed"),
    ({"categories": ["health"]}, 400, "validation_failed"),
    ({"purpose": "astrology"}, 400, "validation_failed"),
])
def test_a_recipient_the_rules_do_not_allow_is_refused(privacy, recipient_body, row_counts, over, status, code):
    before = row_counts()
    r = privacy.post("/api/v1/recipients", json=recipient_body(**over))
    assert r.status_code == status, r.json
    assert r.json["code"] == code
    assert row_counts() == before


def test_a_recipient_abroad_needs_a_cross_border_purpose_and_a_mechanism(privacy, recipient_body):
    r = privacy.post("/api/v1/recipients", json=recipient_body(
        name="Example Retail Holdings", purpose="global_membership", country="SG", categories=["basic_identity", "contact"],
        transfer_mechanism="standard_contract",
    ))
    assert r.status_code == 201, r.json


def test_an_agreement_is_renewed_with_if_match(privacy, make_recipient):
    rid = make_recipient()
    etag = privacy.get(f"/api/v1/recipients/{rid}").headers["ETag"]
    later = (date.today() + timedelta(days=800)).isoformat()
    assert privacy.patch(f"/api/v1/recipients/{rid}", json={"agreement_expires_on": later}).status_code == 428
    r = privacy.patch(f"/api/v1/recipients/{rid}", json={"agreement_expires_on": later, "agreement_ref": "DSA-2028-001"}, headers={"If-Match": etag})
    assert r.status_code == 200, r.json
    assert (r.json["agreement_expires_on"], r.json["agreement_ref"]) == (later, "DSA-2028-001")
    assert privacy.patch(f"/api/v1/recipients/{rid}", json={"contact": "x@y.example"}, headers={"If-Match": etag}).status_code == 412


def test_recipients_are_managed_by_privacy_staff_only(client_as, recipient_body):
    assert client_as("marketing_service").post("/api/v1/recipients", json=recipient_body()).status_code == 403
