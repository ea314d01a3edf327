"""retention: legal holds, saved purge plans and their items, purge runs; subjects.closed_at

Revision ID: 0005_retention
Revises: 0001_foundation
Create Date: 2026-11-27

subjects.closed_at is when an account was closed: the closed-account grace period in retention.yaml counts
from it. Added here with a plain ADD COLUMN (no table rebuild on SQLite).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_retention'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('retention_holds',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('record_type', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by', sa.String(length=100), nullable=True),
    sa.Column('lift_reason', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_holds'))
    )
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.create_index('ix_retention_holds_subject', ['subject_id', 'lifted_at'], unique=False)

    op.create_table('retention_plans',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('policy_digest', sa.String(length=64), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('items', sa.BigInteger(), nullable=False),
    sa.Column('unattended', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=True),
    sa.Column('approved_by_id', sa.Uuid(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_plans'))
    )
    with op.batch_alter_table('retention_plans', schema=None) as batch_op:
        batch_op.create_index('ix_retention_plans_created', ['created_at'], unique=False)

    op.create_table('retention_hold_records',
    sa.Column('hold_id', sa.Uuid(), nullable=False),
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['hold_id'], ['retention_holds.id'], name=op.f('fk_retention_hold_records_hold_id_retention_holds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hold_id', 'record_id', name=op.f('pk_retention_hold_records'))
    )
    with op.batch_alter_table('retention_hold_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_hold_records_record_id'), ['record_id'], unique=False)

    op.create_table('retention_plan_items',
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('field_name', sa.String(length=64), nullable=True),
    sa.Column('record_id', sa.Uuid(), nullable=True),
    sa.Column('record_type', sa.String(length=64), nullable=True),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['retention_plans.id'], name=op.f('fk_retention_plan_items_plan_id_retention_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'seq', name=op.f('pk_retention_plan_items'))
    )
    op.create_table('retention_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('started_by', sa.String(length=100), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['retention_plans.id'], name=op.f('fk_retention_runs_plan_id_retention_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs')),
    sa.UniqueConstraint('plan_id', name=op.f('uq_retention_runs_plan_id'))
    )
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.create_index('ix_retention_runs_started', ['started_at'], unique=False)

    op.add_column('subjects', sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_subjects_closed_at'), 'subjects', ['closed_at'], unique=False)



def downgrade() -> None:
    op.drop_index(op.f('ix_subjects_closed_at'), table_name='subjects')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_column('closed_at')

    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_runs_started')

    op.drop_table('retention_runs')
    op.drop_table('retention_plan_items')
    with op.batch_alter_table('retention_hold_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_hold_records_record_id'))

    op.drop_table('retention_hold_records')
    with op.batch_alter_table('retention_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_plans_created')

    op.drop_table('retention_plans')
    with op.batch_alter_table('retention_holds', schema=None) as batch_op:
        batch_op.drop_index('ix_retention_holds_subject')

    op.drop_table('retention_holds')
