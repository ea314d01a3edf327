"""crypto: a key-check value per master-key version, for the blind-index key and for the audit signing key's public
part, so a missing, incomplete or foreign keyring stops govern instead of being replaced; an existing database gets
its values recorded on first start from the keyring present (trust on first use, audited)

Revision ID: 0014_key_checks
Revises: 0001_foundation
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0014_key_checks'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('key_checks',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('check_value', sa.String(length=64), nullable=False),
    sa.Column('recorded_how', sa.String(length=16), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'version', name=op.f('pk_key_checks'))
    )


def downgrade() -> None:
    op.drop_table('key_checks')
