"""Bad input gets a 400 problem+json naming the field and the rule, stores nothing, and never echoes the value."""

import pytest


def _post(client, fields, **extra):
    return client.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": fields, **extra})


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("mobile", "12812345678", "cn_mobile"),
        ("email", "not-an-email@", "email"),
        ("id_card_number", "110105194912310021", "cn_resident_id"),  # wrong check digit
        ("bank_card_number", "6222020200112345674", "bank_card"),  # fails Luhn
        ("birth_date", "1990-02-30", "iso_date"),
        ("precise_location", "91.0,10.0", "geo_point"),
    ],
)
def test_a_bad_value_is_refused_naming_field_and_rule_without_echoing_it(client_as, valid_fields, row_counts, capsys, field, value, rule):
    sales = client_as("sales_service")
    before = row_counts()
    r = _post(sales, {**valid_fields, field: value})
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    assert r.json["code"] == "validation_failed"
    assert rule in r.json["errors"][f"fields.{field}"][0]
    assert value not in r.get_data(as_text=True)
    assert value not in capsys.readouterr().out
    assert row_counts() == before


def test_an_unknown_field_is_refused(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    before = row_counts()
    r = _post(sales, {**valid_fields, "shoe_size": "42"})
    assert r.status_code == 400
    assert "unknown field" in r.json["errors"]["fields.shoe_size"][0]
    assert row_counts() == before


def test_a_missing_required_field_is_refused(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    before = row_counts()
    fields = {k: v for k, v in valid_fields.items() if k != "name"}
    r = _post(sales, fields)
    assert r.status_code == 400
    assert r.json["errors"] == {"fields.name": ["required"]}
    assert row_counts() == before


def test_an_unknown_jurisdiction_is_refused(client_as, valid_fields):
    r = client_as("sales_service").post("/api/v1/subjects", json={"jurisdiction": "XX", "fields": valid_fields})
    assert r.status_code == 400 and "jurisdiction" in r.json["errors"]


def test_a_malformed_body_is_a_400_problem(client_as):
    sales = client_as("sales_service")
    r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN"})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "fields" in r.json["errors"]
    r = sales.client.post("/api/v1/subjects", data="{not json", headers={"Authorization": f"Bearer {sales.api_key}", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_every_error_in_one_request_is_reported_together(client_as, valid_fields):
    r = _post(client_as("sales_service"), {**valid_fields, "mobile": "1", "email": "x"})
    assert {"fields.mobile", "fields.email"} <= set(r.json["errors"])
