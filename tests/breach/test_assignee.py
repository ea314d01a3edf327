"""Who works an incident (issue 19 item 1): board.assign sets or clears the assignee — an active staff member whose
roles may manage incidents — records it on the incident's timeline and in the audit log, and refuses a closed
incident; the queue filters by assignee (mine, nobody's, one person's) and names each row's assignee, a disabled one
as no longer assignable."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from govern.breach import board, service
from govern.breach.models import Incident
from govern.errors import Problem
from govern.identity import assignees, staff
from govern.identity.actor import Actor


def _assignee_id(runtime, incident_id) -> uuid.UUID | None:
    with runtime.database.unit_of_work() as session:
        return session.get(Incident, incident_id).assignee_id


def _queue(runtime, actor: Actor, **filters) -> dict[uuid.UUID, dict]:
    with runtime.database.unit_of_work() as session:
        rows, _ = board.queue(session=session, policy=runtime.policy, filters=board.Filters(state="all", **filters), actor=actor)
        return {r["id"]: r for r in rows}


def test_staff_take_an_incident_hand_it_on_and_clear_it_each_step_on_its_timeline_and_audited(runtime, act, open_incident, person, audit_events):
    incident = open_incident()
    _, soc = person("security", name="soc-zhang")
    colleague, _ = person("dpo", name="dpo-wang")
    act(board.assign, actor=soc, incident_id=incident, assignee_id=soc.principal_id)
    assert _assignee_id(runtime, incident) == soc.principal_id
    act(board.assign, actor=soc, incident_id=incident, assignee_id=colleague.id)
    assert _assignee_id(runtime, incident) == colleague.id
    act(board.assign, actor=soc, incident_id=incident, assignee_id=None)
    assert _assignee_id(runtime, incident) is None
    steps = [e for e in act(service.timeline, incident_id=incident) if e.kind == "assigned"]
    assert [(e.actor_name, e.note, e.data) for e in steps] == [
        ("soc-zhang", "soc-zhang", {"assignee_id": str(soc.principal_id)}),
        ("soc-zhang", "dpo-wang", {"assignee_id": str(colleague.id)}),
        ("soc-zhang", None, {"assignee_id": None}),
    ]
    audited = audit_events(action="breach:incident:assign")
    assert [(e.actor_name, e.resource, e.reason) for e in audited] == [
        ("soc-zhang", f"incident:{incident}", str(soc.principal_id)),
        ("soc-zhang", f"incident:{incident}", str(colleague.id)),
        ("soc-zhang", f"incident:{incident}", "unassigned"),
    ]


def test_an_incident_goes_only_to_an_active_staff_member_who_may_manage_incidents(runtime, act, open_incident, person, make_principal, audit_events):
    incident = open_incident()
    _, soc = person("security", name="soc-li")
    auditor, _ = person("auditor", name="audit-chen")  # reads incidents, may not work them
    leaver, _ = person("security", name="soc-gone")
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=leaver.name)
    crm, _ = make_principal("sales_service")  # a service, not a person
    for who in (auditor.id, leaver.id, crm.id, uuid.uuid4()):
        with pytest.raises(Problem) as refused:
            act(board.assign, actor=soc, incident_id=incident, assignee_id=who)
        assert refused.value.status == 400 and "assignee" in refused.value.extra["errors"]
    assert _assignee_id(runtime, incident) is None  # a refused assignment changes nothing
    assert [e for e in act(service.timeline, incident_id=incident) if e.kind == "assigned"] == []
    assert audit_events(action="breach:incident:assign") == []
    with runtime.database.unit_of_work() as session:
        offered = {p.name for p in assignees.assignable(session=session, policy=runtime.policy, permission=board.WORKS_THE_QUEUE)}
    assert "soc-li" in offered and not offered & {"audit-chen", "soc-gone"}


def test_a_closed_incident_is_nobodys_work_any_more(runtime, act, open_incident, person):
    incident = open_incident()
    _, soc = person("security", name="soc-wu")
    act(board.assign, actor=soc, incident_id=incident, assignee_id=soc.principal_id)
    act(service.assess, actor=soc, incident_id=incident, data={"risk": "unlikely", "notify": "no", "rationale": "false alarm", "people": {"CN": 0}})
    act(service.transition, actor=soc, incident_id=incident, to="assessing")
    act(service.transition, actor=soc, incident_id=incident, to="closed", review={"cause": "none", "lessons": "none", "actions": []})
    for who in (None, soc.principal_id):
        with pytest.raises(Problem) as refused:
            act(board.assign, actor=soc, incident_id=incident, assignee_id=who)
        assert refused.value.status == 409 and refused.value.code == "incident_closed"
    assert _assignee_id(runtime, incident) == soc.principal_id  # kept as it was: who worked it


def test_the_queue_filters_by_mine_nobodys_or_one_persons_and_names_each_assignee(runtime, act, open_incident, person):
    mine, theirs, nobodys = open_incident(title="mine"), open_incident(title="theirs"), open_incident(title="nobody's")
    _, me = person("security", name="soc-me")
    other, _ = person("dpo", name="dpo-other")
    act(board.assign, actor=me, incident_id=mine, assignee_id=me.principal_id)
    act(board.assign, actor=me, incident_id=theirs, assignee_id=other.id)
    ours = {mine, theirs, nobodys}
    assert set(_queue(runtime, me, assignee="me")) & ours == {mine}
    assert set(_queue(runtime, me, assignee="none")) & ours == {nobodys}
    assert set(_queue(runtime, me, assignee=str(other.id))) & ours == {theirs}
    assert set(_queue(runtime, me)) >= ours  # no filter: everyone's
    rows = _queue(runtime, me)
    assert (rows[mine]["assignee"].name, rows[mine]["assignee"].active) == ("soc-me", True)
    assert rows[nobodys]["assignee"] is None
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=other.name)
    assert (_queue(runtime, me)[theirs]["assignee"].name, _queue(runtime, me)[theirs]["assignee"].active) == ("dpo-other", False)
    assert set(_queue(runtime, me, assignee=str(other.id))) & ours == {theirs}  # still found by who worked it
    for bad in ("someone", "12"):
        with pytest.raises(Problem) as refused:
            _queue(runtime, me, assignee=bad)
        assert refused.value.status == 400 and "assignee" in refused.value.extra["errors"]
    with pytest.raises(Problem) as refused:  # "me" means someone signed in
        _queue(runtime, Actor(name="cron", kind="system"), assignee="me")
    assert refused.value.status == 400


def test_two_people_assigning_the_same_incident_at_once_both_succeed_one_after_the_other(runtime, open_incident, person):
    """The second waits for the first (a row lock on PostgreSQL, SQLite's write lock) instead of failing on the
    incident's version: the last assignment stands and both are on the timeline."""
    incident = open_incident()
    _, first = person("security", name="soc-first")
    _, second = person("security", name="soc-second")
    holding, errors = threading.Event(), []

    def assign(actor: Actor, hold: bool) -> None:
        try:
            with runtime.database.unit_of_work() as session:
                board.assign(session=session, policy=runtime.policy, actor=actor, incident_id=incident, assignee_id=actor.principal_id)
                if hold:  # keep the first transaction open while the second one starts
                    holding.set()
                    time.sleep(0.5)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    a = threading.Thread(target=assign, args=(first, True))
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=assign, args=(second, False))
    b.start()
    a.join()
    b.join()
    assert not errors, errors
    assert _assignee_id(runtime, incident) == second.principal_id
    with runtime.database.unit_of_work() as session:
        notes = [e.note for e in service.timeline(session=session, incident_id=incident) if e.kind == "assigned"]
    assert notes == ["soc-first", "soc-second"]
