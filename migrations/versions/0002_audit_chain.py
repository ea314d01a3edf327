"""audit chain: hash-chain links, signed checkpoints, sealer runs, purges; append-only triggers on PostgreSQL

Revision ID: 0002_audit_chain
Revises: 0001_foundation
Create Date: 2026-11-28

On PostgreSQL, triggers refuse UPDATE and DELETE (per row) and TRUNCATE (per statement: TRUNCATE fires no
DELETE trigger) on audit_events, audit_chain and audit_checkpoints. The one exception is the retention purge:
a DELETE on audit_events passes only with `SET LOCAL govern.audit_purge = 'on'`, only for an event already
sealed into the chain, and only if it is older than six months (Cybersecurity Law Art. 21) -- whoever sets the
flag. Test clean-up as a superuser runs with `session_replication_role = replica`, in which these (ordinary,
not ALWAYS) triggers do not fire.

Grants an operator should give the application role (here `govern_app`; the owner runs the migrations):

    REVOKE ALL ON audit_events, audit_chain, audit_checkpoints, audit_seal_runs, audit_purges FROM govern_app;
    GRANT SELECT, INSERT ON audit_events, audit_chain, audit_checkpoints, audit_seal_runs, audit_purges TO govern_app;
    GRANT USAGE ON SEQUENCE audit_events_id_seq, audit_seal_runs_id_seq, audit_purges_id_seq TO govern_app;
    -- only the role that runs `govern audit purge` (retention), still bound by the trigger's rules:
    GRANT DELETE ON audit_events TO govern_purge;

Never grant UPDATE, TRUNCATE, TRIGGER or ownership of these tables to the application role: the owner can drop
the triggers. The signing key and the checkpoint folder are kept away from the database by design.
"""
import sqlalchemy as sa
from alembic import op

revision = '0002_audit_chain'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
APPEND_ONLY = ("audit_events", "audit_chain", "audit_checkpoints")


def upgrade() -> None:
    op.create_table('audit_chain',
    sa.Column('seq', BIGINT_PK, autoincrement=False, nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('leaf', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('sealed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_chain')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_chain_event_id'))
    )
    op.create_table('audit_checkpoints',
    sa.Column('number', BIGINT_PK, autoincrement=False, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('merkle_root', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('frontier', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_seal_runs',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('max_event_id', sa.BigInteger(), nullable=False),
    sa.Column('sealed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_seal_runs'))
    )
    with op.batch_alter_table('audit_seal_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_seal_runs_ran_at'), ['ran_at'], unique=False)
    op.create_table('audit_purges',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('through_seq', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_number', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_purges'))
    )

    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
CREATE FUNCTION govern_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
     AND current_setting('govern.audit_purge', true) = 'on' THEN
    -- nested: OLD exists only in a row trigger
    IF OLD.occurred_at < now() - interval '6 months'
       AND EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = OLD.id) THEN
      RETURN OLD;  -- a retention purge of a sealed event past the legal minimum
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$""")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION govern_audit_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS govern_audit_append_only()")
    op.drop_table('audit_purges')
    with op.batch_alter_table('audit_seal_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_seal_runs_ran_at'))
    op.drop_table('audit_seal_runs')
    op.drop_table('audit_checkpoints')
    op.drop_table('audit_chain')
