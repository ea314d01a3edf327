"""sharing: propagation steps — a recipient that received a subject's data and has no webhook for a request's event
gets a manual task with a due date, or a recorded reason why telling it is impossible or disproportionate (GDPR Art. 19)

Revision ID: 0020_propagation_steps
Revises: 0003_consent
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0020_propagation_steps'
down_revision = '0003_consent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('propagation_steps',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=1000), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'], name=op.f('fk_propagation_steps_recipient_id_recipients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_propagation_steps')),
    sa.UniqueConstraint('request_id', 'recipient_id', name='uq_propagation_steps_request_recipient')
    )
    with op.batch_alter_table('propagation_steps', schema=None) as batch_op:
        batch_op.create_index('ix_propagation_steps_open', ['method', 'done_at', 'due_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('propagation_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_propagation_steps_open')
    op.drop_table('propagation_steps')
