"""Who works a purge plan (issue 19 item 1): a plan is assigned to a staff member who approves and runs plans, or to
nobody; the plan queue filters by assignee (me, nobody, someone) and names a disabled assignee without losing them; a
plan that has run or expired unrun is finished and is no longer (re)assigned. Every assignment is audited."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from govern.errors import Problem
from govern.identity import assignees
from govern.identity.actor import Actor
from govern.retention import service
from govern.retention.models import Plan

from .conftest import days

NOW = datetime.now(timezone.utc)


def _assign(runtime, actor, plan_id, assignee_id, now=None) -> Plan:
    with runtime.database.unit_of_work() as session:
        plan = service.assign_plan(session=session, policy=runtime.policy, actor=actor, plan_id=plan_id, assignee_id=assignee_id, now=now)
        session.expunge(plan)
        return plan


def _queue(runtime, actor, **filters) -> dict[uuid.UUID, service.PlanRow]:
    with runtime.database.unit_of_work() as session:
        rows, _ = service.plan_queue(session=session, policy=runtime.policy, filters=service.PlanFilters(state="all", **filters), actor=actor)
        return {r.plan.id: r for r in rows}


def _assignee(runtime, plan_id):
    with runtime.database.unit_of_work() as session:
        return session.get(Plan, plan_id).assignee_id


def test_a_plan_is_assigned_to_me_or_a_colleague_who_approves_plans_and_the_queue_filters_by_assignee(runtime, plan, person, audit_events):
    _, plan_id = plan()
    (me, me_actor), (colleague, _) = person("dpo"), person("dpo")
    assert _assign(runtime, me_actor, plan_id, me.id).assignee_id == me.id
    mine = _queue(runtime, me_actor, assignee="me")
    assert plan_id in mine and (mine[plan_id].assignee.name, mine[plan_id].assignee.active) == (me.name, True)
    assert plan_id not in _queue(runtime, me_actor, assignee="none")
    assert plan_id not in _queue(runtime, me_actor, assignee=str(colleague.id))
    _assign(runtime, me_actor, plan_id, colleague.id)
    assert plan_id in _queue(runtime, me_actor, assignee=str(colleague.id)) and plan_id not in _queue(runtime, me_actor, assignee="me")
    _assign(runtime, me_actor, plan_id, None)
    assert _assignee(runtime, plan_id) is None and plan_id in _queue(runtime, me_actor, assignee="none")
    events = audit_events(action="retention:plan:assign")
    assert [(e.actor_name, e.resource, e.reason) for e in events] == [
        (me.name, f"retention_plan:{plan_id}", str(me.id)), (me.name, f"retention_plan:{plan_id}", str(colleague.id)),
        (me.name, f"retention_plan:{plan_id}", "unassigned"),
    ]


def test_a_plan_is_not_assigned_to_staff_who_cannot_approve_it_nor_to_a_disabled_account(runtime, plan, person):
    from govern.identity import staff

    _, plan_id = plan()
    (_, dpo), (privacy, _), (auditor, _), (leaver, _) = person("dpo"), person("privacy_staff"), person("auditor"), person("dpo")
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=leaver.name)
    for who in (privacy.id, auditor.id, leaver.id, uuid.uuid4()):
        with pytest.raises(Problem) as refused:
            _assign(runtime, dpo, plan_id, who)
        assert refused.value.status == 400
    assert _assignee(runtime, plan_id) is None
    with runtime.database.unit_of_work() as session:
        offered = {p.id for p in assignees.assignable(session=session, policy=runtime.policy, permission=service.WORKS_THE_PLANS)}
    assert privacy.id not in offered and auditor.id not in offered and leaver.id not in offered and dpo.principal_id in offered


def test_an_assignee_disabled_later_stays_on_the_plan_as_a_former_staff_member(runtime, plan, person):
    from govern.identity import staff

    _, plan_id = plan()
    (leaver, actor) = person("dpo")
    _assign(runtime, actor, plan_id, leaver.id)
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=leaver.name)
    row = _queue(runtime, actor, assignee=str(leaver.id))[plan_id]
    assert (row.assignee.name, row.assignee.active) == (leaver.name, False)


def test_a_plan_that_has_run_or_expired_unrun_is_finished_and_not_reassigned(runtime, plan, approve, purge, person):
    (dpo, actor) = person("dpo")
    _, executed = plan()
    approve(executed)
    assert purge(executed).status == "completed"
    valid = runtime.policy.retention.plan_valid_for
    _, expired = plan(now=valid.cutoff(NOW) - days(1))
    for plan_id, status in ((executed, "executed"), (expired, "expired")):
        with pytest.raises(Problem) as refused:
            _assign(runtime, actor, plan_id, dpo.id)
        assert refused.value.status == 409 and refused.value.code == "plan_finished" and status in refused.value.detail
        assert _assignee(runtime, plan_id) is None


def test_an_expired_plan_whose_run_was_interrupted_still_has_work_and_can_be_assigned(runtime, plan, approve, person):
    """Its run is resumed whatever the plan's age (purge.py), so somebody still works it."""
    from govern.retention.models import Run
    from govern.timeutil import utcnow

    (dpo, actor) = person("dpo")
    valid = runtime.policy.retention.plan_valid_for
    _, plan_id = plan(now=valid.cutoff(NOW) + days(1))
    approve(plan_id)
    with runtime.database.unit_of_work() as session:
        session.add(Run(plan_id=plan_id, mode="plan", status="interrupted", cursor=0, total=0, counts={}, rules=[], started_by="bob",
                        started_at=utcnow(), updated_at=utcnow()))
    later = NOW + days(3)  # past plan_valid_for: the plan reads expired
    with runtime.database.unit_of_work() as session:
        assert service.plan_status(session.get(Plan, plan_id), runtime.policy.retention, later) == "expired"
    assert _assign(runtime, actor, plan_id, dpo.id, now=later).assignee_id == dpo.id


def test_the_queue_refuses_an_assignee_filter_that_is_not_me_none_or_an_id(runtime, person):
    _, actor = person("dpo")
    with pytest.raises(Problem) as refused:
        _queue(runtime, actor, assignee="alice")
    assert refused.value.status == 400
    with runtime.database.unit_of_work() as session, pytest.raises(Problem):  # "me" needs somebody signed in
        service.plan_queue(session=session, policy=runtime.policy, filters=service.PlanFilters(assignee="me"))


def test_the_api_answers_who_works_a_plan(runtime, plan, person, staff_client):
    _, plan_id = plan()
    dpo, actor = person("dpo")
    reader = staff_client("auditor")
    assert reader.get(f"/api/v1/retention/plans/{plan_id}").json["assignee_id"] is None
    _assign(runtime, actor, plan_id, dpo.id)
    assert reader.get(f"/api/v1/retention/plans/{plan_id}").json["assignee_id"] == str(dpo.id)
