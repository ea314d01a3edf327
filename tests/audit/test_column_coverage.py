"""Every column of an audit event that search, breach scoping or access reviews read is checked against the hashed
canonical event: an insider who edits any one of them is named by verify, with the event's seq."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from govern.audit import columns, integrity
from govern.audit.models import AuditEvent
from govern.timeutil import utcnow

EDITS = {
    "occurred_at": utcnow() - timedelta(days=40),
    "actor_id": uuid.UUID(int=99),
    "actor_name": "someone-else",
    "roles": "auditor",
    "action": "subjects:profile:update",
    "resource": "subjects/other",
    "subject_id": uuid.UUID(int=12345),
    "field_names": "name",
    "purpose": "marketing",
    "outcome": "denied",
    "reason": "forged",
    "request_id": "req-forged",
    "client_addr": "192.0.2.9",
}


def test_every_column_of_the_event_table_is_hashed_or_checked():
    stored = {c.name for c in AuditEvent.__table__.columns}
    assert stored == {"id", *columns.HASHED, *columns.CHECKED}
    assert set(EDITS) == set(columns.CHECKED)


@pytest.fixture
def sealed_log(record_events, checkpoint):
    record_events(5)
    checkpoint()


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edited_column_is_named_with_its_event(column, sealed_log, runtime, audit_settings, tamper, is_postgres):
    value = EDITS[column]
    if not is_postgres and isinstance(value, uuid.UUID):
        value = value.hex  # how SQLAlchemy's Uuid stores a UUID in SQLite
    with tamper() as conn:
        event_id = conn.execute(text("SELECT event_id FROM audit_chain WHERE seq = 3")).scalar_one()
        conn.execute(text(f"UPDATE audit_events SET {column} = :v WHERE id = :i"), {"v": value, "i": event_id})
    report = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert [(f.kind, f.seq, f.event_id) for f in report.findings] == [("column_mismatch", 3, event_id)]
    assert column in report.findings[0].message


def test_a_column_edited_before_sealing_is_named_too(record_events, runtime, audit_settings, tamper):
    record_events(2)
    with tamper() as conn:
        conn.execute(text("UPDATE audit_events SET purpose = 'marketing' WHERE id = (SELECT max(id) FROM audit_events)"))
    report = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert [(f.kind, f.seq) for f in report.findings] == [("column_mismatch", None)]
