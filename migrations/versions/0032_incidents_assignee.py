"""the staff member working an incident (the console's incident queue: assign to me / to someone)

Revision ID: 0032_incidents_assignee
Revises: 0015_keyed_digests
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0032_incidents_assignee'
down_revision = '0015_keyed_digests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Uuid(), nullable=True))
        batch.create_index('ix_incidents_assignee', ['assignee_id'])


def downgrade() -> None:
    with op.batch_alter_table('incidents') as batch:
        batch.drop_index('ix_incidents_assignee')
        batch.drop_column('assignee_id')
