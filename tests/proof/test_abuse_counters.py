"""Abuse proofs for counters and rate limits (issue 14, item 3): sign-in failures counted atomically under real
concurrency, and the routes that guess or enumerate refused with 429 problem+json and Retry-After once an address or
an account has spent its allowance — counted in Redis, across app instances, when GOVERN_REDIS_URL is set."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select

from govern.identity.models import Principal, SignInFailure

pytestmark = pytest.mark.proof

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REDIS_URL = "redis://127.0.0.1:6379/13"


def app_with(runtime, *, limits: dict[str, tuple[str | None, str | None]] | None = None, console: dict | None = None, **settings):
    """An app of its own over the suite's database, with some figures of the policy (or settings) changed."""
    from govern.app import create_app
    from govern.identity.policy import RateLimitPolicy, ScopeLimits

    policy = runtime.policy
    if limits:
        scopes = dict(policy.rate_limits.scopes)
        for scope, (per_address, per_account) in limits.items():
            scopes[scope] = ScopeLimits(per_address=per_address, per_account=per_account, source="test")
        policy = replace(policy, rate_limits=RateLimitPolicy(scopes=scopes))
    if console:
        policy = replace(policy, console=replace(policy.console, **console))
    app = create_app(runtime=replace(runtime, policy=policy, settings=replace(runtime.settings, **settings)))
    app.config["TESTING"] = True
    return app


def make_staff(runtime, *roles: str) -> Principal:
    from govern.identity import staff
    from govern.identity.actor import Actor

    with runtime.database.unit_of_work() as session:
        return staff.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=f"staff-{uuid.uuid4().hex[:8]}",
                            roles=list(roles or ("dpo",)), password=PASSWORD)


def guess_at_once(app, name: str, attempts: int = 16) -> list[int]:
    """`attempts` wrong passwords for one account, each from its own client, released together by a barrier."""
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []

    def attempt():
        client = app.test_client()
        token = _CSRF.search(client.get("/console/sign-in", headers={"Accept": "text/html"}).get_data(as_text=True)).group(1)
        barrier.wait()
        r = client.post("/console/sign-in", data={"csrf_token": token, "name": name, "password": WRONG}, headers={"Accept": "text/html"})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def counters(runtime, principal_id) -> tuple[int, int]:
    """(failures counted for the address 127.0.0.1, failures counted for the account)."""
    with runtime.database.unit_of_work() as session:
        row = session.scalar(select(SignInFailure).where(SignInFailure.principal_id == principal_id))
        return (row.failures if row else 0), session.get(Principal, principal_id).failed_sign_ins


# --- the sign-in failure counter under real concurrency ------------------------------------------------------------


def test_sixteen_concurrent_wrong_passwords_are_each_counted_once(runtime, audit_events):
    # The address's allowance above 16, so that every one of the 16 guesses is checked and counted.
    app = app_with(runtime, console={"max_failures": 20})
    p = make_staff(runtime)
    assert guess_at_once(app, p.name) == [200] * 16
    assert counters(runtime, p.id) == (16, 16)
    reasons = sorted(e.reason for e in audit_events(action="identity:staff:sign-in"))
    # Each guess read its own count: none was lost to another's read-modify-write.
    assert reasons == sorted(f"bad_password:{i}/20" for i in range(1, 17))


def test_sixteen_concurrent_guesses_check_no_more_passwords_than_the_lockout_allows(runtime, audit_events):
    from govern.identity import staff

    app = app_with(runtime)  # the shipped policy: 5 failures from one address lock it out
    allowed = runtime.policy.console.max_failures
    p = make_staff(runtime)
    assert guess_at_once(app, p.name) == [200] * 16
    reasons = [e.reason for e in audit_events(action="identity:staff:sign-in")]
    assert sorted(r for r in reasons if r.startswith("bad_password")) == [f"bad_password:{i}/{allowed}" for i in range(1, allowed + 1)]
    assert reasons.count("locked") == 16 - allowed
    [lockout] = audit_events(action="identity:staff:lockout")
    assert lockout.reason.startswith("address:") and lockout.actor_name == p.name
    assert counters(runtime, p.id) == (allowed, allowed)
    with runtime.database.unit_of_work() as session:
        # The right password from that address is refused now.
        assert staff.sign_in(session=session, policy=runtime.policy, name=p.name, password=PASSWORD, client_addr="127.0.0.1").reason == "locked"


# --- rate limits: 429 problem+json with Retry-After on every route that guesses or enumerates ----------------------


def _lookup(client, subject_email):
    return client.post("/api/v1/subjects/lookup", json={"field": "email", "value": subject_email}, purpose="order_fulfilment")


