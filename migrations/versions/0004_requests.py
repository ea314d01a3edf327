"""requests: data-subject requests and their timelines (no personal data; no foreign key to subjects, so the request
log outlives an erased subject, CCPA regs §7101)

Revision ID: 0004_requests
Revises: 0001_foundation
Create Date: 2026-11-27 16:06:17.822920
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_requests'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dsr_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('sealed_details', sa.LargeBinary(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledge_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extended', sa.Boolean(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('verification_required', sa.Boolean(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verification_method', sa.String(length=16), nullable=True),
    sa.Column('verified_by', sa.String(length=100), nullable=True),
    sa.Column('verification_ref', sa.String(length=100), nullable=True),
    sa.Column('verification_failures', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('otp_hash', sa.String(length=64), nullable=True),
    sa.Column('otp_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('otp_attempts', sa.Integer(), nullable=False),
    sa.Column('duplicate_of', sa.Uuid(), nullable=True),
    sa.Column('filed_by', sa.String(length=100), nullable=False),
    sa.Column('filed_by_id', sa.Uuid(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refusal_reason', sa.String(length=64), nullable=True),
    sa.Column('legal_basis', sa.String(length=300), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dsr_requests'))
    )
    with op.batch_alter_table('dsr_requests', schema=None) as batch_op:
        batch_op.create_index('ix_dsr_requests_closed', ['closed_at'], unique=False)
        batch_op.create_index('ix_dsr_requests_queue', ['state', 'due_at'], unique=False)
        batch_op.create_index('ix_dsr_requests_subject', ['subject_id', 'type', 'state'], unique=False)

    op.create_table('dsr_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('from_state', sa.String(length=24), nullable=True),
    sa.Column('to_state', sa.String(length=24), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['dsr_requests.id'], name=op.f('fk_dsr_events_request_id_dsr_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dsr_events'))
    )
    with op.batch_alter_table('dsr_events', schema=None) as batch_op:
        batch_op.create_index('ix_dsr_events_request', ['request_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dsr_events', schema=None) as batch_op:
        batch_op.drop_index('ix_dsr_events_request')

    op.drop_table('dsr_events')
    with op.batch_alter_table('dsr_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_dsr_requests_subject')
        batch_op.drop_index('ix_dsr_requests_queue')
        batch_op.drop_index('ix_dsr_requests_closed')

    op.drop_table('dsr_requests')
