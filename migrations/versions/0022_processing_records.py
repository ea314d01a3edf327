"""processing: versions of the records of processing and of impact assessments, kept as they took effect (PIPL Art.
56, GDPR Art. 30), and the handler's duties done (PIPL Art. 52, 54; company data-security policy). Both append-only:
on PostgreSQL a trigger refuses UPDATE and DELETE.

Revision ID: 0022_processing_records
Revises: 0001_foundation
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0022_processing_records'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("processing_record_versions", "compliance_duty_events")
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION govern_processing_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (records of processing are kept, PIPL Art. 56)', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table('processing_record_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('policy_digest', sa.String(length=64), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_processing_record_versions')),
    sa.UniqueConstraint('kind', 'key', 'version', name='uq_processing_record_versions_kind_key_version')
    )
    with op.batch_alter_table('processing_record_versions', schema=None) as batch_op:
        batch_op.create_index('ix_processing_record_versions_effective', ['kind', 'key', 'effective_at'], unique=False)

    op.create_table('compliance_duty_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('duty', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('subjects', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_duty_events'))
    )
    with op.batch_alter_table('compliance_duty_events', schema=None) as batch_op:
        batch_op.create_index('ix_compliance_duty_events_duty', ['duty', 'kind', 'occurred_on'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION govern_processing_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS govern_processing_append_only()")
    with op.batch_alter_table('compliance_duty_events', schema=None) as batch_op:
        batch_op.drop_index('ix_compliance_duty_events_duty')
    op.drop_table('compliance_duty_events')
    with op.batch_alter_table('processing_record_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_processing_record_versions_effective')
    op.drop_table('processing_record_versions')
