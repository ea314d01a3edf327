"""The authorisation matrix: every route of the URL map × every role (and anonymous) gets the answer written in the
reviewed file tests/proof/authorisation_matrix.yaml — checked by real requests, as a principal of each role created
through the identity service. API routes are called with the principal's API key; console routes with a signed-in
console session for staff roles (through the console's own sign-in form) and with the API key for service roles.

A route without an entry in the file fails, and so does an entry for a route that is gone: regenerate the file with
`.venv/bin/python -m tests.proof.make_matrix` and review the difference.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.proof import make_matrix
from tests.proof.conftest import ANONYMOUS

pytestmark = pytest.mark.proof

PASSWORD = "matrix proof password 2026"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
SAMPLE = {"uuid": lambda name: str(uuid.uuid4()), "int": lambda name: "1", "path": lambda name: "proof.css"}
NAMED = {"lang": "en", "purpose": "marketing"}


def _url(rule: str) -> str:
    def fill(match: re.Match) -> str:
        converter, name = match.group(1) or "default", match.group(2)
        return NAMED.get(name) or SAMPLE.get(converter, lambda _: "proof")(name)

    return _ARG.sub(fill, rule)


def classify(response) -> str:
    """The answer class of one response (see make_matrix.py)."""
    if response.status_code == 401:
        return "unauth"
    if response.status_code == 403:
        body = response.get_json(silent=True) or {}
        code = body.get("code")
        assert code, f"a 403 that is not problem+json: {response.content_type} {response.get_data(as_text=True)[:200]}"
        if code == "permission_denied":
            return "deny"
        if code == "route_not_authorised":
            return "closed"
    return "allow"


def _console_session(app, runtime, role: str):
    """A test client signed in to the console, through its sign-in form, as a new staff member holding `role`."""
    from govern.identity import staff
    from govern.identity.actor import Actor

    name = f"matrix-{role}-{uuid.uuid4().hex[:6]}".replace("_", "-")
    with runtime.database.unit_of_work() as session:
        staff.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=name, roles=[role], password=PASSWORD)
    client = app.test_client()
    form = client.get("/console/sign-in", headers={"Accept": "text/html"}).get_data(as_text=True)
    signed = client.post("/console/sign-in", data={"csrf_token": _CSRF.search(form).group(1), "name": name, "password": PASSWORD},
                         headers={"Accept": "text/html"})
    assert signed.status_code == 302, signed.get_data(as_text=True)[:300]
    home = client.get("/console/", headers={"Accept": "text/html"}).get_data(as_text=True)
    return client, _CSRF.search(home).group(1)


def test_the_matrix_file_has_an_entry_for_every_route_and_role_and_no_other(app, runtime):
    matrix = make_matrix.load()
    live = make_matrix.routes(app)
    missing = sorted(set(live) - set(matrix["routes"]))
    gone = sorted(set(matrix["routes"]) - set(live))
    assert not missing, f"routes without an entry in authorisation_matrix.yaml (regenerate and review): {missing}"
    assert not gone, f"entries for routes that no longer exist: {gone}"
    assert matrix["roles"] == make_matrix.roles_of(runtime.policy), "the roles of policies/roles.yaml changed: regenerate and review"
    for key, entry in matrix["routes"].items():
        assert entry["endpoint"] == live[key]["endpoint"] and entry["declares"] == live[key]["declares"], f"{key}: the declared access changed"
        assert set(entry["expect"]) == set(matrix["roles"]), f"{key}: not every role has an expected answer"
        assert set(entry["expect"].values()) <= {"allow", "deny", "unauth", "public", "closed"}, key


def test_every_route_answers_every_role_as_the_reviewed_matrix_says(app, runtime):
    from tests.proof.flow import make_clients

    matrix = make_matrix.load()
    live = make_matrix.routes(app)
    staff_roles = {name for name, role in runtime.policy.roles.items() if role.kind in ("staff", "any")}
    keys = {role: client.api_key for role, client in make_clients(app, runtime, [r for r in matrix["roles"] if r != ANONYMOUS], [], prefix="matrix").items()}
    consoles = {role: _console_session(app, runtime, role) for role in sorted(staff_roles)}
    api_client = app.test_client()
    # Signing out ends the console session the other console cells use: it goes last.
    order = sorted(live, key=lambda key: live[key]["endpoint"] == "console.sign_out")
    wrong = []
    cells = 0
    for key in order:
        method, rule = key.split(" ", 1)
        url = _url(rule)
        entry = matrix["routes"].get(key)
        if entry is None:
            wrong.append(f"{key}: no entry in the file")
            continue
        console = rule.startswith("/console/")
        for role in matrix["roles"]:
            headers = {"Accept": "application/json"}
            client = api_client
            if role != ANONYMOUS and console and role in consoles:
                client, csrf = consoles[role]
                headers["X-CSRF-Token"] = csrf
            elif role != ANONYMOUS:
                headers["Authorization"] = f"Bearer {keys[role]}"
            kwargs = {"json": {}} if method in ("POST", "PATCH", "PUT") and not console else {}
            response = client.open(url, method=method, headers=headers, **kwargs)
            got = classify(response)
            response.close()
            cells += 1
            want = entry["expect"].get(role, "missing")
            if got != ("allow" if want == "public" else want):
                wrong.append(f"{key} as {role}: expected {want}, got {got} ({response.status_code})")
    assert not wrong, f"{len(wrong)} cell(s) answer differently from authorisation_matrix.yaml:\n" + "\n".join(wrong)
    assert cells == len(live) * len(matrix["roles"])


@pytest.mark.parametrize("declares, role, answer", [("public", "dpo", "public"), (None, "dpo", "closed"), ("audit:event:read", ANONYMOUS, "unauth")])
def test_the_generator_classifies_public_closed_and_anonymous_cells(runtime, declares, role, answer):
    assert make_matrix.expected_answer(runtime.policy, role, declares) == answer
