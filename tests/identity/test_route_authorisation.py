"""Every route in the app declares who may call it; the guard enforces it. A route added without a rule fails here
(and is refused at run time)."""

import re

import pytest

from govern.identity.guard import PUBLIC, declared_access
from govern.identity.permissions import Permission

SAMPLE_UUID = "00000000-0000-0000-0000-000000000001"


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(rule) -> str:
    url = re.sub(r"<uuid:[^>]+>", SAMPLE_UUID, rule.rule)
    url = re.sub(r"<int:[^>]+>", "1", url)
    return re.sub(r"<[^>]+>", "x", url)


def test_every_route_declares_an_access_rule(app):
    missing = [f"{method} {rule.rule}" for rule, method in _routes(app) if declared_access(app, rule.endpoint) is None]
    assert missing == [], f"routes without @requires/@public: {missing}"


def test_every_declared_permission_exists_and_some_role_holds_it(app, runtime):
    held = {p for role in runtime.policy.roles.values() for p in role.permissions}
    for rule, _ in _routes(app):
        needed = declared_access(app, rule.endpoint)
        if needed != PUBLIC:
            assert needed in set(Permission), rule.rule
            assert needed in held, f"no role may call {rule.rule} ({needed})"


def test_every_protected_route_refuses_a_caller_without_a_key(app):
    client = app.test_client()
    for rule, method in _routes(app):
        if declared_access(app, rule.endpoint) == PUBLIC:
            continue
        r = client.open(_url(rule), method=method, json={})
        assert r.status_code == 401, f"{method} {rule.rule} answered {r.status_code} without a key"
        assert r.mimetype == "application/problem+json"


def test_every_role_lacking_a_routes_permission_is_refused(app, runtime, client_as):
    clients = {role: client_as(role) for role in runtime.policy.roles}
    for rule, method in _routes(app):
        needed = declared_access(app, rule.endpoint)
        if needed == PUBLIC:
            continue
        for role, client in clients.items():
            if needed in runtime.policy.roles[role].permissions:
                continue
            r = client.open(_url(rule), method=method, json={})
            assert r.status_code == 403, f"{role} reached {method} {rule.rule} ({r.status_code})"
            assert r.json["code"] == "permission_denied"


def test_a_route_that_declares_nothing_is_refused_at_run_time(runtime):
    from govern.app import create_app

    app = create_app(runtime=runtime)

    @app.get("/api/v1/forgotten")
    def forgotten():
        return {"secret": True}

    r = app.test_client().get("/api/v1/forgotten")
    assert r.status_code == 403 and r.json["code"] == "route_not_authorised"


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer ", "Bearer gv_000000000000_" + "A" * 43, "Bearer not-a-key"])
def test_bad_credentials_are_401_problem_json_and_audited(app, header, audit_events):
    r = app.test_client().get(f"/api/v1/subjects/{SAMPLE_UUID}", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    [event] = audit_events(action="identity:apikey:reject")
    assert event.outcome == "denied"
