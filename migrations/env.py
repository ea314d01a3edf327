"""Alembic environment: runs on the connection govern hands over (see govern/migrate.py)."""

from alembic import context

from govern.db import Base
from govern.migrate import import_all_models

import_all_models()
target_metadata = Base.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `govern db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
