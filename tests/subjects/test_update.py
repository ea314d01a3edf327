"""Updates need the current ETag in If-Match: a stale one gets 412 and loses nothing."""

from tests.conftest import FIXTURE_BASES


def _create(sales, fields):
    r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": fields})
    return r.json["id"], r.headers["ETag"]


def test_an_update_with_the_current_etag_changes_the_field_and_the_etag(client_as, valid_fields, audit_events):
    sales = client_as("sales_service")
    sid, etag = _create(sales, valid_fields)
    r = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"mobile": "13900001111"}}, headers={"If-Match": etag})
    assert r.status_code == 200, r.json
    assert r.headers["ETag"] != etag
    read = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert read.json["fields"]["mobile"] == "13900001111"
    assert read.headers["ETag"] == r.headers["ETag"]
    [event] = audit_events(action="subjects:profile:update")
    assert event.field_names == "mobile"


def test_a_stale_etag_is_refused_with_412_and_nothing_is_lost(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    sid, first = _create(sales, valid_fields)
    second = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"mobile": "13900001111"}}, headers={"If-Match": first}).headers["ETag"]
    before = row_counts()
    stale = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"mobile": "13700002222"}}, headers={"If-Match": first})
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"
    assert stale.headers["ETag"] == second
    assert row_counts() == before
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["fields"]["mobile"] == "13900001111"


def test_an_update_without_if_match_is_428(client_as, valid_fields):
    sales = client_as("sales_service")
    sid, _ = _create(sales, valid_fields)
    r = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"mobile": "13900001111"}})
    assert r.status_code == 428 and r.mimetype == "application/problem+json"


def test_null_removes_an_optional_field_but_not_a_required_one(client_as, valid_fields):
    sales = client_as("sales_service")
    sid, etag = _create(sales, valid_fields)
    required = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"name": None}}, headers={"If-Match": etag})
    assert required.status_code == 400
    removed = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"address": None}}, headers={"If-Match": etag})
    assert removed.status_code == 200
    assert "address" not in sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["fields"]


def test_a_bad_value_in_an_update_changes_nothing(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    sid, etag = _create(sales, valid_fields)
    before = row_counts()
    r = sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"mobile": "13900001111", "email": "broken"}}, headers={"If-Match": etag})
    assert r.status_code == 400
    assert row_counts() == before
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["fields"]["mobile"] == "13812345678"


def test_an_etag_of_another_subject_does_not_match(client_as, valid_fields):
    sales = client_as("sales_service")
    a, etag_a = _create(sales, valid_fields)
    b, _ = _create(sales, valid_fields)
    assert sales.patch(f"/api/v1/subjects/{b}", json={"fields": {"mobile": "13900001111"}}, headers={"If-Match": etag_a}).status_code == 412
