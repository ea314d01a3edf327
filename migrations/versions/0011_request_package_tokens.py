"""requests: one-time download tokens for what a request hands out (the package goes to the data subject, never to
the filing service's API key); only a keyed hash of each token is stored

Revision ID: 0011_request_package_tokens
Revises: 0004_requests
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_request_package_tokens'
down_revision = '0004_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dsr_download_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('artefact', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_to', sa.String(length=100), nullable=False),
    sa.Column('issued_to_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['dsr_requests.id'], name=op.f('fk_dsr_download_tokens_request_id_dsr_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dsr_download_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_dsr_download_tokens_token_hash'))
    )
    with op.batch_alter_table('dsr_download_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_dsr_download_tokens_request', ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dsr_download_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_dsr_download_tokens_request')
    op.drop_table('dsr_download_tokens')
