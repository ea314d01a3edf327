"""sign-in failures per (staff account, address): the lockout of one address, under the account-wide ceiling

Revision ID: 0013_sign_in_failures
Revises: 0006_console
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_sign_in_failures'
down_revision = '0006_console'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_failures',
    sa.Column('principal_id', sa.Uuid(), nullable=False),
    sa.Column('client_addr', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['principal_id'], ['principals.id'], name=op.f('fk_sign_in_failures_principal_id_principals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('principal_id', 'client_addr', name=op.f('pk_sign_in_failures'))
    )


def downgrade() -> None:
    op.drop_table('sign_in_failures')
