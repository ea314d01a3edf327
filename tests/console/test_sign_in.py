"""Staff sign-in: Argon2 hashes, session cookies (HttpOnly, SameSite, Secure behind TLS), lockout after repeated
failures (audited), CSRF on every form, sessions that end."""

from datetime import timedelta

from sqlalchemy import select

from govern.identity.models import ConsoleSession, Principal, SignInFailure

from .conftest import PASSWORD, csrf_of, sign_in


def test_the_password_is_kept_only_as_an_argon2id_hash(runtime, make_staff):
    p = make_staff("dpo")
    with runtime.database.unit_of_work() as session:
        stored = session.get(Principal, p.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_short_password_or_a_service_role_is_refused(runtime, make_staff):
    import pytest

    from govern.errors import Problem

    with pytest.raises(Problem) as short:
        make_staff("dpo", password="short")
    assert "password" in short.value.extra["errors"]
    with pytest.raises(Problem) as service_role:
        make_staff("sales_service")
    assert "roles" in service_role.value.extra["errors"]


def test_sign_in_sets_an_httponly_samesite_session_cookie_and_is_audited(app, make_staff, audit_events):
    p = make_staff("dpo")
    r = sign_in(app.test_client(), p.name)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("govern_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console/" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests; see the next test
    [event] = audit_events(action="identity:staff:sign-in")
    assert event.outcome == "allowed" and event.actor_name == p.name


def test_the_session_cookie_is_secure_over_tls(app, make_staff):
    p = make_staff("auditor")
    client = app.test_client()
    page = client.get("/console/sign-in", base_url="https://console.example")
    r = client.post("/console/sign-in", base_url="https://console.example",
                    data={"csrf_token": csrf_of(page.get_data(as_text=True)), "name": p.name, "password": PASSWORD})
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("govern_session="))
    assert "Secure" in cookie


def test_repeated_failures_lock_their_address_out_even_against_the_right_password(app, runtime, make_staff, audit_events):
    p = make_staff("privacy_staff")
    client = app.test_client()
    limit = runtime.policy.console.max_failures
    for _ in range(limit):
        r = sign_in(client, p.name, "wrong password!")
        assert r.status_code == 200 and "govern_session" not in r.headers.get("Set-Cookie", "")
    r = sign_in(client, p.name)  # the right password, while locked
    assert r.status_code == 200 and 'id="sign-in-error"' in r.get_data(as_text=True)
    [lockout] = audit_events(action="identity:staff:lockout")
    assert lockout.actor_name == p.name
    refusals = [e.reason for e in audit_events(action="identity:staff:sign-in")]
    assert refusals[:limit] == [f"bad_password:{i}/{limit}" for i in range(1, limit + 1)] and refusals[-1] == "locked"
    with runtime.database.unit_of_work() as session:
        [address] = session.scalars(select(SignInFailure).where(SignInFailure.principal_id == p.id))
        account_locked_until = session.get(Principal, p.id).locked_until
    # The address that guessed is locked out; the account itself is not (the owner elsewhere still signs in).
    assert address.client_addr == "127.0.0.1" and address.locked_until is not None and account_locked_until is None


def test_a_lockout_ends_after_its_minutes(runtime, make_staff):
    from govern.identity import staff
    from govern.timeutil import utcnow

    p = make_staff("dpo")
    later = utcnow() + timedelta(minutes=runtime.policy.console.lockout_minutes + 1)
    with runtime.database.unit_of_work() as session:
        session.get(Principal, p.id).locked_until = utcnow() + timedelta(minutes=1)
    with runtime.database.unit_of_work() as session:
        assert staff.sign_in(session=session, policy=runtime.policy, name=p.name, password=PASSWORD).reason == "locked"
        assert staff.sign_in(session=session, policy=runtime.policy, name=p.name, password=PASSWORD, now=later).ok


def test_an_unknown_user_name_is_refused_without_recording_what_was_typed(app, audit_events):
    r = sign_in(app.test_client(), "my-password-typed-in-the-wrong-box")
    assert r.status_code == 200 and 'id="sign-in-error"' in r.get_data(as_text=True)
    [event] = audit_events(action="identity:staff:sign-in")
    assert event.actor_name == "anonymous" and event.reason == "unknown_account"
    assert "my-password" not in event.canonical


def test_the_sign_in_form_without_its_token_is_refused(app, make_staff):
    p = make_staff("dpo")
    r = app.test_client().post("/console/sign-in", data={"name": p.name, "password": PASSWORD}, headers={"Accept": "text/html"})
    assert r.status_code == 403


def test_a_console_form_without_the_csrf_token_is_refused_and_audited(console_as, audit_events):
    c = console_as("dpo")
    r = c.post("/console/preferences", {"language": "en"}, csrf=False)
    assert r.status_code == 403 and 'id="error-message"' in r.get_data(as_text=True)
    [event] = audit_events(action="identity:session:csrf-reject")
    assert event.actor_name == c.name and event.outcome == "denied"
    wrong = c.post("/console/preferences", {"language": "en", "csrf_token": "forged"}, csrf=False)
    assert wrong.status_code == 403
    assert c.post("/console/preferences", {"language": "en"}).status_code == 302


def test_signing_out_ends_the_session(console_as, runtime, audit_events):
    c = console_as("auditor")
    assert c.post("/console/sign-out").status_code == 302
    r = c.get("/console/")
    assert r.status_code == 302 and "/console/sign-in" in r.headers["Location"]
    assert len(audit_events(action="identity:staff:sign-out")) == 1


def test_an_idle_session_ends(console_as, runtime):
    from govern.timeutil import utcnow

    c = console_as("dpo")
    with runtime.database.unit_of_work() as session:
        for row in session.scalars(select(ConsoleSession)):
            row.last_seen_at = utcnow() - timedelta(minutes=runtime.policy.console.idle_minutes + 1)
    r = c.get("/console/")
    assert r.status_code == 302 and "ended=1" in r.headers["Location"]


def test_a_disabled_account_loses_its_session_at_once(console_as, runtime):
    from govern.identity import staff
    from govern.identity.actor import Actor

    c = console_as("dpo")
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=c.name)
    assert c.get("/console/").status_code == 302


def test_without_a_browser_a_console_page_answers_problem_json(app):
    r = app.test_client().get("/console/")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
