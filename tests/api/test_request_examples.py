"""Every request body in the OpenAPI document has an example (the EXAMPLE of its schema), the example is valid by the
document's own JSON Schema, and the server accepts it: sent as a role that may call the operation, with real ids in
place of the example's (govern.openapi.EXAMPLE_IDS), it is never refused as malformed (400/422) nor a 5xx."""

from __future__ import annotations

import jsonschema_rs  # schemathesis' own validator
import pytest

from govern.openapi import EXAMPLE_IDS


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


def _bodies(document):
    for path, item in document["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "requestBody" in op:
                yield path, method, op, op["requestBody"]["content"]["application/json"]


def _json_schema(node):
    """OpenAPI 3.0 → JSON Schema for the validator: `nullable: true` admits null."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "deprecated")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def test_every_request_body_has_an_example_valid_by_its_schema(document):
    components = _json_schema(document["components"])
    checked = 0
    for path, method, op, media in _bodies(document):
        assert "example" in media, f"{op['operationId']} ({method.upper()} {path}) has a body without an example"
        schema = {**_json_schema(media["schema"]), "components": components}
        errors = [e.message for e in jsonschema_rs.Draft7Validator(schema, validate_formats=True).iter_errors(media["example"])]
        assert not errors, (op["operationId"], errors)
        checked += 1
    assert checked >= 30


# The CRM's services first: an example's purpose (order_fulfilment, marketing) is theirs.
ROLE_ORDER = ("sales_service", "marketing_service", "support_service", "privacy_staff", "dpo", "security", "auditor", "admin")


def _role_for(runtime, permission: str | None) -> str:
    return next(name for name in ROLE_ORDER if permission in {str(p) for p in runtime.policy.roles[name].permissions})


def _with(real: dict, node):
    """The example with real ids and names in place of the example's."""
    if isinstance(node, dict):
        return {k: _with(real, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_with(real, v) for v in node]
    return real.get(node, node) if isinstance(node, str) else node


def test_the_server_accepts_every_example(app, runtime, document):
    from govern.identity.guard import declared_access
    from tests.proof import flow as realistic

    flow = realistic.run(app, runtime)
    clients: dict[str, realistic.Client] = {}
    admin = realistic.make_clients(app, runtime, ["admin"], [], prefix="example")["admin"]
    principal_id = admin.get("/api/v1/principals?limit=1").json["items"][0]["id"]
    real = {EXAMPLE_IDS["subject"]: flow.subject_id, EXAMPLE_IDS["subject_2"]: flow.erased_subject_id,
            EXAMPLE_IDS["recipient"]: flow.recipient_id, EXAMPLE_IDS["principal"]: principal_id, EXAMPLE_IDS["principal_name"]: admin.name}
    answers = {}
    for path, method, op, media in _bodies(document):
        url = path
        for name, value in {**flow.path_values(), "duty": "incident_drill"}.items():
            url = url.replace("{" + name + "}", str(value))
        endpoint, _ = app.url_map.bind("localhost").match(url, method=method.upper())
        access = str(declared_access(app, endpoint))
        if access == "public":
            client = realistic.Client(app.test_client(), "", "anonymous", "anonymous", [])
        else:
            role = _role_for(runtime, access)
            clients.setdefault(role, realistic.make_clients(app, runtime, [role], [], prefix="example")[role])
            client = clients[role]
        body = _with(real, media["example"])
        headers = {}
        if method == "patch":  # an update names the version it read (If-Match)
            headers["If-Match"] = client.get(url, purpose="customer_service").headers["ETag"]
        purpose = "order_fulfilment" if op["operationId"] == "subjects_lookup_subject" else None
        r = client.open(method.upper(), url, json=body, headers=headers, purpose=purpose)
        answers[op["operationId"]] = r.status_code
        assert r.status_code < 500 and r.status_code not in (400, 412, 422, 428), (op["operationId"], r.status_code, r.get_data(as_text=True)[:500])
    assert sum(1 for s in answers.values() if 200 <= s < 300) >= len(answers) // 2, answers
