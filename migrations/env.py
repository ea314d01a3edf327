"""Alembic environment: runs on the connection govern hands over (see govern/migrate.py)."""

from alembic import context

from govern.tables import metadata as target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `govern db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
