"""objections to legitimate-interest processing; indexes that let an erasure reach unreadability in O(1)

Revision ID: 0009_objections
Revises: 0001_foundation
Create Date: 2026-11-28

processing_objections: a subject's objection (GDPR Art. 21(1)) to a legitimate-interest purpose, checked on every read
for such a purpose, lifted only by staff with their grounds. ix_records_subject_type lets an erasure decide what it
must keep with one index probe per record type; ix_subjects_erased (partial) finds the shredded subjects whose records
`govern requests sweep-erasures` has still to delete.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_objections'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('processing_objections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_reason', sa.String(length=1000), nullable=True),
    sa.Column('lifted_by', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_processing_objections'))
    )
    with op.batch_alter_table('processing_objections', schema=None) as batch_op:
        batch_op.create_index('ix_processing_objections_subject', ['subject_id', 'purpose', 'lifted_at'], unique=False)
    # Plain CREATE INDEX (no batch mode): SQLite must not rebuild these tables.
    op.create_index('ix_records_subject_type', 'records', ['subject_id', 'type', 'occurred_at'], unique=False)
    op.create_index('ix_subjects_erased', 'subjects', ['id'], unique=False,
                    postgresql_where=sa.text("status = 'erased'"), sqlite_where=sa.text("status = 'erased'"))


def downgrade() -> None:
    op.drop_index('ix_subjects_erased', table_name='subjects')
    op.drop_index('ix_records_subject_type', table_name='records')
    with op.batch_alter_table('processing_objections', schema=None) as batch_op:
        batch_op.drop_index('ix_processing_objections_subject')
    op.drop_table('processing_objections')
