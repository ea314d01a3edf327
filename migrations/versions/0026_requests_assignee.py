"""the staff member working a data-subject request (the console's queue: assign to me / to someone)

Revision ID: 0026_requests_assignee
Revises: 0019_requests_deceased
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0026_requests_assignee'
down_revision = '0019_requests_deceased'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dsr_requests') as batch:
        batch.add_column(sa.Column('assignee_id', sa.Uuid(), nullable=True))
        batch.create_index('ix_dsr_requests_assignee', ['assignee_id'])


def downgrade() -> None:
    with op.batch_alter_table('dsr_requests') as batch:
        batch.drop_index('ix_dsr_requests_assignee')
        batch.drop_column('assignee_id')
