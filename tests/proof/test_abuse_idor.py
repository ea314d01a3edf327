"""Abuse: no object reference is a key to another principal's data (IDOR). Every route of the URL map that takes an id
(a uuid or int path converter) is called as service principal B with the id of an object service principal A made,
B holding exactly A's roles (every service role of policies/roles.yaml):

- a route no service role may call answers 403 (role-forbidden) before it looks the id up;
- a route a service may call answers B 404 problem+json — the same answer as for an id that does not exist, so the
  route is no existence oracle — and still answers A;
- a route that is legitimately shared between services is listed in SHARED with the reason.

A new id route that a service role may call and that is in neither OWNED nor SHARED fails the test: decide who may
use its ids, make it hold, and list it here.
"""

from __future__ import annotations

import re
import uuid
from typing import Callable

import pytest

from govern.identity.guard import PUBLIC, declared_access
from govern.timeutil import utcnow

pytestmark = pytest.mark.proof

ID_CONVERTERS = ("uuid", "int")
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

# Shared between services on purpose: the subject is the CRM's one record of a customer, which every component reads
# and writes by its id; what each may see or do is decided per call by role × purpose × consent (tests/subjects,
# tests/consent, tests/sharing), not by who created the subject.
SUBJECT = "the subject is the CRM's shared record of a customer: every component works on it by id, each call decided by role × purpose × consent"
SHARED: dict[str, str] = {
    "GET /api/v1/subjects/<uuid:subject_id>": SUBJECT,
    "PATCH /api/v1/subjects/<uuid:subject_id>": SUBJECT + " (and If-Match)",
    "GET /api/v1/subjects/<uuid:subject_id>/records": SUBJECT,
    "POST /api/v1/subjects/<uuid:subject_id>/records": SUBJECT,
    "GET /api/v1/subjects/<uuid:subject_id>/consents": "the subject's consent state is what every component must honour before it processes",
    "POST /api/v1/subjects/<uuid:subject_id>/consents": "any component that collects a consent or a withdrawal records it on the shared subject",
    "POST /api/v1/subjects/<uuid:subject_id>/disclosures": SUBJECT + "; the disclosure answers only fields the caller sees in full",
}


class World:
    """Principals A and B (the same service roles), privacy staff, and what A made."""

    def __init__(self, app, runtime):
        from govern.identity import service
        from govern.identity.actor import Actor

        self.app, self.runtime = app, runtime
        roles = sorted(name for name, role in runtime.policy.roles.items() if role.kind == "service")
        self.service_roles = roles
        keys = {}
        with runtime.database.unit_of_work() as session:
            for who, role_list in (("a", roles), ("b", roles), ("staff", ["privacy_staff"])):
                issued = service.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=f"idor-{who}-{uuid.uuid4().hex[:6]}", roles=role_list)
                keys[who] = issued.api_key
        self.keys = keys
        self.subject_id = self.new_subject()

    def new_subject(self) -> str:
        return self.call("a", "POST", "/api/v1/subjects", {"jurisdiction": "CN", "fields": {"name": "张三"}}, ok=201)["id"]

    def call(self, who: str, method: str, url: str, json=None, ok: int | None = None):
        r = self.app.test_client().open(url, method=method, json=json, headers={"Authorization": f"Bearer {self.keys[who]}", "Accept": "application/json"})
        if ok is not None:
            assert r.status_code == ok, (method, url, r.status_code, r.get_data(as_text=True)[:300])
            return r.get_json()
        return r

    def request(self, type_: str = "access", *, verified: bool = False, completed: bool = False) -> str:
        # A subject of its own: no request is the duplicate of another, and an erasure takes nothing from the others.
        rid = self.call("a", "POST", "/api/v1/requests", {"subject_id": self.new_subject(), "type": type_, "channel": "app"}, ok=201)["id"]
        if verified or completed:
            self.call("a", "POST", f"/api/v1/requests/{rid}/verify", {"method": "crm_session", "reference": "sess-idor"}, ok=200)
        if completed:
            self.call("staff", "POST", f"/api/v1/requests/{rid}/complete", {}, ok=200)
        return rid

    def receipt(self) -> str:
        version = self.runtime.policy.notices.for_purpose("marketing").current(utcnow()).version
        body = {"action": "grant", "purpose": "marketing", "channel": "app", "evidence": "form-idor", "notice_version": version}
        return self.call("a", "POST", f"/api/v1/subjects/{self.subject_id}/consents", body, ok=201)["consentReceiptID"]


