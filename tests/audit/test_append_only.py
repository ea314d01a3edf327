"""The audit tables are append-only on PostgreSQL (triggers, checked as a non-owner application role with the
documented grants), and the log stays fail-closed: no event durable, no data returned."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from govern.audit import chain
from govern.audit.tags import SubjectAction
from tests.conftest import FIXTURE_BASES

TABLES = ("audit_events", "audit_chain", "audit_checkpoints", "audit_seal_runs", "audit_purges")


@pytest.fixture
def app_role(runtime, is_postgres):
    """A non-owner role with the grants the migration documents, plus UPDATE/DELETE/TRUNCATE as a careless
    operator might grant: the triggers must refuse those anyway. Roles are cluster-wide: each test gets one of its own
    name, so runs on two databases of one cluster at once never share (or drop) each other's role."""
    if not is_postgres:
        pytest.skip("append-only triggers and grants are PostgreSQL's")
    role = f"govern_audit_test_app_{uuid.uuid4().hex[:12]}"
    with runtime.database.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    try:
        with runtime.database.engine.begin() as conn:
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
            conn.execute(text(f"GRANT SELECT, INSERT ON {', '.join(TABLES)} TO {role}"))
            conn.execute(text(f"GRANT USAGE ON SEQUENCE audit_events_id_seq TO {role}"))
            conn.execute(text(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain, audit_checkpoints TO {role}"))
        yield role
    finally:
        with runtime.database.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


@pytest.fixture
def sealed_events(record_events, runtime):
    record_events(3)
    chain.seal(database=runtime.database, full=True)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET outcome = 'denied'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_chain SET hash = prev_hash",
    "DELETE FROM audit_chain",
    "TRUNCATE audit_chain CASCADE",
])
def test_the_application_role_cannot_change_or_remove_audit_rows(app_role, sealed_events, runtime, statement):
    with runtime.database.engine.connect() as conn:
        before = _rows(conn)
        conn.execute(text(f"SET ROLE {app_role}"))
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))
        conn.rollback()
        assert _rows(conn) == before and len(before[0]) >= 3


def _rows(conn) -> tuple[list, list]:
    """Every audit event and chain link as stored: what a refused statement must leave exactly as it was."""
    events = conn.execute(text("SELECT * FROM audit_events ORDER BY id")).all()
    links = conn.execute(text("SELECT * FROM audit_chain ORDER BY 1")).all()
    return events, links


def test_the_application_role_can_still_append_and_seal(app_role, runtime):
    from govern.audit import service
    from tests.audit.conftest import ACTOR

    with runtime.database.engine.connect() as conn:
        conn.execute(text(f"SET ROLE {app_role}"))
        from sqlalchemy.orm import Session

        session = Session(bind=conn)
        service.append(session=session, actor=ACTOR, action=SubjectAction.READ)
        chain.seal_batch(session, batch_size=10, floor=0, after=0)
        session.commit()
        assert conn.execute(text("SELECT count(*) FROM audit_chain")).scalar_one() == 1


def test_the_owner_is_refused_too(sealed_events, runtime, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL triggers")
    with runtime.database.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit_events"))


def test_a_purge_flag_does_not_open_recent_events(sealed_events, runtime, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL triggers")
    with runtime.database.engine.connect() as conn:
        conn.execute(text("SET govern.audit_purge = 'on'"))
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit_events"))


def test_a_read_fails_closed_when_its_audit_event_cannot_be_stored(client_as, valid_fields, runtime, is_postgres, audit_events):
    sales = client_as("sales_service")
    created = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields})
    assert created.status_code == 201
    before = len(audit_events())
    with runtime.database.engine.begin() as conn:
        if is_postgres:
            conn.execute(text("CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"))
            conn.execute(text("CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()"))
        else:
            conn.execute(text("CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    try:
        read = sales.get(f"/api/v1/subjects/{created.json['id']}", purpose="order_fulfilment")
    finally:
        with runtime.database.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER test_refuse_audit" + (" ON audit_events" if is_postgres else "")))
            if is_postgres:
                conn.execute(text("DROP FUNCTION test_refuse_audit()"))
    assert read.status_code == 503
    assert read.mimetype == "application/problem+json" and read.json["code"] == "audit_unavailable"
    body = read.get_data(as_text=True)
    for value in valid_fields.values():
        assert value not in body
    assert len(audit_events()) == before


def test_an_unauthenticated_caller_cannot_search(app):
    assert app.test_client().get("/api/v1/audit/events").status_code == 401