ROUTES = {
    # scope: (role of the caller or None for anonymous, a call)
    "lookup": ("sales_service", lambda c, ctx: _lookup(c, ctx["email"])),
    "consent_check": ("marketing_service", lambda c, ctx: c.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(ctx["sid"])]})),
    "request_filing": ("sales_service", lambda c, ctx: c.post("/api/v1/requests", json={"subject_id": str(ctx["sid"]), "type": "access", "channel": "web"})),
    "package_redemption": (None, lambda c, ctx: c.post("/api/v1/requests/download", json={"token": "t" * 43})),
    "sign_in": (None, lambda c, ctx: c.post("/console/sign-in", data={"name": ctx["staff"], "password": WRONG}, headers={"Accept": "application/json"})),
}


@pytest.mark.parametrize("scope", sorted(ROUTES))
def test_a_spent_allowance_answers_429_problem_json_with_retry_after_and_is_audited(scope, runtime, make_principal, make_subject, valid_fields, audit_events):
    from tests.conftest import ApiClient

    app = app_with(runtime, limits={scope: ("2 per minute", None)})
    sid = make_subject(dict(valid_fields))
    ctx = {"sid": sid, "email": valid_fields["email"], "staff": make_staff(runtime).name}
    role, call = ROUTES[scope]
    if role is None:
        client = app.test_client()
    else:
        principal, key = make_principal(role)
        client = ApiClient(app.test_client(), key, principal.id, principal.name)
    first = [call(client, ctx).status_code for _ in range(2)]
    assert 429 not in first
    refused = call(client, ctx)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    body = refused.get_json()
    assert body["type"].endswith("/rate_limited") and body["scope"] == scope and body["counted"] == "per_address"
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 60 and body["retry_after"] == retry
    [event] = audit_events(action="identity:rate-limit:refuse")
    assert event.reason == f"rate_limited:{scope}:per_address" and event.outcome == "denied"
    # Nothing of what was sent is kept: not the e-mail looked up, not the user name typed in.
    assert valid_fields["email"] not in event.canonical and ctx["staff"] not in event.canonical


def test_the_console_sign_in_page_says_429_with_retry_after(runtime, audit_events):
    app = app_with(runtime, limits={"sign_in": ("1 per minute", None)})
    client = app.test_client()
    client.post("/console/sign-in", data={"name": "x", "password": WRONG}, headers={"Accept": "text/html"})
    r = client.post("/console/sign-in", data={"name": "x", "password": WRONG}, headers={"Accept": "text/html"})
    assert r.status_code == 429 and r.mimetype == "text/html" and int(r.headers["Retry-After"]) >= 1
    assert 'id="error-message"' in r.get_data(as_text=True) and f"{r.headers['Retry-After']} 秒后重试" in r.get_data(as_text=True)
    assert len(audit_events(action="identity:rate-limit:refuse")) == 1


def test_an_account_is_counted_across_addresses_and_an_address_across_accounts(runtime, make_principal, make_subject, valid_fields):
    from tests.conftest import ApiClient

    app = app_with(runtime, limits={"lookup": ("3 per minute", "2 per minute")})
    make_subject(dict(valid_fields))
    principal, key = make_principal("sales_service")
    one = ApiClient(app.test_client(), key, principal.id, principal.name)
    addresses = iter(f"198.51.100.{i}" for i in range(1, 10))
    # One key from three addresses: the account's allowance (2) is what runs out.
    statuses = [one.post("/api/v1/subjects/lookup", json={"field": "email", "value": valid_fields["email"]}, purpose="order_fulfilment",
                         environ_base={"REMOTE_ADDR": next(addresses)}) for _ in range(3)]
    assert [r.status_code for r in statuses][:2] == [200, 200] and statuses[2].status_code == 429
    assert statuses[2].get_json()["counted"] == "per_account"
    # Three keys from one address: the address's allowance (3) is what runs out.
    keys = [make_principal("sales_service") for _ in range(4)]
    answers = [ApiClient(app.test_client(), k, p.id, p.name).post(
        "/api/v1/subjects/lookup", json={"field": "email", "value": valid_fields["email"]}, purpose="order_fulfilment",
        environ_base={"REMOTE_ADDR": "203.0.113.5"}) for p, k in keys]
    assert [r.status_code for r in answers] == [200, 200, 200, 429] and answers[3].get_json()["counted"] == "per_address"


def test_a_user_name_is_counted_whatever_the_address(runtime):
    app = app_with(runtime, limits={"sign_in": ("100 per minute", "2 per minute")})
    client = app.test_client()

    def attempt(name, addr):
        return client.post("/console/sign-in", data={"name": name, "password": WRONG}, headers={"Accept": "application/json"},
                           environ_base={"REMOTE_ADDR": addr}).status_code

    assert [attempt("Wang.Li", "198.51.100.1"), attempt("wang.li ", "198.51.100.2")] == [403, 403]  # no form token: refused, counted
    assert attempt("wang.li", "198.51.100.3") == 429
    assert attempt("chen.jing", "198.51.100.3") == 403  # another name still has its allowance


