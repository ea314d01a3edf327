"""A lost database connection (a restart, a fail-over, an administrator's pg_terminate_backend) costs the request that
meets it a retryable 503, never a 500 and never an unaudited answer; the pools drop the dead connections, so the next
request is served."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import FIXTURE_BASES


@pytest.fixture
def terminate_connections(runtime, is_postgres):
    """Ends every server connection to the test database but the caller's, as a database restart would."""
    if not is_postgres:
        pytest.skip("terminating server connections is PostgreSQL's (SQLite has none)")

    def terminate() -> None:
        outsider = create_engine(runtime.database.url, poolclass=NullPool)  # not one of the pools' own connections
        with outsider.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))
        outsider.dispose()

    yield terminate
    runtime.database.dispose()  # whatever a case left dead goes; the next test starts on fresh connections


@pytest.mark.parametrize("path", ["/api/v1/subjects/{id}", "/api/v1/subjects/{id}/records"])
def test_a_read_that_meets_a_lost_connection_is_a_503_to_retry_and_the_retry_is_served(
    path, client_as, valid_fields, terminate_connections, audit_events, runtime,
):
    sales = client_as("sales_service")
    created = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields})
    url = path.format(id=created.json["id"])
    assert sales.get(url, purpose="order_fulfilment").status_code == 200
    _fill_the_read_pool(runtime, 3)
    terminate_connections()
    first = sales.get(url, purpose="order_fulfilment")
    assert first.status_code == 503, first.get_data(as_text=True)
    assert first.mimetype == "application/problem+json" and first.json["code"] == "database_unavailable"
    assert int(first.headers["Retry-After"]) > 0
    assert valid_fields["email"] not in first.get_data(as_text=True)
    reads = len(audit_events())
    # The other idle connections were as dead: none of them costs another request.
    assert [sales.get(url, purpose="order_fulfilment").status_code for _ in range(3)] == [200] * 3
    assert len(audit_events()) == reads + 3


def _fill_the_read_pool(runtime, count: int) -> None:
    """Leaves `count` idle connections in the audited reads' pool, as a busy server would have."""
    sessions = [runtime.database.read_session() for _ in range(count)]
    for session in sessions:
        session.connection()
    for session in sessions:
        runtime.database.end(session)


def test_a_write_that_meets_a_lost_connection_changes_nothing_and_can_be_retried(client_as, valid_fields, terminate_connections, runtime):
    sales = client_as("sales_service")
    body = {"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": valid_fields}
    assert sales.post("/api/v1/subjects", json=body).status_code == 201  # the pool now holds a connection
    terminate_connections()
    first = sales.post("/api/v1/subjects", json={**body, "external_ref": "after-the-cut"})
    assert first.status_code == 503, first.get_data(as_text=True)
    assert first.json["code"] == "database_unavailable" and int(first.headers["Retry-After"]) > 0
    with runtime.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM subjects")).scalar_one() == 1
    assert sales.post("/api/v1/subjects", json={**body, "external_ref": "after-the-cut"}).status_code == 201
