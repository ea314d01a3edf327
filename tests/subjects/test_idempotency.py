"""A retried create with the same Idempotency-Key returns the first answer and creates nothing more."""


def test_a_retry_with_the_same_key_returns_the_same_subject(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    body = {"jurisdiction": "CN", "fields": valid_fields}
    first = sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-1"})
    counts = row_counts()
    again = sales.post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert row_counts()["subjects"] == counts["subjects"]


def test_the_same_key_with_a_different_body_is_refused(client_as, valid_fields):
    sales = client_as("sales_service")
    sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": valid_fields}, headers={"Idempotency-Key": "k-2"})
    other = sales.post("/api/v1/subjects", json={"jurisdiction": "EU", "fields": valid_fields}, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"


def test_keys_belong_to_one_principal(client_as, valid_fields):
    body = {"jurisdiction": "CN", "fields": valid_fields}
    a = client_as("sales_service").post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "shared"})
    b = client_as("sales_service").post("/api/v1/subjects", json=body, headers={"Idempotency-Key": "shared"})
    assert a.json["id"] != b.json["id"]


def test_the_stored_answer_holds_no_personal_data(client_as, valid_fields, runtime):
    from sqlalchemy import select

    from govern.idempotency import IdempotentResponse

    client_as("sales_service").post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": valid_fields}, headers={"Idempotency-Key": "k-3"})
    with runtime.database.unit_of_work() as session:
        row = session.scalar(select(IdempotentResponse))
    assert "张三" not in row.body + row.headers and "13812345678" not in row.body + row.headers
