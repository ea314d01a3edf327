"""Crypto-shredding a subject forgets its objections to processing in the same transaction, whichever workflow
shreds it — a purge, the purge ledger's replay, the tombstones' re-application after a restore — and a shredding
that rolls back keeps them with the key. (An erasure request and an account closure:
tests/subject_requests/test_objections.py.)"""

import uuid

import pytest
from sqlalchemy import select, update

from govern.consent import objections
from govern.consent.models import ProcessingObjection
from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.retention import ledger, shredding
from govern.subjects.models import Subject
from govern.timeutil import utcnow
from tests.backups import backup, restore
from tests.retention.conftest import days

OLD = 3 * 365 + 5


class Abort(Exception):
    pass


def _object(runtime, sid: uuid.UUID) -> None:
    with runtime.database.unit_of_work() as session:
        objections.record_objections(session=session, actor=Actor.operator(), subject_id=sid, purposes=["fraud_prevention"], request_id=None)


def _objections(runtime, sid: uuid.UUID) -> list[str]:
    with runtime.database.unit_of_work() as session:
        return list(session.scalars(select(ProcessingObjection.purpose).where(ProcessingObjection.subject_id == sid)))


def _shred(runtime, sid: uuid.UUID, session) -> None:
    shredding.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request",
                    ledger=runtime.ledgers.tombstones)


@pytest.fixture
def dormant(runtime, make_subject, add_records):
    """A subject that objected to fraud checks, with nothing left the law keeps: a purge shreds it."""
    sid = make_subject(jurisdiction="EU", fields={"name": "旧客"})
    add_records(sid, "purchase", [OLD])
    _object(runtime, sid)
    with runtime.database.unit_of_work() as session:
        session.execute(update(Subject).where(Subject.id == sid).values(updated_at=utcnow() - days(OLD)))
    assert _objections(runtime, sid) == ["fraud_prevention"]
    return sid


def test_shredding_a_subject_forgets_its_objections(runtime, make_subject):
    sid, other = make_subject(jurisdiction="EU"), make_subject(jurisdiction="EU")
    _object(runtime, sid)
    _object(runtime, other)
    with runtime.database.unit_of_work() as session:
        _shred(runtime, sid, session)
    assert _objections(runtime, sid) == []
    assert _objections(runtime, other) == ["fraud_prevention"]


def test_a_shredding_that_rolls_back_keeps_the_objections_with_the_key(runtime, make_subject):
    sid = make_subject(jurisdiction="EU")
    _object(runtime, sid)
    with pytest.raises(Abort), runtime.database.unit_of_work() as session:
        _shred(runtime, sid, session)
        raise Abort  # e.g. the request's own checks fail after the shredding
    assert _objections(runtime, sid) == ["fraud_prevention"]
    with runtime.database.unit_of_work() as session:
        assert session.get(SubjectKey, sid) is not None


def test_a_purge_that_shreds_a_subject_forgets_its_objections(runtime, dormant, plan, approve, purge):
    _, plan_id = plan()
    approve(plan_id)
    assert purge(plan_id).counts["subjects"] == 1
    assert _objections(runtime, dormant) == []


def test_the_purge_ledger_replayed_on_a_restored_database_forgets_the_objections_again(runtime, dormant, plan, approve, purge, tmp_path):
    snapshot = backup(runtime, tmp_path / "before-the-purge.backup")
    _, plan_id = plan()
    approve(plan_id)
    purge(plan_id)
    restore(runtime, snapshot)
    assert _objections(runtime, dormant) == ["fraud_prevention"]  # the backup brought them back, with the subject
    replayed = ledger.replay(database=runtime.database, envelope=runtime.envelope, actor=Actor.operator(), purges=runtime.ledgers.purges)
    assert replayed.subjects == 1
    assert _objections(runtime, dormant) == []


def test_the_tombstones_reapplied_on_a_restored_database_forget_the_objections_again(runtime, make_subject, tmp_path):
    sid = make_subject(jurisdiction="EU")
    _object(runtime, sid)
    snapshot = backup(runtime, tmp_path / "before-the-erasure.backup")
    with runtime.database.unit_of_work() as session:
        _shred(runtime, sid, session)
    restore(runtime, snapshot)
    assert _objections(runtime, sid) == ["fraud_prevention"]
    with runtime.database.unit_of_work() as session:
        assert shredding.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=runtime.ledgers.tombstones) == 1
    assert _objections(runtime, sid) == []
