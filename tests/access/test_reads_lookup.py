"""Look-up by e-mail, mobile or ID-card number goes through a blind index: no plaintext is stored or compared."""

import pytest


@pytest.mark.parametrize(
    ("field", "asked"),
    [
        ("email", "ZHANG.SAN@example.CN"),
        ("mobile", "+86 138-1234-5678"),
        ("id_card_number", "11010519491231002x"),
    ],
)
def test_a_subject_is_found_by_the_normal_form_of_a_searchable_field(client_as, make_subject, field, asked):
    sid = make_subject()
    make_subject({**__import__("tests.conftest", fromlist=["VALID_FIELDS"]).VALID_FIELDS, "email": "other@example.cn", "mobile": "13999999999", "id_card_number": "440524188001010014"})
    r = client_as("privacy_staff").post("/api/v1/subjects/lookup", json={"field": field, "value": asked}, purpose="legal_compliance")
    assert r.status_code == 200, r.json
    assert r.json == {"id": str(sid), "ids": [str(sid)]}


def test_no_match_is_404_and_audited(client_as, make_subject, audit_events):
    make_subject()
    r = client_as("sales_service").post("/api/v1/subjects/lookup", json={"field": "email", "value": "nobody@example.cn"}, purpose="order_fulfilment")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    [event] = audit_events(action="subjects:profile:lookup")
    assert (event.reason, event.subject_id, event.field_names) == ("no_match", None, "email")


def test_a_lookup_needs_a_purpose_that_may_use_the_field(client_as, make_subject):
    make_subject()
    sales = client_as("sales_service")
    r = sales.post("/api/v1/subjects/lookup", json={"field": "id_card_number", "value": "11010519491231002X"}, purpose="order_fulfilment")
    assert r.status_code == 403 and r.json["reason"] == "field_not_in_purpose"
    r = sales.post("/api/v1/subjects/lookup", json={"field": "email", "value": "zhang.san@example.cn"})
    assert r.status_code == 403 and r.json["reason"] == "purpose_required"


def test_a_non_searchable_field_cannot_be_looked_up(client_as):
    r = client_as("sales_service").post("/api/v1/subjects/lookup", json={"field": "address", "value": "x"}, purpose="order_fulfilment")
    assert r.status_code == 400 and "field" in r.json["errors"]


def test_the_blind_index_is_a_keyed_hash_not_the_value(make_subject, runtime):
    from sqlalchemy import select

    from govern.subjects.models import ProfileField

    make_subject()
    with runtime.database.unit_of_work() as session:
        indexes = dict(session.execute(select(ProfileField.name, ProfileField.blind_index)).all())
    assert indexes["address"] is None  # not searchable: no index at all
    assert len(indexes["email"]) == 64 and "zhang" not in indexes["email"]
    assert indexes["email"] == runtime.envelope.blind_index("email", "zhang.san@example.cn")
