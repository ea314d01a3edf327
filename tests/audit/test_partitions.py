"""On PostgreSQL audit_events is partitioned by time (issue 20): a partition per period (policies/audit.yaml), created
ahead by the audit_partitions job, a default partition so an insert never fails, the same append-only rules on every
partition, and a migration that converts an existing table without copying it or breaking its chain. SQLite keeps the
plain table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from govern.audit import checkpoints, integrity, partitions
from govern.migrate import downgrade, upgrade
from govern.scheduler import registry
from govern.timeutil import utcnow


def _names(runtime) -> list[str]:
    with runtime.database.unit_of_work() as session:
        return [p.name for p in partitions.listing(session)]


def test_postgresql_partitions_by_month_with_a_default_and_sqlite_keeps_one_table(runtime, is_postgres):
    names = _names(runtime)
    if not is_postgres:
        assert names == []
        assert partitions.ensure_ahead(database=runtime.database, period="month", create_ahead=3).created == []
        return
    start = partitions.period_start(utcnow(), "month")
    expected = []
    for _ in range(4):  # this month and the three the migration created ahead
        expected.append(f"audit_events_{start:%Y%m%d}")
        start = partitions.next_start(start, "month")
    assert set(expected) <= set(names) and names[-1] == partitions.DEFAULT


def test_the_job_creates_the_periods_ahead_once(runtime, is_postgres):
    if not is_postgres:
        assert registry.audit_partitions(runtime) == {"created": 0, "partitions": 0, "default_holds_events": 0}
        return
    first = partitions.ensure_ahead(database=runtime.database, period="month", create_ahead=6)
    again = partitions.ensure_ahead(database=runtime.database, period="month", create_ahead=6)
    assert again.created == [] and again.partitions == first.partitions
    last = partitions.period_start(utcnow(), "month")
    for _ in range(6):
        last = partitions.next_start(last, "month")
    assert f"audit_events_{last:%Y%m%d}" in _names(runtime)
    assert registry.audit_partitions(runtime)["created"] == 0


def test_an_event_no_partition_covers_lands_in_the_default_partition(runtime, record_events, long_ago, is_postgres):
    with long_ago(2000) as then:
        record_events(1)  # no partition for a month five years back: the insert must not fail
    if not is_postgres:
        return
    with runtime.database.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {partitions.SCHEMA}.{partitions.DEFAULT}")).scalar_one() == 1
    assert partitions.ensure_ahead(database=runtime.database, period="month", create_ahead=1).default_holds_events
    # A partition for that month can no longer be made; the error says what to do.
    with pytest.raises(DBAPIError, match="create partitions ahead"), runtime.database.engine.begin() as conn:
        conn.execute(text("SELECT govern_audit_add_partition('month', :at)"), {"at": then})


@pytest.mark.parametrize("statement", ["UPDATE {p} SET outcome = 'denied'", "DELETE FROM {p}", "TRUNCATE {p}"])
def test_each_partition_is_append_only_too(statement, runtime, record_events, is_postgres):
    if not is_postgres:
        pytest.skip("partitions and triggers are PostgreSQL's")
    record_events(2)
    part = f"{partitions.SCHEMA}.audit_events_{partitions.period_start(utcnow(), 'month'):%Y%m%d}"
    with runtime.database.engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:p)"), {"p": part}).scalar() is None:
            part = f"{partitions.SCHEMA}.audit_events_legacy"  # a converted database: this month is the legacy partition's
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement.format(p=part)))
        conn.rollback()
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 2


def test_the_migration_converts_an_existing_table_keeping_its_events_and_chain(runtime, record_events, checkpoint, audit_settings, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite keeps the plain table: the migration changes nothing there")
    from tests.conftest import empty_all_tables

    engine = runtime.database.engine
    engine.dispose()
    downgrade(engine, "0012_audit_insider")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass")).scalar() == "r"
        record_events(5)
        checkpoint()
        record_events(2)
        engine.dispose()
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass")).scalar() == "p"
            assert conn.execute(text(f"SELECT count(*) FROM {partitions.SCHEMA}.audit_events_legacy")).scalar_one() == 7
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text("DELETE FROM audit_events"))
        record_events(1)  # new events keep their ids from the same sequence
        checkpoints.issue(database=runtime.database, settings=audit_settings)
        report = integrity.verify_live(database=runtime.database, settings=audit_settings)
        assert report.ok and report.events == 8, report.render()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT array_agg(id ORDER BY id) FROM audit_events")).scalar() == list(range(1, 9))
    finally:
        empty_all_tables(runtime)
        engine.dispose()
        downgrade(engine, "0012_audit_insider")
        upgrade(engine)  # an empty table again: partitions as on a new installation
    assert "audit_events_legacy" not in _names(runtime)


def test_a_partition_period_is_counted_as_postgresql_counts_it():
    when = utcnow().replace(year=2027, month=12, day=31, hour=23)
    assert partitions.period_start(when, "month").isoformat() == "2027-12-01T00:00:00+00:00"
    assert partitions.next_start(partitions.period_start(when, "month"), "month").isoformat() == "2028-01-01T00:00:00+00:00"
    assert partitions.period_start(when, "week").weekday() == 0
    assert partitions.next_start(partitions.period_start(when, "day"), "day") - partitions.period_start(when, "day") == timedelta(days=1)
