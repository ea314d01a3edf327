"""Sixteen threads auditing at once while two sealers run: one chain, every event in it exactly once, no gaps."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from govern.audit import chain, integrity
from govern.audit.models import AuditChainEntry, AuditEvent
from govern.audit.tags import SubjectAction


def test_sixteen_threads_auditing_at_once_produce_a_log_that_verifies(runtime, record_events, checkpoint, audit_settings):
    errors: list[BaseException] = []
    stop = threading.Event()

    def client() -> None:
        try:
            record_events(8)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def sealer() -> None:
        try:
            while not stop.is_set():
                chain.seal(database=runtime.database, batch_size=7)
        except BaseException as exc:
            errors.append(exc)

    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    clients = [threading.Thread(target=client) for _ in range(16)]
    for t in sealers + clients:
        t.start()
    for t in clients:
        t.join()
    stop.set()
    for t in sealers:
        t.join()
    assert not errors, errors
    checkpoint()

    with runtime.database.unit_of_work() as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        seqs = list(session.scalars(select(AuditChainEntry.seq).order_by(AuditChainEntry.seq)))
        linked = session.scalar(select(func.count(func.distinct(AuditChainEntry.event_id))))
    assert events == 16 * 8
    assert seqs == list(range(1, events + 1))  # no gap, no fork
    assert linked == events  # each event exactly once
    report = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert report.ok, report.render()


def test_an_event_committed_late_gets_a_later_seq(runtime, record_events):
    from govern.audit import service
    from tests.audit.conftest import ACTOR

    record_events(3)
    with runtime.database.unit_of_work() as session:
        late = service.append(session=session, actor=ACTOR, action=SubjectAction.READ)
        late_id = late.id
    # Simulate a transaction that took its id before others but committed after they were sealed.
    record_events(2)
    with runtime.database.unit_of_work() as session:
        chain.seal_batch(session, batch_size=100, floor=late_id, after=0)  # seals everything above late_id
    chain.seal(database=runtime.database)
    with runtime.database.unit_of_work() as session:
        order = list(session.scalars(select(AuditChainEntry.event_id).order_by(AuditChainEntry.seq)))
    assert order[-1] == late_id and sorted(order) == list(range(1, 7))
