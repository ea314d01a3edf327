"""consent states keep the proof that a grant was given by an adult: the minors' age it was checked against and a
fingerprint of the birth-date ciphertext it was checked on, so a bulk consent check need not decrypt that date again

Revision ID: 0010_consent_adult_evidence
Revises: 0003_consent
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_consent_adult_evidence'
down_revision = '0003_consent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('consent_states', sa.Column('adult_at_age', sa.Integer(), nullable=True))
    op.add_column('consent_states', sa.Column('adult_evidence', sa.LargeBinary(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consent_states') as batch:
        batch.drop_column('adult_evidence')
        batch.drop_column('adult_at_age')
