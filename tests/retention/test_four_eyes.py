"""Four eyes means two authenticated people: a retention plan is made and approved by staff principals (the console,
a staff API key, or the CLI with that person's password), told apart by principal id; the OS account and $USER are
never one of the two."""

import uuid

import pytest
from click.testing import CliRunner

from govern.cli import main
from govern.errors import Problem
from govern.identity.actor import Actor
from govern.retention.models import Plan

PASSWORD = "correct horse battery staple"


def _env(runtime, user: str = "alice") -> dict:
    return {
        "GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url,
        "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_LOG_LEVEL": "WARNING", "USER": user, "LOGNAME": user,
    }


@pytest.fixture
def make_staff(runtime):
    """make_staff("dpo", name="wang.li") → the staff Principal (password PASSWORD)."""
    from govern.identity import staff

    def make(*roles: str, name: str):
        with runtime.database.unit_of_work() as session:
            return staff.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=name, roles=list(roles), password=PASSWORD)

    return make


def _actor(principal) -> Actor:
    return Actor(name=principal.name, kind="staff", roles=tuple(principal.roles), principal_id=principal.id)


@pytest.fixture
def staff_plan(runtime, make_staff):
    """A draft plan made by the authenticated staff member `maker` (privacy_staff)."""
    from govern.retention import service

    maker = make_staff("privacy_staff", name="maker.li")
    with runtime.database.unit_of_work() as session:
        plan_id = service.make_plan(session=session, policy=runtime.policy, actor=_actor(maker), save=True).plan.id
    return maker, plan_id


def _status(runtime, plan_id) -> tuple[str, str | None]:
    with runtime.database.unit_of_work() as session:
        plan = session.get(Plan, plan_id)
        return plan.status, plan.approved_by


def _approve_cli(runtime, plan_id, *args, user="alice", stdin=None):
    return CliRunner().invoke(main, ["retention", "approve", str(plan_id), *args], input=stdin, env=_env(runtime, user))


def test_the_same_staff_member_twice_is_refused_whatever_name_they_carry(runtime, staff_plan):
    from govern.retention import service

    maker, plan_id = staff_plan
    renamed = Actor(name="someone.else", kind="staff", roles=("dpo",), principal_id=maker.id)  # same principal, another name
    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=runtime.policy, actor=renamed, plan_id=plan_id)
    assert refused.value.code == "approver_is_creator"
    assert _status(runtime, plan_id) == ("draft", None)


def test_the_same_staff_member_twice_is_refused_through_the_api(staff_client, audit_events):
    dpo = staff_client("dpo")
    own = dpo.post("/api/v1/retention/plans", json={}).json["id"]
    refused = dpo.post(f"/api/v1/retention/plans/{own}/approve")
    assert refused.status_code == 403 and refused.json["code"] == "approver_is_creator"


def test_the_os_account_is_neither_of_the_two_people(runtime, staff_plan):
    from govern.retention import service

    _, plan_id = staff_plan
    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=runtime.policy, actor=Actor.operator(), plan_id=plan_id)
    assert refused.value.code == "staff_identity_required"
    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        service.make_plan(session=session, policy=runtime.policy, actor=Actor.operator(), save=True)
    assert refused.value.code == "staff_identity_required"
    assert _status(runtime, plan_id) == ("draft", None)


def test_a_service_key_holding_a_staff_role_is_not_a_person(runtime, staff_plan, client_as, audit_events):
    _, plan_id = staff_plan
    service_dpo = client_as("dpo")  # a service principal given the dpo role
    refused = service_dpo.post(f"/api/v1/retention/plans/{plan_id}/approve")
    assert refused.status_code == 403 and refused.json["code"] == "staff_identity_required"
    assert _status(runtime, plan_id) == ("draft", None)
    assert [(e.outcome, e.reason) for e in audit_events(action="retention:plan:approve")] == [("denied", "staff_identity_required")]


def test_a_plan_made_without_a_staff_identity_cannot_be_approved(runtime, make_staff, audit_events):
    from govern.retention import service

    with runtime.database.unit_of_work() as session:
        plan = Plan(id=uuid.uuid4(), status="draft", as_of=service.utcnow(), policy_digest=runtime.policy.retention.digest, summary={}, items=0,
                    created_by="cli:alice", created_at=service.utcnow())
        session.add(plan)
    approver = make_staff("dpo", name="approver.wang")
    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=runtime.policy, actor=_actor(approver), plan_id=plan.id)
    assert refused.value.code == "plan_maker_unauthenticated"


