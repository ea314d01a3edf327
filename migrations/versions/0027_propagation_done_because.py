"""sharing: why a manual notice task's done time was entered afterwards (the recipient was told by letter last week,
marked done today): the time is the real one, the reason kept next to who entered it (issue 16 item 6)

Revision ID: 0027_propagation_done_because
Revises: 0020_propagation_steps
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0027_propagation_done_because'
down_revision = '0020_propagation_steps'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('propagation_steps') as batch:
        batch.add_column(sa.Column('done_because', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('propagation_steps') as batch:
        batch.drop_column('done_because')
