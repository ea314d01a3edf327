"""the basis each sensitive field was written on (collection_bases), and an EU subject's member state, whose age of
digital consent it follows (subjects.member_state)

Revision ID: 0016_collection_bases
Revises: 0010_consent_adult_evidence
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_collection_bases'
down_revision = '0010_consent_adult_evidence'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subjects') as batch:
        batch.add_column(sa.Column('member_state', sa.String(length=2), nullable=True))
    op.create_table('collection_bases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('law', sa.String(length=16), nullable=False),
    sa.Column('basis', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('receipt_id', sa.Uuid(), nullable=True),
    sa.Column('guardian', sa.Boolean(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_collection_bases_subject_id_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_bases'))
    )
    with op.batch_alter_table('collection_bases') as batch:
        batch.create_index('ix_collection_bases_subject', ['subject_id', 'field', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('collection_bases')
    with op.batch_alter_table('subjects') as batch:
        batch.drop_column('member_state')