def test_behind_trusted_proxies_the_forwarded_address_is_counted_and_otherwise_ignored(runtime):
    def attempt(app, forwarded):
        return app.test_client().post("/api/v1/requests/download", json={"token": "t" * 43}, headers={"X-Forwarded-For": forwarded},
                                      environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code

    proxied = app_with(runtime, limits={"package_redemption": ("1 per minute", None)}, trusted_proxies=1)
    assert [attempt(proxied, "198.51.100.1"), attempt(proxied, "198.51.100.2"), attempt(proxied, "198.51.100.1")] == [404, 404, 429]
    # Without a trusted proxy a client cannot pick a fresh address by sending the header.
    direct = app_with(runtime, limits={"package_redemption": ("1 per minute", None)})
    assert [attempt(direct, "198.51.100.1"), attempt(direct, "198.51.100.2")] == [404, 429]


def test_every_public_route_that_takes_a_post_is_rate_limited(app):
    """A route anyone may call without a credential and that does something is where guessing happens."""
    from govern.identity.guard import PUBLIC, declared_access
    from govern.ratelimit import RATE_SCOPE_ATTR

    unlimited = [
        rule.rule for rule in app.url_map.iter_rules()
        if rule.methods & {"POST", "PUT", "PATCH", "DELETE"} and declared_access(app, rule.endpoint) == PUBLIC
        and getattr(app.view_functions[rule.endpoint], RATE_SCOPE_ATTR, None) is None
    ]
    assert unlimited == []


def test_the_look_up_routes_are_rate_limited(app):
    from govern.ratelimit import RATE_SCOPE_ATTR

    scopes = {endpoint: getattr(view, RATE_SCOPE_ATTR, None) for endpoint, view in app.view_functions.items()}
    assert {e: s for e, s in scopes.items() if s} == {
        "console.sign_in_submit": "sign_in", "console.subject_lookup_submit": "lookup", "subjects.lookup_subject": "lookup",
        "consent.check_consents": "consent_check", "requests.file_request": "request_filing", "requests.redeem_download": "package_redemption",
    }


def test_the_openapi_document_lists_the_429_of_each_rate_limited_route(app):
    from govern.ratelimit import RATE_SCOPE_ATTR

    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    limited = [(rule.rule, sorted(rule.methods & {"POST", "GET"})) for rule in app.url_map.iter_rules()
               if rule.rule.startswith("/api/") and getattr(app.view_functions[rule.endpoint], RATE_SCOPE_ATTR, None)]
    assert len(limited) == 4
    for rule, methods in limited:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        for method in methods:
            assert "429" in spec["paths"][path][method.lower()]["responses"], (rule, method)


# --- shared counters: Redis when GOVERN_REDIS_URL is set -----------------------------------------------------------


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_govern_redis_url_is_read_from_the_environment():
    from govern.config import Settings

    assert Settings.from_env({"GOVERN_REDIS_URL": REDIS_URL}).redis_url == REDIS_URL
    assert Settings.from_env({}).redis_url is None


def test_two_app_instances_share_one_count_in_redis(runtime, redis_db):
    limits = {"package_redemption": ("2 per minute", None)}
    first, second = app_with(runtime, limits=limits, redis_url=REDIS_URL), app_with(runtime, limits=limits, redis_url=REDIS_URL)

    def attempt(app):
        return app.test_client().post("/api/v1/requests/download", json={"token": "t" * 43}, environ_base={"REMOTE_ADDR": "198.51.100.9"})

    assert [attempt(first).status_code, attempt(second).status_code] == [404, 404]
    refused = attempt(first)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert attempt(second).status_code == 429
    keys = [k.decode() for k in redis_db.keys("*")]
    assert keys and all("govern" in k for k in keys)
    # The key names the scope and the address, never anything that was sent.
    assert any("package_redemption:per_address" in k and "198.51.100.9" in k for k in keys)
    # An app counting in its own memory does not see the others' count.
    assert attempt(app_with(runtime, limits=limits)).status_code == 404


def test_readiness_names_where_the_counts_are_kept_and_warns_when_redis_does_not_answer(runtime):
    from govern.health.service import readiness
    from govern.ratelimit import storage_check

    assert readiness(runtime)["rate_limits"] == {"ok": True, "gating": False, "storage": "memory"}
    assert storage_check(replace(runtime.settings, redis_url=REDIS_URL))["ok"]
    down = storage_check(replace(runtime.settings, redis_url="redis://127.0.0.1:1/0"))
    assert down["ok"] is False and down["gating"] is False and "memory" in down["warning"]


def test_while_redis_does_not_answer_each_process_still_counts(runtime):
    app = app_with(runtime, limits={"package_redemption": ("1 per minute", None)}, redis_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    assert [client.post("/api/v1/requests/download", json={"token": "t" * 43}).status_code for _ in range(2)] == [404, 429]
