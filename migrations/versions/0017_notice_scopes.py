"""what each notice version announced (notice_scopes), and the scope a consent covers (consent_events.scope,
consent_states.scope): a consent covers what its notice said, nothing more (PIPL Art. 14 ¶2)

Revision ID: 0017_notice_scopes
Revises: 0016_collection_bases
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0017_notice_scopes'
down_revision = '0016_collection_bases'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice_scopes',
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('first_used_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('purpose', 'version', name=op.f('pk_notice_scopes'))
    )
    with op.batch_alter_table('consent_events') as batch:
        batch.add_column(sa.Column('scope', sa.JSON(), nullable=True))
    with op.batch_alter_table('consent_states') as batch:
        batch.add_column(sa.Column('scope', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consent_states') as batch:
        batch.drop_column('scope')
    with op.batch_alter_table('consent_events') as batch:
        batch.drop_column('scope')
    op.drop_table('notice_scopes')
