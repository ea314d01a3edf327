"""Every list the API answers has one shape, `{items, next_cursor}` with `?cursor=&limit=` (govern/api_lists.py): a
client walks any of them with the same loop, a cursor it did not get from govern is a 400 problem, and lists that
answered another shape before still carry their old key, announced as deprecated with Deprecation and Sunset."""

from __future__ import annotations

import base64

import pytest

# The list endpoints (operationIds): each answers {items, next_cursor} and takes cursor and limit.
LISTS = {
    "audit_list_checkpoints", "audit_search_events", "breach_incident_board", "breach_list_letters", "breach_open_clocks",
    "consent_consent_figures", "consent_list_notices", "principals_list_principals", "requests_list_requests", "retention_list_holds", "retention_list_plans",
    "retention_list_rules", "retention_list_runs", "sharing_list_disclosures", "sharing_list_recipients", "sharing_notice_tasks",
    "sharing_public_recipients", "subjects_list_records", "webhooks_list_deliveries", "webhooks_list_endpoints",
}
# The old key each kept for one release (deprecated: true in the document; Deprecation and Sunset on the answer).
OLD_KEYS = {
    "audit_list_checkpoints": "checkpoints", "audit_search_events": "events", "breach_incident_board": "incidents",
    "breach_list_letters": "letters", "breach_open_clocks": "clocks", "requests_list_requests": "requests",
    "subjects_list_records": "records", "webhooks_list_deliveries": "deliveries",
}
# GETs whose answer holds an array but is one document, not a collection to page through (a subject's consent
# history, a regulator's register, a snapshot, a report of figures or duties): answered whole, as they are filed.
DOCUMENTS = {
    "audit_inclusion_proof", "breach_get_incident", "breach_get_scope", "consent_get_notice", "consent_list_consents",
    "processing_list_duties", "requests_get_request", "sharing_request_recipients", "webhooks_get_delivery",
}


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


def _resolve(document, schema):
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _answers(document):
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method != "get":
                continue
            content = op["responses"].get("200", {}).get("content", {}).get("application/json")
            if content and "schema" in content:
                yield path, op, _resolve(document, content["schema"])


def _lists_objects(document, prop) -> bool:
    prop = _resolve(document, prop)
    return prop.get("type") == "array" and ("$ref" in prop.get("items", {}) or prop.get("items", {}).get("type") == "object")


def test_every_list_endpoint_answers_items_and_a_next_cursor_and_takes_cursor_and_limit(document):
    seen, documents = set(), set()
    for path, op, schema in _answers(document):
        assert schema.get("type") != "array", f"{op['operationId']} ({path}) answers a bare array"
        props = schema.get("properties", {})
        if op["operationId"] not in LISTS:
            listed = [name for name, p in props.items() if _lists_objects(document, p)]
            assert not listed or op["operationId"] in DOCUMENTS, f"{op['operationId']} answers a list ({listed}) outside the list shape"
            documents |= {op["operationId"]} if listed else set()
            continue
        seen.add(op["operationId"])
        assert props["items"]["type"] == "array" and {"items", "next_cursor"} <= set(schema["required"]), op["operationId"]
        assert props["next_cursor"].get("nullable") is True
        query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        assert {"cursor", "limit"} <= set(query), (op["operationId"], sorted(query))
        assert query["cursor"]["schema"]["type"] == "string" and query["limit"]["schema"]["minimum"] == 1, op["operationId"]
        old = OLD_KEYS.get(op["operationId"])
        assert set(props) - {"items", "next_cursor"} - {old} <= {"figures", "keys"}, op["operationId"]
        if old:
            assert props[old]["deprecated"] is True
            assert {"Deprecation", "Sunset", "Link"} <= set(op["responses"]["200"]["headers"])
    assert seen == LISTS
    assert documents == DOCUMENTS, f"not documents holding a list (any more): {sorted(DOCUMENTS - documents)}"


