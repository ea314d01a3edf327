"""breach: incidents, their timeline and assessments, frozen affected-subject snapshots (no foreign key to subjects:
the record of a breach outlives an erasure), notifications with their due times, and letters (a subject's sealed)

Revision ID: 0007_breach
Revises: 0001_foundation
Create Date: 2026-11-27 16:28:32.708575
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_breach'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('critical_infrastructure', sa.Boolean(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('aware_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('occurred_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('occurred_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_by', sa.String(length=200), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('assessing_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('contained_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notifying_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review', sa.JSON(), nullable=True),
    sa.Column('report_zh', sa.Text(), nullable=True),
    sa.Column('report_en', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('reference', name=op.f('uq_incidents_reference'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_state', ['state', 'drill'], unique=False)

    op.create_table('affected_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('subjects', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_affected_snapshots_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_affected_snapshots')),
    sa.UniqueConstraint('incident_id', 'version', name='uq_affected_snapshots_version')
    )
    op.create_table('breach_notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('recipient', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provisional', sa.Boolean(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('sent_reference', sa.String(length=200), nullable=True),
    sa.Column('late_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_breach_notifications_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breach_notifications')),
    sa.UniqueConstraint('incident_id', 'key', name='uq_breach_notifications_key')
    )
    with op.batch_alter_table('breach_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_breach_notifications_due', ['status', 'sent_at', 'due_at'], unique=False)

    op.create_table('incident_assessments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('snapshot_version', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_assessments_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_assessments')),
    sa.UniqueConstraint('incident_id', 'version', name='uq_incident_assessments_version')
    )
    op.create_table('incident_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events'))
    )
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.create_index('ix_incident_events_incident', ['incident_id', 'id'], unique=False)

    op.create_table('affected_subjects',
    sa.Column('snapshot_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('jurisdiction', sa.String(length=16), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('minor', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['snapshot_id'], ['affected_snapshots.id'], name=op.f('fk_affected_subjects_snapshot_id_affected_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'subject_id', name=op.f('pk_affected_subjects'))
    )
    with op.batch_alter_table('affected_subjects', schema=None) as batch_op:
        batch_op.create_index('ix_affected_subjects_subject', ['subject_id'], unique=False)

    op.create_table('breach_letters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('notification_id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('sealed_body', sa.LargeBinary(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('snapshot_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_breach_letters_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notification_id'], ['breach_notifications.id'], name=op.f('fk_breach_letters_notification_id_breach_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_breach_letters'))
    )
    with op.batch_alter_table('breach_letters', schema=None) as batch_op:
        batch_op.create_index('ix_breach_letters_notification', ['notification_id', 'subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('breach_letters', schema=None) as batch_op:
        batch_op.drop_index('ix_breach_letters_notification')

    op.drop_table('breach_letters')
    with op.batch_alter_table('affected_subjects', schema=None) as batch_op:
        batch_op.drop_index('ix_affected_subjects_subject')

    op.drop_table('affected_subjects')
    with op.batch_alter_table('incident_events', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_events_incident')

    op.drop_table('incident_events')
    op.drop_table('incident_assessments')
    with op.batch_alter_table('breach_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_breach_notifications_due')

    op.drop_table('breach_notifications')
    op.drop_table('affected_snapshots')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_state')

    op.drop_table('incidents')
