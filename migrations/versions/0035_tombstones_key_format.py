"""the destroyed data key's format on a tombstone, so a certificate made after the erasure names its algorithm

Revision ID: 0035_tombstones_key_format
Revises: 0031_suite_migration
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = '0035_tombstones_key_format'
down_revision = '0031_suite_migration'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tombstones') as batch:
        batch.add_column(sa.Column('key_format', sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tombstones') as batch:
        batch.drop_column('key_format')
