"""A retried create with the same Idempotency-Key returns the first answer and creates nothing more."""

import hashlib

from tests.conftest import FIXTURE_BASES


def test_a_retry_with_the_same_key_returns_the_same_subject(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    body = {"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}
    first = sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-1"})
    counts = row_counts()
    again = sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert row_counts()["subjects"] == counts["subjects"]


def test_the_same_key_with_a_different_body_is_refused(client_as, valid_fields):
    sales = client_as("sales_service")
    sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}, headers={"Idempotency-Key": "k-2"})
    other = sales.post("/api/v1/subjects", json={"jurisdiction": "EU", "sensitive_basis": FIXTURE_BASES["EU"], "fields": valid_fields}, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"


def test_keys_belong_to_one_principal(client_as, valid_fields):
    body = {"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}
    a = client_as("sales_service").post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "shared"})
    b = client_as("sales_service").post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "shared"})
    assert a.json["id"] != b.json["id"]


def test_the_stored_answer_holds_no_personal_data(client_as, valid_fields, runtime):
    from sqlalchemy import select

    from govern.idempotency import IdempotentResponse

    client_as("sales_service").post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}, headers={"Idempotency-Key": "k-3"})
    with runtime.database.unit_of_work() as session:
        row = session.scalar(select(IdempotentResponse))
    assert "张三" not in row.body + row.headers and "13812345678" not in row.body + row.headers


def test_the_stored_fingerprint_is_keyed_so_no_guessed_value_can_be_confirmed_from_a_copy_of_the_table(client_as, runtime):
    import json

    from sqlalchemy import select

    from govern.idempotency import IdempotentResponse
    from govern.subjects.schemas import SubjectCreateSchema

    fields = {"name": "张三", "mobile": "13812345678"}
    body = {"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": fields}
    sales = client_as("sales_service")
    assert sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-4"}).status_code == 201
    with runtime.database.unit_of_work() as session:
        stored = session.scalar(select(IdempotentResponse)).fingerprint
    # Someone holding the table (a backup) who knows the request's shape tries the mobile numbers of one prefix: the
    # unkeyed fingerprint of the real request is among the guesses, and none of them matches.
    for mobile in ("13812345677", "13812345678", "13812345679"):
        guess = {**body, "fields": {**fields, "mobile": mobile}}
        raw = json.dumps(["POST", "/api/v1/subjects", SubjectCreateSchema().load(guess)], sort_keys=True, ensure_ascii=False, default=str)
        assert hashlib.sha256(raw.encode()).hexdigest() != stored
    # And it still does its work: the same request replays, another one with the key is refused.
    assert sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-4"}).headers["Idempotent-Replayed"] == "true"
    assert sales.post("/api/v1/subjects", json={**body, "fields": {**fields, "mobile": "13812345679"}}, headers={"Idempotency-Key": "k-4"}).status_code == 422
