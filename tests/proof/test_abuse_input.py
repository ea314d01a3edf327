"""Abuse: hostile input is a 4xx problem+json, never a 500 — generated over the routes of the OpenAPI document.

Every route that takes a JSON body gets bodies nested 1,000 deep, numbers of 5,000 digits, 1e400, NaN; every route with
an integer id in its path gets ids at and past 2^63; every cursor gets forged, negative, oversized and far-dated
cursors; every date-time (query or body) gets year 9999 / 0001 with the widest offsets and no offset at all. Each is
sent as a role that may call the route (so the handler runs past its guard), with a real subject's id.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field

import pytest

from tests.conftest import FIXTURE_BASES

pytestmark = pytest.mark.proof

DEEP = 1000
HUGE_INT = "1" + "0" * 5000

HOSTILE_BODIES = {
    "array nested 1000 deep": "[" * DEEP + "]" * DEEP,
    "object nested 1000 deep": '{"a":' * DEEP + "1" + "}" * DEEP,
    "object nested 40 deep": '{"a":' * 40 + "1" + "}" * 40,
    "integer of 5000 digits": '{"limit": ' + HUGE_INT + ', "note": ' + HUGE_INT + "}",
    "integer 2^63": '{"export_id": 9223372036854775808, "records": 9223372036854775808, "limit": 9223372036854775808}',
    "1e400": '{"amount": 1e400, "limit": 1e400}',
    "-1e400": '{"amount": -1e400}',
    "NaN": '{"amount": NaN}',
    "Infinity": '{"amount": -Infinity}',
}

BIG_IDS = [str(2**63), str(2**64), "1" + "0" * 40, str(2**63 - 1)]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FAR_DATES = [
    "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00-12:00", "2026-01-01T00:00:00", "9999-12-31", "0001-01-01",
]
SOME_ID = "3f2b1c8e-0000-4000-8000-000000000001"
BAD_CURSORS = [
    "!!!", "A" * 199, "-1", _b64("e-1"), _b64(f"e{2**63}"), _b64("e" + "9" * 5000), _b64("e" + "9" * 30),
    _b64(json.dumps(["9999-12-31T23:59:59-12:00", SOME_ID])), _b64(json.dumps(["0001-01-01T00:00:00+14:00", SOME_ID])),
    _b64(json.dumps(["2026-01-01T00:00:00", SOME_ID])), _b64(json.dumps([1e308, SOME_ID])), _b64(json.dumps({"a": 1})),
    _b64(f"9999-12-31T23:59:59-12:00|{SOME_ID}"), _b64(f"0001-01-01T00:00:00+14:00|{SOME_ID}"), _b64(f"2026-01-01T00:00:00|{SOME_ID}"),
]


@dataclass
class Route:
    method: str
    path: str  # OpenAPI path with {names}
    permission: str | None
    has_body: bool
    path_params: dict[str, dict] = field(default_factory=dict)
    query: dict[str, dict] = field(default_factory=dict)
    body_dates: list[str] = field(default_factory=list)

    def url(self, values: dict, **override) -> str:
        out = self.path
        for name in self.path_params:
            out = out.replace("{" + name + "}", str(override.get(name, values.get(name, SOME_ID))))
        return out


def _routes(app) -> list[Route]:
    from werkzeug.exceptions import HTTPException

    from govern.identity.guard import declared_access

    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    comps = doc["components"]["schemas"]

    def props(schema: dict) -> dict:
        if "$ref" in schema:
            return props(comps[schema["$ref"].split("/")[-1]])
        return schema.get("properties") or {}

    adapter = app.url_map.bind("localhost")
    out = []
    for path, ops in doc["paths"].items():
        shared = ops.get("parameters", [])  # flask-smorest documents path parameters once per path
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            op = {**op, "parameters": [*shared, *op.get("parameters", [])]}
            probe = path
            for p in op["parameters"]:
                if p["in"] == "path":
                    probe = probe.replace("{" + p["name"] + "}", "1" if p.get("schema", {}).get("type") == "integer" else SOME_ID)
            try:
                endpoint, _ = adapter.match(probe, method=method.upper())
            except HTTPException:
                continue
            access = declared_access(app, endpoint)
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            out.append(Route(
                method=method.upper(), path=path, permission=None if access is None else str(access), has_body=body is not None,
                path_params={p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "path"},
                query={p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p["in"] == "query"},
                body_dates=[k for k, v in props(body).items() if v.get("format") in ("date-time", "date")] if body else [],
            ))
    return out


@pytest.fixture(scope="module")
def routes(app):
    return _routes(app)


@pytest.fixture
def flow(make_subject):
    """Path values: a real subject (the creates that take a date run to the service), other ids unknown (404)."""

    class Values:
        subject_id = str(make_subject())

        def path_values(self) -> dict:
            return {"subject_id": self.subject_id, "seq": 1, "run_id": 1, "purpose": "marketing"}

    return Values()


@pytest.fixture
def caller(client_as, runtime):
    """caller(route) -> a client of a role that may call the route (public routes: any)."""
    cache: dict[str, object] = {}

    def pick(route: Route):
        role = next((name for name, r in sorted(runtime.policy.roles.items())
                     if route.permission in {str(p) for p in r.permissions}), "dpo")
        if role not in cache:
            cache[role] = client_as(role)
        return cache[role]

    return pick


def _purpose(route: Route) -> str | None:
    return "legal_compliance" if "/subjects" in route.path else None


def _verdict(found: list, route: Route, what: str, response, allowed=range(400, 500)) -> None:
    response.close()  # file answers (the audit export) hold a temporary file
    if response.status_code not in allowed:
        found.append(f"{route.method} {route.path} [{what}]: {response.status_code} {response.get_data(as_text=True)[:200]}")
    elif response.status_code >= 400 and response.content_type != "application/problem+json":
        found.append(f"{route.method} {route.path} [{what}]: {response.status_code} as {response.content_type}")


def test_hostile_json_bodies_are_refused_with_400_on_every_route_that_takes_json(routes, caller, flow):
    values, found, sent = flow.path_values(), [], 0
    for route in [r for r in routes if r.has_body]:
        client = caller(route)
        for what, raw in HOSTILE_BODIES.items():
            r = client.open(route.url(values), route.method, purpose=_purpose(route), data=raw, content_type="application/json")
            sent += 1
            _verdict(found, route, what, r, allowed=(400,))
            if r.status_code == 400 and r.json.get("code") not in ("validation_failed",):
                found.append(f"{route.method} {route.path} [{what}]: code {r.json.get('code')}")
    assert sent > 200 and not found, "\n".join(found)


def test_ids_at_and_past_2_to_the_63_in_paths_are_404(routes, caller, flow):
    values, found, sent = flow.path_values(), [], 0
    for route in [r for r in routes if any(s.get("type") == "integer" for s in r.path_params.values())]:
        client = caller(route)
        for name in [n for n, s in route.path_params.items() if s.get("type") == "integer"]:
            for big in BIG_IDS:
                r = client.open(route.url(values, **{name: big}), route.method, purpose=_purpose(route))
                sent += 1
                _verdict(found, route, f"{name}={big[:24]}", r, allowed=(404,))
    assert sent >= 8 and not found, "\n".join(found)


def test_forged_cursors_and_huge_integers_in_queries_are_4xx(routes, caller, flow):
    values, found, sent = flow.path_values(), [], 0
    for route in [r for r in routes if r.method == "GET"]:
        client = caller(route)
        for name, schema in route.query.items():
            if name == "cursor":
                bad = BAD_CURSORS
            elif schema.get("type") == "integer":
                bad = [str(2**63), str(2**64), "1" + "0" * 40, "-1", str(-(2**63) - 1)]
            else:
                continue
            for value in bad:
                r = client.open(route.url(values), "GET", purpose=_purpose(route), query_string={name: value}, buffered=True)
                sent += 1
                _verdict(found, route, f"{name}={value[:30]}", r, allowed=range(400, 500))
    # the records of a subject take a cursor too
    records = Route("GET", "/api/v1/subjects/{subject_id}/records", None, False, {"subject_id": {}})
    client = caller(Route("GET", "", "subjects:records:read", False))
    for value in BAD_CURSORS:
        r = client.get(records.url(values), purpose="legal_compliance", query_string={"cursor": value})
        sent += 1
        _verdict(found, records, f"cursor={value[:30]}", r, allowed=range(400, 500))
    assert sent > 50 and not found, "\n".join(found)


def test_far_dates_and_naive_dates_in_queries_are_answered_without_a_500(routes, caller, flow):
    values, found, sent = flow.path_values(), [], 0
    for route in [r for r in routes if r.method == "GET"]:
        client = caller(route)
        for name in [n for n, s in route.query.items() if s.get("format") in ("date-time", "date")]:
            for value in FAR_DATES:
                r = client.open(route.url(values), "GET", purpose=_purpose(route), query_string={name: value}, buffered=True)
                sent += 1
                _verdict(found, route, f"{name}={value}", r, allowed=[*range(200, 300), *range(400, 500)])
    assert sent >= 20 and not found, "\n".join(found)


# Bodies that pass every other check, so a far date reaches the service (the route's date fields are named in the
# document; these give the rest).
def _date_bodies(flow) -> dict[tuple[str, str], dict]:
    sid = flow.subject_id
    return {
        ("POST", "/api/v1/subjects/{subject_id}/records"): {"type": "purchase", "payload": {"note": "x"}},
        ("POST", "/api/v1/subjects/{subject_id}/consents"): {"action": "grant", "purpose": "marketing", "notice_version": "2026-01", "channel": "web", "evidence": "f"},
        ("POST", "/api/v1/requests"): {"subject_id": sid, "type": "access", "channel": "app"},
        ("POST", "/api/v1/holds"): {"subject_id": sid, "reason": "litigation", "note": "case"},
        ("POST", "/api/v1/incidents"): {"title": "Far dates", "detected_at": "2026-01-01T00:00:00+00:00", "source": {"principals": ["nobody"]}},
        ("POST", "/api/v1/incidents/{incident_id}/scope"): {},
        ("POST", "/api/v1/incidents/{incident_id}/notifications/{notification_id}/sent"): {"channel": "email"},
        ("POST", "/api/v1/recipients"): {"name": "Far Ltd", "contact": "privacy@far.example", "purpose": "partner_marketing",
                                         "categories": ["contact"], "country": "CN", "agreement_ref": "DSA-9"},
        ("PATCH", "/api/v1/recipients/{recipient_id}"): {},
    }


def test_far_dates_and_naive_dates_in_bodies_are_answered_without_a_500(routes, caller, flow):
    values, found, sent = flow.path_values(), [], 0
    bodies = _date_bodies(flow)
    for route in [r for r in routes if r.body_dates]:
        client = caller(route)
        base = bodies.get((route.method, route.path), {})
        for name in route.body_dates:
            for value in FAR_DATES:
                headers = {"If-Match": "*"} if route.method == "PATCH" else None
                r = client.open(route.url(values), route.method, purpose=_purpose(route), json={**base, name: value}, headers=headers)
                sent += 1
                _verdict(found, route, f"{name}={value}", r, allowed=[*range(200, 300), *range(400, 500)])
    assert sent >= 50 and not found, "\n".join(found)


def test_an_unknown_id_in_every_id_path_is_answered_without_a_500(routes, caller, flow):
    values, found = flow.path_values(), []
    for route in [r for r in routes if r.path_params]:
        client = caller(route)
        r = client.open(route.url({k: (str(uuid.uuid4()) if k not in ("seq", "run_id", "purpose") else v) for k, v in values.items()}),
                        route.method, purpose=_purpose(route), json={} if route.has_body else None)
        _verdict(found, route, "unknown id", r, allowed=[*range(200, 300), *range(400, 500)])
    assert not found, "\n".join(found)


# --- concurrency and a blocked database ---------------------------------------------------------------------------


def _waiting_backends(runtime) -> int:
    from sqlalchemy import text

    with runtime.database.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one()


def test_two_concurrent_creates_with_one_external_ref_get_one_201_and_one_409(app, runtime, make_principal, is_postgres, valid_fields):
    import threading
    import time

    from sqlalchemy import func, select

    from govern.subjects.models import Subject
    from tests.conftest import ApiClient

    clients = []
    for _ in range(2):  # two CRM components: one principal's requests would queue behind each other on its key's row
        principal, key = make_principal("sales_service")
        clients.append(ApiClient(app.test_client(), key, principal.id, principal.name))
    body = {"jurisdiction": "CN", "external_ref": "crm-race-1", "fields": valid_fields, "sensitive_basis": FIXTURE_BASES["CN"]}
    answers: list = []
    start = threading.Barrier(2)

    def create(client):
        start.wait()
        answers.append(client.post("/api/v1/subjects", json=body))

    blocker = None
    if is_postgres:
        # Both requests pass the look-up for the external_ref before either commits: the first waits on this lock
        # after inserting its subject, the second behind the first's uncommitted row in the unique index.
        blocker = runtime.database.engine.connect()
        blocker.begin()
        blocker.exec_driver_sql("LOCK TABLE subject_keys IN ACCESS EXCLUSIVE MODE")
    threads = [threading.Thread(target=create, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    if blocker is not None:
        deadline = time.monotonic() + 4  # well inside the 5 s lock_timeout the requests run with
        while _waiting_backends(runtime) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        blocker.rollback()
        blocker.close()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in answers) == [201, 409], [r.get_data(as_text=True)[:200] for r in answers]
    refused = next(r for r in answers if r.status_code == 409)
    assert refused.content_type == "application/problem+json" and refused.json["code"] == "external_ref_exists"
    with runtime.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subject).where(Subject.external_ref == "crm-race-1")) == 1


def test_a_request_blocked_by_a_locked_audit_table_answers_503_with_retry_after(settings, runtime, make_principal, make_subject, is_postgres):
    from dataclasses import replace

    from govern.app import create_app
    from govern.runtime import build_runtime
    from tests.conftest import ApiClient

    sid = make_subject()
    principal, key = make_principal("sales_service")
    quick = build_runtime(replace(settings, db_lock_timeout_ms=300))  # GOVERN_DB_LOCK_TIMEOUT_MS=300
    quick.resolver = runtime.resolver
    client = ApiClient(create_app(runtime=quick).test_client(), key, principal.id, principal.name)
    blocker = runtime.database.engine.connect()
    try:
        blocker.begin()  # SQLite: BEGIN IMMEDIATE, the database's write lock
        if is_postgres:
            blocker.exec_driver_sql("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        r = client.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
        blocker.rollback()
        after = client.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    finally:
        blocker.rollback()
        blocker.close()
        quick.database.dispose()
    assert r.status_code == 503 and r.content_type == "application/problem+json", r.get_data(as_text=True)[:300]
    # database_busy where a statement waited for the lock; audit_unavailable where it was the audit write (fail closed)
    assert r.json["code"] in ("database_busy", "audit_unavailable") and int(r.headers["Retry-After"]) > 0
    assert "Traceback" not in r.get_data(as_text=True)
    assert after.status_code == 200  # the lock released, the same request answers
