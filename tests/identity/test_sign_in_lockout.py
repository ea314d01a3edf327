"""The sign-in lockout is per (account, address) under an account-wide ceiling: knowing a user name lets a guesser lock
out only the address it guesses from; the owner signs in from elsewhere until failures from every address together
reach the ceiling, which locks the account for everyone. Each lockout is audited; `govern staff unlock` clears both."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from govern.identity import staff
from govern.identity.models import ConsoleSession, Principal, SignInFailure
from govern.policy import PolicyError

PASSWORD = "correct horse battery staple"
WRONG = "wrong horse battery staple"
ATTACKER, OWNER = "203.0.113.9", "198.51.100.7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_staff(runtime) -> Principal:
    from govern.identity.actor import Actor

    with runtime.database.unit_of_work() as session:
        return staff.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=f"staff-{uuid.uuid4().hex[:8]}",
                            roles=["dpo"], password=PASSWORD)


def sign_in_from(app, address: str, name: str, password: str):
    client = app.test_client()
    page = client.get("/console/sign-in", headers={"Accept": "text/html"}, environ_base={"REMOTE_ADDR": address})
    token = _CSRF.search(page.get_data(as_text=True)).group(1)
    r = client.post("/console/sign-in", data={"csrf_token": token, "name": name, "password": password}, headers={"Accept": "text/html"},
                    environ_base={"REMOTE_ADDR": address})
    return r, client


def attempt(runtime, policy, name, password, address, now=None):
    with runtime.database.unit_of_work() as session:
        return staff.sign_in(session=session, policy=policy, name=name, password=password, client_addr=address, now=now)


def small(runtime, **console):
    """The shipped policy with a smaller lockout, so that a test needs few Argon2 checks."""
    return replace(runtime.policy, console=replace(runtime.policy.console, **console))


def test_a_guesser_locks_out_only_the_address_it_guesses_from(app, runtime, audit_events):
    p = make_staff(runtime)
    for _ in range(runtime.policy.console.max_failures):
        assert sign_in_from(app, ATTACKER, p.name, WRONG)[0].status_code == 200
    assert sign_in_from(app, ATTACKER, p.name, PASSWORD)[0].status_code == 200  # the right password, from there: refused
    owner, _ = sign_in_from(app, OWNER, p.name, PASSWORD)
    assert owner.status_code == 302
    # The owner's success clears the owner's own count, not the guesser's lockout.
    assert sign_in_from(app, ATTACKER, p.name, PASSWORD)[0].status_code == 200
    [lockout] = audit_events(action="identity:staff:lockout")
    assert lockout.reason.startswith("address:") and lockout.client_addr == ATTACKER
    with runtime.database.unit_of_work() as session:
        rows = {r.client_addr: r for r in session.scalars(select(SignInFailure).where(SignInFailure.principal_id == p.id))}
        assert set(rows) == {ATTACKER} and rows[ATTACKER].locked_until is not None
        assert session.get(Principal, p.id).locked_until is None


def test_failures_from_every_address_lock_the_account_for_everyone_at_the_ceiling(runtime, audit_events):
    policy = small(runtime, max_failures=2, account_max_failures=5)
    p = make_staff(runtime)
    assert attempt(runtime, policy, p.name, PASSWORD, OWNER).ok  # the owner has a session open
    for address, tries in (("203.0.113.1", 2), ("203.0.113.2", 2), ("203.0.113.3", 1)):
        for _ in range(tries):
            assert not attempt(runtime, policy, p.name, WRONG, address).ok
    assert attempt(runtime, policy, p.name, PASSWORD, OWNER).reason == "locked"
    assert attempt(runtime, policy, p.name, PASSWORD, "192.0.2.44").reason == "locked"
    lockouts = [e.reason for e in audit_events(action="identity:staff:lockout")]
    assert sorted(r.split(":")[0] for r in lockouts) == ["account", "address", "address"]
    assert [e.reason for e in audit_events(action="identity:staff:sign-in")][-2:] == ["account_locked", "account_locked"]
    with runtime.database.unit_of_work() as session:
        assert session.get(Principal, p.id).locked_until is not None
        # The account-wide lockout ends the sessions it had (GB/T 22239 8.1.4.1 b)); an address's does not.
        assert all(s.ended_at is not None for s in session.scalars(select(ConsoleSession).where(ConsoleSession.principal_id == p.id)))


def test_an_addresses_lockout_does_not_end_the_owners_session(runtime):
    policy = small(runtime, max_failures=2)
    p = make_staff(runtime)
    assert attempt(runtime, policy, p.name, PASSWORD, OWNER).ok
    for _ in range(2):
        attempt(runtime, policy, p.name, WRONG, ATTACKER)
    with runtime.database.unit_of_work() as session:
        assert all(s.ended_at is None for s in session.scalars(select(ConsoleSession).where(ConsoleSession.principal_id == p.id)))


def test_an_addresses_lockout_runs_out_and_its_count_starts_again(runtime):
    from govern.timeutil import utcnow

    policy = small(runtime, max_failures=2)
    p = make_staff(runtime)
    for _ in range(2):
        attempt(runtime, policy, p.name, WRONG, ATTACKER)
    assert attempt(runtime, policy, p.name, PASSWORD, ATTACKER).reason == "locked"
    later = utcnow() + timedelta(minutes=policy.console.lockout_minutes + 1)
    assert attempt(runtime, policy, p.name, WRONG, ATTACKER, now=later).reason == "bad_credentials"
    with runtime.database.unit_of_work() as session:
        row = session.get(SignInFailure, (p.id, ATTACKER))
        assert row.failures == 1 and row.locked_until is None


def test_an_ipv6_guesser_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4():
    assert staff.address_key("2001:db8:1:2::1") == staff.address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert staff.address_key("2001:db8:1:3::1") != staff.address_key("2001:db8:1:2::1")
    assert staff.address_key("::ffff:203.0.113.9") == staff.address_key("203.0.113.9") == "203.0.113.9"
    assert staff.address_key("cli") == "cli" and staff.address_key(None) == "unknown"


def test_fresh_ipv6_addresses_of_one_64_do_not_buy_fresh_guesses(runtime):
    policy = small(runtime, max_failures=2)
    p = make_staff(runtime)
    attempt(runtime, policy, p.name, WRONG, "2001:db8:1:2::1")
    attempt(runtime, policy, p.name, WRONG, "2001:db8:1:2::2")
    assert attempt(runtime, policy, p.name, PASSWORD, "2001:db8:1:2:aaaa::1").reason == "locked"
    assert attempt(runtime, policy, p.name, PASSWORD, "2001:db8:1:3::1").ok


def test_behind_a_trusted_proxy_the_client_address_is_locked_out_not_the_proxy(runtime):
    from govern.app import create_app

    policy = small(runtime, max_failures=2)
    app = create_app(runtime=replace(runtime, policy=policy, settings=replace(runtime.settings, trusted_proxies=1)))
    p = make_staff(runtime)

    def via_proxy(client_address, password):
        client = app.test_client()
        headers = {"Accept": "text/html", "X-Forwarded-For": client_address}
        page = client.get("/console/sign-in", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"})
        token = _CSRF.search(page.get_data(as_text=True)).group(1)
        return client.post("/console/sign-in", data={"csrf_token": token, "name": p.name, "password": password}, headers=headers,
                           environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code

    assert [via_proxy(ATTACKER, WRONG), via_proxy(ATTACKER, WRONG), via_proxy(ATTACKER, PASSWORD)] == [200, 200, 200]
    assert via_proxy(OWNER, PASSWORD) == 302


def test_the_operator_sees_the_lockout_and_unlocks_it(settings, runtime, audit_events):
    from govern.cli import main

    env = {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir)}
    p = make_staff(runtime)
    for _ in range(runtime.policy.console.max_failures):
        attempt(runtime, runtime.policy, p.name, WRONG, ATTACKER)
    runner = CliRunner()
    listed = runner.invoke(main, ["staff", "list"], env=env)
    assert listed.exit_code == 0 and re.search(rf"{p.name}\s.*locked from 1 address\b", listed.output), listed.output
    assert runner.invoke(main, ["staff", "unlock", p.name], env=env).exit_code == 0
    assert "active" in runner.invoke(main, ["staff", "list"], env=env).output
    assert attempt(runtime, runtime.policy, p.name, PASSWORD, ATTACKER).ok
    assert len(audit_events(action="identity:staff:unlock")) == 1


def test_an_account_ceiling_at_or_below_one_addresses_allowance_is_refused(tmp_path):
    import shutil

    from govern.config import PROJECT_ROOT
    from govern.policies import load_policy

    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    console = target / "console.yaml"
    console.write_text(console.read_text(encoding="utf-8").replace("  account_max_failures: 100\n", "  account_max_failures: 5\n"), encoding="utf-8")
    with pytest.raises(PolicyError, match="account_max_failures: must be above max_failures"):
        load_policy(target)


@pytest.mark.parametrize("old, new, message", [
    ('per_address: "1200 per minute"', 'per_address: "1200 per fortnight"', "not a rate limit"),
    ("  consent_check:\n", "  consent_checks:\n", "limits"),
    ('per_address: "30 per minute; 300 per hour"', "per_address: null", "sign_in and package_redemption need per_address"),
])
def test_a_bad_rate_limit_policy_stops_the_start(tmp_path, old, new, message):
    import shutil

    from govern.config import PROJECT_ROOT
    from govern.policies import load_policy

    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    limits = target / "rate_limits.yaml"
    text = limits.read_text(encoding="utf-8")
    assert old in text
    limits.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as refused:
        load_policy(target)
    assert "rate_limits.yaml" in str(refused.value)


def test_a_locked_refusal_costs_an_argon2_check_like_an_unknown_name(runtime, monkeypatch):
    """Otherwise the quick answer of a locked account would tell a guesser which user names exist."""
    policy = small(runtime, max_failures=1)
    p = make_staff(runtime)
    attempt(runtime, policy, p.name, WRONG, ATTACKER)
    checked = []
    real = staff._hasher_verify
    monkeypatch.setattr(staff, "_hasher_verify", lambda stored, password: checked.append(stored) or real(stored, password))
    assert attempt(runtime, policy, p.name, PASSWORD, ATTACKER).reason == "locked"
    assert attempt(runtime, policy, "nobody-by-this-name", PASSWORD, ATTACKER).reason == "bad_credentials"
    assert len(checked) == 2
