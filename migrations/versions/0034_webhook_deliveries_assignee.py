"""the staff member following a failed webhook delivery up (the console's deliveries: assign to me / to someone)

Revision ID: 0034_webhook_deliveries_assignee
Revises: 0008_webhooks
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0034_webhook_deliveries_assignee'
down_revision = '0008_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Uuid(), nullable=True))
        batch.create_index('ix_webhook_deliveries_assignee', ['assignee_id'])


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_index('ix_webhook_deliveries_assignee')
        batch.drop_column('assignee_id')
