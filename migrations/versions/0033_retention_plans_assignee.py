"""the staff member working a purge plan (the console's plan queue: assign to me / to someone)

Revision ID: 0033_retention_plans_assignee
Revises: 0005_retention
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0033_retention_plans_assignee'
down_revision = '0005_retention'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('retention_plans') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Uuid(), nullable=True))
        batch.create_index('ix_retention_plans_assignee', ['assignee_id'])


def downgrade() -> None:
    with op.batch_alter_table('retention_plans') as batch:
        batch.drop_index('ix_retention_plans_assignee')
        batch.drop_column('assignee_id')
