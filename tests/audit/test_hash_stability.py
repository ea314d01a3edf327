"""The hash covers the bytes stored once at write time: stable across key order, Chinese text, large integers and
microsecond timestamps, and unchanged by a round trip through the database."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from govern.audit import chain, service
from govern.audit import verifier as verify
from govern.audit.models import AuditChainEntry, AuditEvent
from govern.audit.tags import AuditTag
from govern.timeutil import as_utc
from tests.audit.conftest import ACTOR


class ChineseAction(AuditTag):
    """A tag of this test's own (no action of govern's is written in Chinese): the bytes must survive all the same."""

    WITHDRAW = "consent:同意:撤回"


def test_key_order_does_not_change_the_canonical_bytes():
    a = {"action": "同意:撤回", "n": 2**70 + 1, "nested": {"b": 1, "a": [3, 2, 1]}, "time": "2026-01-01T00:00:00.000001+00:00"}
    b = {"time": a["time"], "nested": {"a": [3, 2, 1], "b": 1}, "n": a["n"], "action": a["action"]}
    assert service.canonical_bytes(a) == service.canonical_bytes(b)
    assert service.canonical_bytes(a) == '{"action":"同意:撤回","n":1180591620717411303425,"nested":{"a":[3,2,1],"b":1},"time":"2026-01-01T00:00:00.000001+00:00"}'
    assert verify.canonical(a) == service.canonical_bytes(b).encode("utf-8")


def test_chinese_text_and_microseconds_round_trip_through_the_database_byte_for_byte(runtime):
    with runtime.database.unit_of_work() as session:
        event = service.append(
            session=session, actor=ACTOR, action=ChineseAction.WITHDRAW, subject_id=uuid.uuid4(), field_names=["姓名", "手机号"],
            purpose="客户服务", reason="用户要求撤回同意",
        )
        written, event_id, when = event.canonical, event.id, event.occurred_at
    chain.seal(database=runtime.database, full=True)
    with runtime.database.engine.connect() as conn:
        stored = conn.execute(text("SELECT canonical FROM audit_events WHERE id = :i"), {"i": event_id}).scalar_one()
    assert stored == written
    assert "用户要求撤回同意" in stored and "\\u" not in stored
    with runtime.database.unit_of_work() as session:
        row = session.get(AuditEvent, event_id)
        link = session.scalar(select(AuditChainEntry).where(AuditChainEntry.event_id == event_id))
        assert as_utc(row.occurred_at) == when  # microseconds survive
        assert when.isoformat(timespec="microseconds") in stored
        assert link.leaf == verify.leaf_hash(written.encode("utf-8")).hex()
        assert link.hash == verify.chain_hash(bytes.fromhex(link.prev_hash), link.seq, bytes.fromhex(link.leaf)).hex()


def test_large_integers_survive_as_exact_digits(runtime):
    body = service.canonical_bytes({"amount": 12345678901234567890123, "small": -1})
    with runtime.database.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_events (occurred_at, actor_name, roles, action, field_names, outcome, canonical) "
                 "VALUES (CURRENT_TIMESTAMP, 'x', '', 'x:y:z', '', 'allowed', :c)"), {"c": body},
        )
        stored = conn.execute(text("SELECT canonical FROM audit_events")).scalar_one()
    assert stored == body
    assert verify.leaf_hash(stored.encode()) == verify.leaf_hash(body.encode())