# Routes a service may call with an id of something a principal owns: how A makes one, and the body B sends.
Builder = Callable[[World], tuple[dict[str, str], dict | None]]
OWNED: dict[str, Builder] = {
    "GET /api/v1/requests/<uuid:request_id>": lambda w: ({"request_id": w.request()}, None),
    "POST /api/v1/requests/<uuid:request_id>/otp": lambda w: ({"request_id": w.request()}, None),
    "POST /api/v1/requests/<uuid:request_id>/verify": lambda w: ({"request_id": w.request()}, {"method": "crm_session", "reference": "sess-b"}),
    "POST /api/v1/requests/<uuid:request_id>/withdraw": lambda w: ({"request_id": w.request()}, None),
    "POST /api/v1/requests/<uuid:request_id>/download-token": lambda w: ({"request_id": w.request(verified=True)}, None),
    "GET /api/v1/requests/<uuid:request_id>/certificate": lambda w: ({"request_id": w.request("erasure", completed=True)}, None),
    "GET /api/v1/receipts/<uuid:receipt_id>": lambda w: ({"receipt_id": w.receipt()}, None),
}


def id_routes(app) -> dict[str, tuple[str, str]]:
    """'METHOD rule' -> (endpoint, rule) for every route whose path takes a uuid or an int."""
    out = {}
    for rule in app.url_map.iter_rules():
        if not any(match.group(1) in ID_CONVERTERS for match in _ARG.finditer(rule.rule)):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out[f"{method} {rule.rule}"] = (rule.endpoint, rule.rule)
    return out


def _fill(rule: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        converter, name = match.group(1) or "default", match.group(2)
        if name in values:
            return str(values[name])
        return "1" if converter == "int" else str(uuid.uuid4()) if converter == "uuid" else "en"

    return _ARG.sub(one, rule)


def _strip(response) -> dict:
    return {k: v for k, v in (response.get_json(silent=True) or {}).items() if k != "instance"}


def test_every_id_route_is_owned_shared_or_role_forbidden_and_the_lists_name_live_routes(app, runtime):
    live = id_routes(app)
    assert live, "no id routes found: the walk is broken"
    assert not (set(OWNED) | set(SHARED)) - set(live), f"listed routes that no longer exist: {sorted((set(OWNED) | set(SHARED)) - set(live))}"
    assert not set(OWNED) & set(SHARED)
    assert all(len(reason) > 20 for reason in SHARED.values())
    service_permissions = {p for role in runtime.policy.roles.values() if role.kind == "service" for p in role.permissions}
    uncovered = []
    for key, (endpoint, _) in sorted(live.items()):
        declared = declared_access(app, endpoint)
        reachable = declared == PUBLIC or declared in service_permissions
        if reachable and key not in OWNED and key not in SHARED:
            uncovered.append(f"{key} ({declared})")
    assert not uncovered, "id routes a service may call that this proof does not cover (add them to OWNED with a builder, or to SHARED with the reason):\n" + "\n".join(uncovered)


def test_another_service_gets_404_for_owned_ids_and_403_where_its_role_is_forbidden(app, runtime):
    w = World(app, runtime)
    service_permissions = {p for role in runtime.policy.roles.values() if role.kind == "service" for p in role.permissions}
    wrong, checked = [], 0
    for key, (endpoint, rule) in sorted(id_routes(app).items()):
        method = key.split(" ", 1)[0]
        declared = declared_access(app, endpoint)
        if key in SHARED:
            continue
        if key in OWNED:
            values, body = OWNED[key](w)
            url = _fill(rule, values)
            theirs = w.call("b", method, url, json=body)
            nothing = w.call("b", method, _fill(rule, {}), json=body)
            if theirs.status_code != 404 or theirs.content_type != "application/problem+json":
                wrong.append(f"{key}: B got {theirs.status_code} for A's id (expected 404 problem+json)")
            elif _strip(theirs) != _strip(nothing):
                wrong.append(f"{key}: B's answer for A's id differs from its answer for an unknown id (an existence oracle)")
            elif any(v in theirs.get_data(as_text=True) for v in values.values()):
                wrong.append(f"{key}: B's 404 names A's id")
            mine = w.call("a", method, url, json=body)
            if not 200 <= mine.status_code < 300:
                wrong.append(f"{key}: A itself got {mine.status_code}: the builder does not make a real object")
        else:
            assert declared not in service_permissions and declared != PUBLIC, key  # else the first test fails
            url = _fill(rule, {})
            theirs = w.call("b", method, url, json={} if method in ("POST", "PATCH", "PUT") else None)
            if theirs.status_code != 403:
                wrong.append(f"{key}: a service principal got {theirs.status_code}, expected 403 (no service role holds {declared})")
        checked += 1
    assert checked >= len(OWNED)
    assert not wrong, f"{len(wrong)} id route(s) answer another principal wrongly:\n" + "\n".join(wrong)