def test_the_cli_with_a_changed_user_variable_is_refused(runtime, staff_plan):
    _, plan_id = staff_plan
    for user in ("mallory", "maker.li", "root"):
        refused = _approve_cli(runtime, plan_id, user=user)
        assert refused.exit_code == 2 and "--as NAME" in refused.output
        assert _status(runtime, plan_id) == ("draft", None)
    saved = CliRunner().invoke(main, ["retention", "plan", "--save"], env=_env(runtime, "mallory"))
    assert saved.exit_code == 2 and "authenticated staff member" in saved.output


def test_the_cli_with_a_second_staff_members_password_approves_and_names_both(runtime, staff_plan, make_staff, audit_events):
    maker, plan_id = staff_plan
    approver = make_staff("dpo", name="approver.wang")
    ok = _approve_cli(runtime, plan_id, "--as", "approver.wang", "--password-stdin", user="maker.li", stdin=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert _status(runtime, plan_id) == ("approved", "approver.wang")
    [event] = [e for e in audit_events(action="retention:plan:approve") if e.outcome == "allowed"]
    assert event.actor_id == approver.id and event.reason == f"maker={maker.id}"
    signed_in = [e for e in audit_events(action="identity:staff:sign-in") if e.actor_id == approver.id]
    assert [(e.outcome, e.client_addr) for e in signed_in] == [("allowed", "cli")]


def test_the_cli_maker_cannot_approve_with_their_own_password(runtime, staff_plan):
    _, plan_id = staff_plan
    own = _approve_cli(runtime, plan_id, "--as", "maker.li", "--password-stdin", stdin=PASSWORD + "\n")
    assert own.exit_code == 1 and "lacks the permission retention:plan:approve" in own.output
    assert _status(runtime, plan_id) == ("draft", None)


def test_the_cli_makes_a_plan_as_one_person_and_approves_it_as_another(runtime, make_staff):
    maker = make_staff("dpo", name="dpo.one")
    make_staff("dpo", name="dpo.two")
    made = CliRunner().invoke(main, ["retention", "plan", "--save", "--json", "--as", "dpo.one", "--password-stdin"], input=PASSWORD + "\n", env=_env(runtime))
    assert made.exit_code == 0, made.output
    plan_id = uuid.UUID(made.output[made.output.index("{"):].split('"id": "')[1][:36])
    with runtime.database.unit_of_work() as session:
        assert session.get(Plan, plan_id).created_by_id == maker.id
    own = _approve_cli(runtime, plan_id, "--as", "dpo.one", "--password-stdin", stdin=PASSWORD + "\n")
    assert own.exit_code == 1 and "someone other than" in own.output
    other = _approve_cli(runtime, plan_id, "--as", "dpo.two", "--password-stdin", stdin=PASSWORD + "\n")
    assert other.exit_code == 0, other.output
    assert _status(runtime, plan_id) == ("approved", "dpo.two")


def test_a_wrong_password_is_refused_and_audited(runtime, staff_plan, make_staff, audit_events):
    _, plan_id = staff_plan
    approver = make_staff("dpo", name="approver.wang")
    refused = _approve_cli(runtime, plan_id, "--as", "approver.wang", "--password-stdin", stdin="not the password at all\n")
    assert refused.exit_code == 1 and "staff credential refused" in refused.output
    assert _status(runtime, plan_id) == ("draft", None)
    sign_in = [e for e in audit_events(action="identity:staff:sign-in") if e.actor_id == approver.id]
    assert [e.outcome for e in sign_in] == ["denied"] and sign_in[0].reason.startswith("bad_password")
    assert [(e.outcome, e.reason) for e in audit_events(action="retention:plan:approve")] == [("denied", "credential_refused:bad_credentials")]


def test_a_staff_api_key_approves_but_a_service_key_does_not(runtime, staff_plan, staff_client, client_as, audit_events):
    _, plan_id = staff_plan
    service_key = client_as("dpo").api_key
    refused = _approve_cli(runtime, plan_id, "--staff-key-stdin", stdin=service_key + "\n")
    assert refused.exit_code == 1 and "not_staff" in refused.output
    assert _status(runtime, plan_id) == ("draft", None)
    dpo = staff_client("dpo")
    ok = _approve_cli(runtime, plan_id, "--staff-key-stdin", stdin=dpo.api_key + "\n")
    assert ok.exit_code == 0, ok.output
    assert _status(runtime, plan_id) == ("approved", dpo.name)
