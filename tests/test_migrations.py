"""The Alembic migrations and the models describe the same schema, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from govern.migrate import current_revision, head_revision
from govern.tables import metadata


def test_the_database_is_at_the_latest_migration(runtime):
    with runtime.database.engine.connect() as conn:
        assert current_revision(conn) == head_revision()


def test_the_models_need_no_migration_that_does_not_exist(runtime):
    with runtime.database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
