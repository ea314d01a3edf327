"""alerts: the states raised now (one row per subject of alert and level: the key that makes a change of state alert
once across hosts) and the notices sent or tried (govern/alerts, issue 18 item 3).

Revision ID: 0024_alerts
Revises: 0001_foundation
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0024_alerts'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_states',
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('subject', 'level', name=op.f('pk_alert_states'))
    )
    op.create_table('alert_notices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notices'))
    )
    op.create_index('ix_alert_notices_state', 'alert_notices', ['state', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alert_notices_state', table_name='alert_notices')
    op.drop_table('alert_notices')
    op.drop_table('alert_states')
