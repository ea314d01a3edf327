"""Alembic, driven from the `govern` command and the readiness check; migrations live in migrations/."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from govern.config import PROJECT_ROOT

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The latest revision(s). Domains may add migrations on branches of their own; heads join with '+'."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    return "+".join(sorted(heads)) or None


def current_revision(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or None


def upgrade(engine: Engine, revision: str = "heads") -> tuple[str | None, str | None]:
    """Upgrades to `revision`; returns (before, after). Safe to run from several hosts at once on PostgreSQL."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One migrator at a time across hosts; the lock ends with the transaction.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7265110001)")
        before = current_revision(conn)
        command.upgrade(alembic_config(conn), revision)
        after = current_revision(conn)
    return before, after


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)

