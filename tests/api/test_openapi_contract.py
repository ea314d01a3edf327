"""The OpenAPI document as a contract a client is generated from (issue 18 item 4): stable operationIds, the headers
each operation reads, no security on public routes, the problems each route can answer, enums of accepted values,
and the behaviour the document promises (Allow on a 405, 304 for a current If-None-Match)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FROZEN_IDS = Path(__file__).with_name("operation_ids.txt")
METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_operation_has_a_unique_operation_id_frozen_in_the_committed_list(document):
    ids = [op.get("operationId") for _, _, op in operations(document)]
    assert all(ids), [f"{m.upper()} {p}" for p, m, op in operations(document) if not op.get("operationId")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    frozen = [line for line in FROZEN_IDS.read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(ids) == frozen, (
        "operationIds changed (generated clients break): new " + str(sorted(set(ids) - set(frozen)))
        + ", gone " + str(sorted(set(frozen) - set(ids))) + f"; if on purpose, update {FROZEN_IDS.name}"
    )


def test_public_routes_have_no_security_and_every_other_route_documents_401_403_429_as_problem_json(app, document):
    from govern.identity.guard import declared_access

    assert document["servers"] and document["security"] == [{"bearer": []}]
    public = set()
    for path, method, op in operations(document):
        endpoint = next(r.endpoint for r in app.url_map.iter_rules() if re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", r.rule) == path and method.upper() in r.methods)
        if str(declared_access(app, endpoint)) == "public":
            public.add(op["operationId"])
            assert op.get("security") == [], op["operationId"]
            assert "401" not in op["responses"], op["operationId"]
        else:
            assert "security" not in op, op["operationId"]
            for status in ("401", "403", "429"):
                response = op["responses"][status]
                ref = response.get("$ref", "")
                content = document["components"]["responses"][ref.rsplit("/", 1)[-1]]["content"] if ref else response["content"]
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, (op["operationId"], status)
    assert {"consent_list_notices", "consent_get_notice", "requests_redeem_download", "sharing_public_recipients"} <= public


def _op(document, path, method):
    return document["paths"][path][method]


def _headers(op):
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}


def test_the_headers_an_operation_reads_are_its_documented_header_parameters(document):
    create = _op(document, "/api/v1/subjects", "post")
    assert "Idempotency-Key" in _headers(create) and {"409", "422"} <= set(create["responses"])
    assert "Idempotency-Key" in _headers(_op(document, "/api/v1/requests", "post"))
    update = _op(document, "/api/v1/subjects/{subject_id}", "patch")
    assert _headers(update)["If-Match"]["required"] is True and {"412", "428"} <= set(update["responses"])
    assert "If-Match" in _headers(_op(document, "/api/v1/webhooks/endpoints/{endpoint_id}", "patch"))
    read = _op(document, "/api/v1/subjects/{subject_id}", "get")
    assert {"X-Purpose", "If-None-Match"} <= set(_headers(read)) and "304" in read["responses"]
    # A create that refuses the header (its answer holds a secret) does not offer it.
    assert "Idempotency-Key" not in _headers(_op(document, "/api/v1/webhooks/endpoints", "post"))
    # Nobody reads X-Purpose on the principals list.
    assert "X-Purpose" not in _headers(_op(document, "/api/v1/principals", "get"))


def test_enums_are_the_values_the_server_accepts(runtime, document):
    from govern.consent.service import CHANNELS as CONSENT_CHANNELS
    from govern.subject_requests.service import CHANNELS, STATES

    schemas = document["components"]["schemas"]
    assert set(schemas["SubjectCreate"]["properties"]["jurisdiction"]["enum"]) == set(runtime.policy.jurisdictions)
    assert schemas["RequestCreate"]["properties"]["channel"]["enum"] == list(CHANNELS)
    assert schemas["Request"]["properties"]["state"]["enum"] == list(STATES)
    assert schemas["ConsentCreate"]["properties"]["channel"]["enum"] == list(CONSENT_CHANNELS)
    # one act naming several purposes names them from the policy, as `purpose` does
    assert schemas["ConsentCreate"]["properties"]["purposes"]["items"]["enum"] == sorted(runtime.policy.purposes)
    assert schemas["ConsentCreate"]["properties"]["purposes"]["uniqueItems"] is True


def test_a_405_names_the_allowed_methods(client_as):
    r = client_as("privacy_staff").open("/api/v1/requests", "PUT")
    assert r.status_code == 405 and r.content_type == "application/problem+json"
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_a_get_naming_its_current_etag_in_if_none_match_is_a_304_without_a_body(client_as, make_subject):
    sid = make_subject()
    sales = client_as("sales_service")
    first = sales.get(f"/api/v1/subjects/{sid}", purpose="customer_service")
    assert first.status_code == 200 and first.headers["ETag"]
    again = sales.get(f"/api/v1/subjects/{sid}", purpose="customer_service", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == first.headers["ETag"]
    other = sales.get(f"/api/v1/subjects/{sid}", purpose="customer_service", headers={"If-None-Match": '"00000000-0"'})
    assert other.status_code == 200 and other.json["fields"]
