"""The erasure ledgers (govern/ledgers.py): one append for tombstones, partial erasures and purges — fsynced, 0600,
never created by an append — and an erasure's line counts exactly when its transaction commits: a shredding that
rolls back is never re-applied by a restore."""

import json
import uuid

import pytest

from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.ledgers import COMMITTED, ROLLED_BACK, Ledger, LedgerMissing
from govern.retention import shredding
from govern.subjects import erasure


class Abort(Exception):
    pass


def _states(ledger: Ledger, key: str, value: str) -> list[str]:
    entries = ledger.read()
    outcomes = {e["of"]: e["state"] for e in entries if "of" in e}
    return [outcomes.get(e["id"], "pending") for e in entries if e.get(key) == value and "id" in e]


def test_a_staged_entry_is_committed_with_its_transaction_and_rolled_back_with_it(runtime, tmp_path):
    ledger = Ledger("tombstones", tmp_path / "t.jsonl")
    ledger.create_empty()
    with runtime.database.unit_of_work() as session:
        ledger.stage(session, {"subject_id": "kept"})
    with pytest.raises(Abort), runtime.database.unit_of_work() as session:
        ledger.stage(session, {"subject_id": "undone"})
        raise Abort
    with pytest.raises(Abort), runtime.database.unit_of_work() as session:
        with session.begin_nested():  # a savepoint released inside a transaction that then rolls back
            ledger.stage(session, {"subject_id": "undone-in-savepoint"})
        raise Abort
    assert _states(ledger, "subject_id", "kept") == [COMMITTED]
    assert _states(ledger, "subject_id", "undone") == [ROLLED_BACK]
    assert _states(ledger, "subject_id", "undone-in-savepoint") == [ROLLED_BACK]
    assert [e["subject_id"] for e in ledger.to_apply()] == ["kept"]


def test_a_shredding_that_rolls_back_is_not_reapplied(runtime, make_subject):
    sid = make_subject()
    tombstones = runtime.ledgers.tombstones
    with pytest.raises(Abort), runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request", ledger=tombstones)
        raise Abort  # e.g. the request's own checks fail after the shredding: the transaction rolls back
    assert _states(tombstones, "subject_id", str(sid)) == [ROLLED_BACK]
    with runtime.database.unit_of_work() as session:
        assert shredding.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=tombstones) == 0
        assert session.get(SubjectKey, sid) is not None  # the subject the rolled-back erasure named is still there


def test_an_entry_left_pending_is_settled_by_the_database_it_ran_on(runtime, make_subject):
    done, undone = make_subject(), make_subject()
    tombstones = runtime.ledgers.tombstones
    with runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=done, reason="erasure_request")
    # The lines a process killed around its commit leaves: pending, without an outcome.
    for sid in (done, undone):
        tombstones.append({"v": 1, "id": uuid.uuid4().hex, "state": "pending", "subject_id": str(sid), "erased_at": "2026-01-01T00:00:00+00:00",
                           "reason": "erasure_request", "reference": None})
    with runtime.database.unit_of_work() as session:
        settled = erasure.settle_tombstones(session=session, ledger=tombstones)
    assert settled == {COMMITTED: 1, ROLLED_BACK: 1}
    assert _states(tombstones, "subject_id", str(done))[-1] == COMMITTED
    assert _states(tombstones, "subject_id", str(undone)) == [ROLLED_BACK]


def test_a_settling_that_raced_the_commit_does_not_undo_it(tmp_path):
    # `govern tombstones reapply` run while another process erases: it read the database just before the commit.
    ledger = Ledger("tombstones", tmp_path / "t.jsonl")
    ledger.create_empty()
    entry = {"v": 1, "id": "e1", "state": "pending", "subject_id": "s1"}
    ledger.append(entry)
    ledger.settle(entry, COMMITTED)  # the transaction's own outcome ...
    ledger.settle(entry, ROLLED_BACK)  # ... and the settling's, written after it
    assert [e["subject_id"] for e in ledger.to_apply()] == ["s1"] and ledger.unsettled() == []


def test_lines_from_before_the_ledger_had_states_still_count(tmp_path):
    ledger = Ledger("tombstones", tmp_path / "t.jsonl")
    ledger.path.write_text(json.dumps({"subject_id": "old", "erased_at": "2025-01-01T00:00:00+00:00", "reason": "erasure_request"}) + "\n")
    assert [e["subject_id"] for e in ledger.to_apply()] == ["old"]


def test_a_ledger_is_created_0600_and_never_by_an_append(tmp_path):
    ledger = Ledger("purges", tmp_path / "home" / "purges.jsonl")
    with pytest.raises(LedgerMissing, match="restart-ledger --ledger purges"):
        ledger.append({"x": 1})
    assert not ledger.exists()
    assert ledger.create_empty() and not ledger.create_empty()
    assert ledger.path.stat().st_mode & 0o777 == 0o600
