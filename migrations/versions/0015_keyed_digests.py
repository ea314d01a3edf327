"""letters and idempotency fingerprints carry keyed digests, never a bare SHA-256 of something guessable

A subject's letter names the person; a bare SHA-256 of its text, shown in every letter listing and kept in every
backup, let anyone who knows the template try candidate names offline. Letters now carry an HMAC (govern's keyed
digest, bound to the letter's id) and, sealed under the subject's data key, where the name stands in the text, so a
reader who sees names masked is shown the letter masked. The bare digests are dropped: a letter made before this
revision gets its keyed digest the next time it is opened, and is shown only to readers who see names in full.

Idempotency fingerprints were a bare SHA-256 of the request body (a new subject's mobile, ID number, name); they
cannot be keyed without the keyring, so the stored answers are dropped: a retry sent across this upgrade is a new
request.

Revision ID: 0015_keyed_digests
Revises: 0007_breach
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_keyed_digests'
down_revision = '0007_breach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('breach_letters') as batch:
        batch.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('sealed_name', sa.LargeBinary(), nullable=True))
        batch.drop_column('sha256')
    op.execute(sa.text('DELETE FROM idempotency_keys'))


def downgrade() -> None:
    # The bare digests cannot be brought back (the sealed letters would have to be opened): old rows get an empty one.
    with op.batch_alter_table('breach_letters') as batch:
        batch.add_column(sa.Column('sha256', sa.String(length=64), nullable=False, server_default=''))
        batch.drop_column('sealed_name')
        batch.drop_column('digest')
