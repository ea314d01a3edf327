"""Concurrent grants and withdrawals of the same subject and purpose: the final state equals the last committed
event, and the derived state always agrees with the events."""

import threading

from sqlalchemy import select

from govern.consent import service
from govern.consent.models import ConsentEvent, ConsentState
from govern.errors import Problem
from govern.identity.actor import Actor


def test_a_grant_withdraw_race_ends_in_the_last_committed_event(runtime, make_subject):
    sid = make_subject()
    rounds, barrier = 6, threading.Barrier(6)
    outcomes: list[str] = []

    def act(action: str) -> None:
        barrier.wait()
        for _ in range(rounds):
            try:
                with runtime.database.unit_of_work() as session:
                    service.record(
                        session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid,
                        action=action, purposes=["marketing"], channel="app", notice_version="2026-06", evidence="race",
                    )
                outcomes.append(action)
            except Problem as exc:
                assert exc.code == "nothing_to_withdraw"

    threads = [threading.Thread(target=act, args=(a,)) for a in ("grant", "withdraw") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with runtime.database.unit_of_work() as session:
        events = session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == sid).order_by(ConsentEvent.seq)).all()
        state = session.get(ConsentState, (sid, "marketing"))
        assert len(events) == len(outcomes) >= rounds * 3  # every grant committed
        last = events[-1]
        assert (state.status, state.last_event_seq) == ("granted" if last.action == "grant" else "withdrawn", last.seq)
        # recorded times follow the sequence: the last in sequence is the last committed
        assert [e.recorded_at for e in events] == sorted(e.recorded_at for e in events)
        # no withdrawal was recorded over nothing
        status = "none"
        for e in events:
            assert not (e.action == "withdraw" and status != "granted")
            status = "granted" if e.action == "grant" else "withdrawn"
        assert service.verify_states(session=session)["mismatches"] == []
