"""In the documented production setup (README, "Production PostgreSQL") the serving role owns nothing and has DML
only: it cannot disable the audit log's triggers, change or delete its rows, or switch triggers off with
session_replication_role, and govern serves with it. Readiness warns about a role that could."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from govern.audit import chain
from govern.audit.grants import serving_role_risks
from govern.config import Settings

# The statements README's "Production PostgreSQL" section gives, for a role named govern_app.
README_GRANTS = """
GRANT CONNECT ON DATABASE {database} TO govern_app;
GRANT USAGE ON SCHEMA public TO govern_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO govern_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO govern_app;
REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON audit_events, audit_chain, audit_checkpoints, audit_seal_runs, audit_purges FROM govern_app;
GRANT DELETE ON audit_events TO govern_app;
GRANT EXECUTE ON FUNCTION govern_audit_drop_partition(text) TO govern_app;
"""


def test_readme_documents_these_grants():
    from govern.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for line in README_GRANTS.strip().splitlines():
        assert line.replace("{database}", "govern") in readme, line


@pytest.fixture
def serving_role(runtime, is_postgres):
    """A LOGIN role of its own for this test, granted exactly what README says; its URL."""
    if not is_postgres:
        pytest.skip("database roles are PostgreSQL's; SQLite has a file owner only")
    name = f"govern_app_{uuid.uuid4().hex[:8]}"
    url = make_url(runtime.settings.database_url)
    with runtime.database.engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        for statement in README_GRANTS.format(database=url.database).strip().splitlines():
            conn.execute(text(statement.replace("govern_app", name)))
    yield name, url.set(username=name, password=None).render_as_string(hide_password=False)
    with runtime.database.engine.begin() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"))
        conn.execute(text(f"DROP OWNED BY {name}"))
        conn.execute(text(f"DROP ROLE {name}"))


@pytest.mark.parametrize("statement", [
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_chain DISABLE TRIGGER USER",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "SET session_replication_role = replica",
    "UPDATE audit_events SET purpose = 'marketing'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_chain",
    "UPDATE audit_checkpoints SET head_hash = 'x'",
    "DELETE FROM audit_purges",
    "TRUNCATE audit_events",
    "CREATE OR REPLACE FUNCTION govern_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
])
def test_the_serving_role_cannot_touch_the_audit_log(statement, serving_role, record_events, runtime):
    record_events(3)
    chain.seal(database=runtime.database, full=True)
    engine = create_engine(serving_role[1])
    try:
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
    with runtime.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() >= 3


def test_govern_serves_with_the_serving_role_and_readiness_finds_nothing_to_warn_about(serving_role, runtime, make_principal):
    from govern.app import create_app
    from govern.runtime import build_runtime

    _, url = serving_role
    settings = dataclasses.replace(runtime.settings, database_url=url, migration_database_url=runtime.settings.database_url)
    serving = build_runtime(settings)
    app = create_app(runtime=serving)
    try:
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json["checks"]["database_role"] == {"ok": True, "gating": False}
        _, key = make_principal("auditor")
        found = app.test_client().get("/api/v1/audit/events?limit=5", headers={"Authorization": f"Bearer {key}"})
        assert found.status_code == 200  # an audited read: the event is INSERTed as the serving role
    finally:
        serving.database.dispose()
    with runtime.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'audit:event:search'")).scalar_one() == 1


def test_readiness_warns_when_the_serving_role_could_switch_the_triggers_off(runtime, is_postgres):
    risks = serving_role_risks(runtime.database.engine)
    if is_postgres:  # the tests connect as a superuser
        assert risks and "superuser" in risks[0]
    else:
        assert risks == []


def test_the_migration_url_is_read_from_the_environment():
    env = {"GOVERN_HOME": "/tmp/x", "GOVERN_DATABASE_URL": "postgresql+psycopg://govern_app@db/govern",
           "GOVERN_MIGRATION_DATABASE_URL": "postgresql+psycopg://govern_owner@db/govern"}
    settings = Settings.from_env(env)
    assert (settings.database_url, settings.migration_url) == (env["GOVERN_DATABASE_URL"], env["GOVERN_MIGRATION_DATABASE_URL"])
    assert Settings.from_env({"GOVERN_HOME": "/tmp/x"}).migration_url.startswith("sqlite")


def test_readiness_names_a_serving_role_that_owns_an_audit_table(serving_role, runtime):
    name, url = serving_role
    engine = create_engine(url)
    try:
        assert serving_role_risks(engine) == []
        with runtime.database.engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE audit_purges OWNER TO {name}"))
        try:
            assert serving_role_risks(engine) == [f"the serving role owns audit_purges (or acts as its owner {name}): it can disable its triggers"]
        finally:
            with runtime.database.engine.begin() as conn:
                conn.execute(text("ALTER TABLE audit_purges OWNER TO CURRENT_USER"))
    finally:
        engine.dispose()


def test_the_serving_role_keeps_and_archives_partitions_but_cannot_drop_one_itself(serving_role, runtime, record_events, long_ago, audit_settings):
    """The audit_partitions and audit_purge jobs run inside `govern serve`, as the serving role: it creates partitions and
    drops an archived one through the SECURITY DEFINER functions, never by DDL of its own."""
    from govern.audit import archive, checkpoints, partitions
    from govern.audit.policy import AuditPolicy
    from govern.db import Database
    from govern.identity.actor import Actor

    _, url = serving_role
    with long_ago(400) as then:
        with runtime.database.engine.begin() as conn:
            conn.execute(text("SELECT govern_audit_add_partition('month', :at)"), {"at": then})
        record_events(4)
        checkpoints.issue(database=runtime.database, settings=audit_settings)
    record_events(1)
    checkpoints.issue(database=runtime.database, settings=audit_settings)
    serving = Database(url)
    name = f"{partitions.SCHEMA}.audit_events_{partitions.period_start(then, 'month'):%Y%m%d}"
    try:
        ahead = partitions.ensure_ahead(database=serving, period="month", create_ahead=8)
        assert ahead.created and not ahead.default_holds_events
        with pytest.raises(DBAPIError), serving.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {name}"))
        settings = dataclasses.replace(audit_settings, database_url=url, archive_dir=audit_settings.home / f"archive-{uuid.uuid4().hex[:6]}")
        run = archive.run(database=serving, settings=settings, policy=AuditPolicy(retention_days=365, archive=True), actor=Actor.operator())
        assert run.refused is None and [(a.events, a.dropped_partition) for a in run.archived] == [(4, name.split(".")[1])]
    finally:
        serving.dispose()
