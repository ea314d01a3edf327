"""a deceased subject (date of death, evidence reference, the deceased's own arrangement) and a request's next-of-kin
requester (relationship code and the reference of its check), PIPL Art. 49

Revision ID: 0019_requests_deceased
Revises: 0011_request_package_tokens
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0019_requests_deceased'
down_revision = '0011_request_package_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subjects') as batch:
        batch.add_column(sa.Column('deceased_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('deceased_evidence', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('deceased_arranged_otherwise', sa.Boolean(), nullable=True))
    with op.batch_alter_table('dsr_requests') as batch:
        batch.add_column(sa.Column('requester_relationship', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('requester_verification_ref', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dsr_requests') as batch:
        batch.drop_column('requester_verification_ref')
        batch.drop_column('requester_relationship')
    with op.batch_alter_table('subjects') as batch:
        batch.drop_column('deceased_arranged_otherwise')
        batch.drop_column('deceased_evidence')
        batch.drop_column('deceased_on')
