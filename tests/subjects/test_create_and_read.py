"""Creating a subject stores validated, encrypted fields, and the subject reads back for a contract purpose. (What a
read shows, to which role, is access's rule: tests/access/test_reads_fields.py.)"""

from tests.conftest import FIXTURE_BASES


def test_created_subject_reads_back_for_a_contract_purpose(client_as, valid_fields):
    sales = client_as("sales_service")
    created = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "external_ref": "crm-1", "fields": valid_fields})
    assert created.status_code == 201, created.json
    assert set(created.json) == {"id"}  # values are never echoed
    assert created.headers["ETag"]

    read = sales.get(f"/api/v1/subjects/{created.json['id']}", purpose="order_fulfilment")
    assert read.status_code == 200, read.json
    assert read.json["fields"] == {
        "name": "张三",
        "mobile": "13812345678",
        "email": "zhang.san@example.cn",
        "address": "上海市浦东新区世纪大道100号",
    }
    assert read.json["external_ref"] == "crm-1"
    assert read.headers["ETag"] == created.headers["ETag"]


def test_creating_records_the_field_names_in_the_audit_log(client_as, valid_fields, audit_events):
    sales = client_as("sales_service")
    sid = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}).json["id"]
    [event] = audit_events(action="subjects:profile:create")
    assert str(event.subject_id) == sid
    assert set(event.field_names.split(",")) == set(valid_fields)


def test_top_level_birth_date_is_stored_as_an_encrypted_field(client_as, valid_fields, runtime):
    from sqlalchemy import select

    from govern.subjects.models import ProfileField

    sales = client_as("sales_service")
    sid = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "birth_date": "1990-05-01", "fields": valid_fields}).json["id"]
    with runtime.database.unit_of_work() as session:
        names = set(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == __import__("uuid").UUID(sid))))
    assert "birth_date" in names


def test_an_external_ref_is_unique(client_as, valid_fields, row_counts):
    sales = client_as("sales_service")
    assert sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "external_ref": "crm-9", "fields": valid_fields}).status_code == 201
    before = row_counts()
    again = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "external_ref": "crm-9", "fields": valid_fields})
    assert again.status_code == 409 and again.json["code"] == "external_ref_exists"
    assert row_counts() == before
