"""Creating a subject stores validated, encrypted fields; reading returns what the purpose and role allow."""


def test_created_subject_reads_back_for_a_contract_purpose(client_as, valid_fields):
    sales = client_as("sales_service")
    created = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": valid_fields})
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
    assert read.headers["ETag"] == created.headers["ETag"]
