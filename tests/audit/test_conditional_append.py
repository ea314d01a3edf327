"""The audit append takes its condition from its caller: while a unit of work carries one, its next event is written
only if the condition holds in the database (checked by the INSERT itself), and the caller's own refusal is raised
otherwise. Audit knows the SQL, not what it means (a remembered API key is one caller: tests/identity)."""

import pytest
from sqlalchemy import Boolean, Integer, bindparam

from govern.audit import service as audit
from govern.audit.tags import PolicyAction
from govern.identity.actor import Actor

ACTOR = Actor(name="test", kind="system")
LOAD = PolicyAction.LOAD
HOLDS = bindparam("cond_holds", type_=Boolean)


class Refused(Exception):
    pass


def _condition(holds: bool) -> audit.Condition:
    return audit.Condition(clause=HOLDS, params={"cond_holds": holds}, refusal=Refused)


def test_an_event_whose_condition_does_not_hold_is_not_written_and_the_callers_refusal_is_raised(runtime, audit_events):
    with runtime.database.unit_of_work() as session:
        audit.append_only_if(session=session, condition=_condition(False))
        with pytest.raises(Refused):
            audit.append(session=session, actor=ACTOR, action=LOAD)
        assert audit.unmet_condition(session=session) is not None  # still unmet: the request must not answer
    assert audit_events(action=str(LOAD)) == []


def test_the_first_event_written_meets_the_condition_for_the_rest_of_the_unit_of_work(runtime, audit_events):
    with runtime.database.unit_of_work() as session:
        audit.append_only_if(session=session, condition=_condition(True))
        audit.append(session=session, actor=ACTOR, action=LOAD)
        assert audit.unmet_condition(session=session) is None
        audit.append(session=session, actor=ACTOR, action=LOAD)
    assert len(audit_events(action=str(LOAD))) == 2


def test_a_unit_of_work_that_writes_no_event_can_check_its_condition_before_answering(runtime):
    with runtime.database.unit_of_work() as session:
        audit.append_only_if(session=session, condition=_condition(False))
        assert audit.check_condition(session=session) is False
        assert audit.unmet_condition(session=session) is not None
        audit.append_only_if(session=session, condition=_condition(True))
        assert audit.check_condition(session=session) is True
        assert audit.unmet_condition(session=session) is None


def test_another_unit_of_work_is_not_bound_by_the_condition(runtime, audit_events):
    """As the refusal a request records after rolling back its own transaction."""
    with runtime.database.unit_of_work() as session:
        audit.append_only_if(session=session, condition=_condition(False))
        with runtime.database.unit_of_work() as other:
            audit.append(session=other, actor=ACTOR, action=LOAD)
    assert len(audit_events(action=str(LOAD))) == 1


@pytest.mark.parametrize("clause", [
    bindparam("purpose", type_=Boolean),  # one of the event's own columns
    bindparam("cond_n", type_=Integer) == 1,  # a value held in the clause, lost when the statement runs precompiled
])
def test_a_condition_binds_every_value_by_a_name_of_its_own(runtime, clause):
    with runtime.database.unit_of_work() as session:
        audit.append_only_if(session=session, condition=audit.Condition(clause=clause, params={}, refusal=Refused))
        with pytest.raises(ValueError, match="audit condition"):
            audit.append(session=session, actor=ACTOR, action=LOAD)

