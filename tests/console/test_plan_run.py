"""After a purge plan is approved its page offers the next step (issue 19 item 4): a button to run it for a role that
may (console:retention:run, the DPO's), and for everyone the exact command an operator runs; the run is the command's
own (batches, ledgers, the purge lock) with the signed-in person as its actor in the audit log."""

import re
import uuid

from govern.identity.actor import Actor
from govern.retention import service as retention

ALICE = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))
BOB = Actor(name="bob", kind="staff", roles=("dpo",), principal_id=uuid.UUID(int=2))


def _approved_plan(runtime) -> uuid.UUID:
    with runtime.database.unit_of_work() as session:
        plan_id = retention.make_plan(session=session, policy=runtime.policy, actor=ALICE, save=True).plan.id
    with runtime.database.unit_of_work() as session:
        retention.approve_plan(session=session, policy=runtime.policy, actor=BOB, plan_id=plan_id)
    return plan_id


def test_a_draft_plan_offers_no_run_and_an_approved_one_shows_the_command_to_everyone(runtime, console_as):
    with runtime.database.unit_of_work() as session:
        draft = retention.make_plan(session=session, policy=runtime.policy, actor=ALICE, save=True).plan.id
    dpo = console_as("dpo")
    assert 'id="run-command"' not in dpo.get(f"/console/retention/plans/{draft}").get_data(as_text=True)
    plan_id = _approved_plan(runtime)
    page = dpo.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="run-plan"' in page and f">govern retention purge --plan {plan_id}</code>" in page
    staff = console_as("privacy_staff").get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="run-plan"' not in staff and "您无权在控制台执行清理" in staff and f">govern retention purge --plan {plan_id}</code>" in staff


def test_the_dpo_runs_an_approved_plan_and_the_run_is_theirs_in_the_audit_log(runtime, console_as, audit_events):
    plan_id = _approved_plan(runtime)
    assert console_as("privacy_staff").post(f"/console/retention/plans/{plan_id}/run").status_code == 403
    dpo = console_as("dpo")
    r = dpo.post(f"/console/retention/plans/{plan_id}/run")
    assert r.status_code == 302 and r.headers["Location"].endswith("done=run")
    page = dpo.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="run-status" data-status="completed">#\d+ · 已完成', page) and 'id="run-plan"' not in page
    assert [e.actor_name for e in audit_events(action="retention:run:start")] == [dpo.name]
    # A second press (a reload): the plan's run is complete, nothing is purged twice and no second run starts.
    assert dpo.post(f"/console/retention/plans/{plan_id}/run").status_code == 302
    assert len(audit_events(action="retention:run:start")) == 1
