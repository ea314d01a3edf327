"""audit insider: audit_purges and audit_seal_runs become append-only too (PostgreSQL triggers)

Revision ID: 0012_audit_insider
Revises: 0002_audit_chain
Create Date: 2026-12-04

Neither table is trusted by `govern audit verify` (a purge must be a signed checkpoint; a seal run only sets how far
back the sealer looks, capped at the newest sealed event), but a serving role that could rewrite them would still
muddy the evidence. The same trigger function as the other audit tables refuses UPDATE, DELETE and TRUNCATE; it binds
every role but the owner (who can disable triggers: the serving role must not own these tables, see README).
"""
from alembic import op

revision = '0012_audit_insider'
down_revision = '0002_audit_chain'
branch_labels = None
depends_on = None

TABLES = ("audit_purges", "audit_seal_runs")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION govern_audit_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