def _walk(client, url: str, limit: int) -> list[dict]:
    rows, cursor = [], None
    for _ in range(100):
        r = client.get(url, query_string={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.json
        rows += r.json["items"]
        cursor = r.json["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the cursor never ended")


def test_a_list_is_walked_page_by_page_to_the_end_each_row_once(client_as, make_principal):
    for n in range(4):
        make_principal("sales_service", name=f"crm-{n}")
    admin = client_as("admin")
    whole = admin.get("/api/v1/principals", query_string={"limit": 200}).json
    assert whole["next_cursor"] is None and len(whole["items"]) >= 5
    walked = _walk(admin, "/api/v1/principals", limit=2)
    assert [p["id"] for p in walked] == [p["id"] for p in whole["items"]]


def test_rows_added_between_pages_neither_repeat_nor_push_others_out(client_as, make_subject):
    staff = client_as("privacy_staff")
    for _ in range(4):
        assert staff.post("/api/v1/holds", json={"subject_id": str(make_subject()), "reason": "litigation"}).status_code == 201
    first = staff.get("/api/v1/holds", query_string={"limit": 2}).json
    staff.post("/api/v1/holds", json={"subject_id": str(make_subject()), "reason": "litigation"})  # newest: sorts before page 1
    rest = staff.get("/api/v1/holds", query_string={"limit": 2, "cursor": first["next_cursor"]}).json
    shown = [h["id"] for h in first["items"] + rest["items"]]
    assert len(shown) == len(set(shown)) == 4 and rest["next_cursor"] is None


def _flip(text: str) -> str:
    body, tag = text.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-3] ^= 1  # a digit of the position changed, the tag kept
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + tag


def _refused(r):
    assert r.status_code == 400 and r.content_type == "application/problem+json", (r.status_code, r.get_data(as_text=True)[:200])
    assert r.json["code"] == "validation_failed" and "cursor" in r.json["errors"]


def test_a_cursor_govern_did_not_issue_for_this_list_and_filters_is_a_400_problem(client_as, make_subject):
    staff, dpo = client_as("privacy_staff"), client_as("dpo")
    for _ in range(3):
        staff.post("/api/v1/holds", json={"subject_id": str(make_subject()), "reason": "litigation"})
    cursor = staff.get("/api/v1/holds", query_string={"limit": 1}).json["next_cursor"]
    assert cursor
    for bad in ("x", "e12", "not.base64!", cursor[:-1], _flip(cursor), cursor + "A"):
        _refused(staff.get("/api/v1/holds", query_string={"limit": 1, "cursor": bad}))
    _refused(staff.get("/api/v1/holds", query_string={"limit": 1, "cursor": cursor, "active": "false"}))  # other filters
    _refused(dpo.get("/api/v1/retention/plans", query_string={"cursor": cursor}))  # another list's cursor
    # a list the service pages itself (the audit search): its own cursor is wrapped and signed the same way
    events = dpo.get("/api/v1/audit/events", query_string={"limit": 1}).json
    assert events["next_cursor"]
    _refused(dpo.get("/api/v1/audit/events", query_string={"limit": 1, "cursor": _flip(events["next_cursor"])}))
    _refused(dpo.get("/api/v1/audit/events", query_string={"cursor": base64.urlsafe_b64encode(b"e1").decode()}))  # the old format
    assert dpo.get("/api/v1/audit/events", query_string={"limit": 1, "cursor": events["next_cursor"]}).status_code == 200


def test_a_list_of_the_old_shape_keeps_its_key_for_one_release_and_says_so(client_as, make_subject):
    sales, staff = client_as("sales_service"), client_as("privacy_staff")
    assert sales.post("/api/v1/requests", json={"subject_id": str(make_subject()), "type": "access", "channel": "app"}).status_code == 201
    r = staff.get("/api/v1/requests")
    assert r.json["items"] and r.json["requests"] == r.json["items"] and r.json["next_cursor"] is None
    assert r.headers["Deprecation"].startswith("@") and r.headers["Sunset"].endswith("GMT") and 'rel="deprecation"' in r.headers["Link"]
    fresh = client_as("admin").get("/api/v1/principals")
    assert "Deprecation" not in fresh.headers and set(fresh.json) == {"items", "next_cursor"}
