"""crypto: `govern keys migrate-suite` re-seals a subject's values under a data key of the new suite, and a minor's
guardian details are sealed in consent_events, which PostgreSQL keeps append-only: an UPDATE that changes
guardian_sealed alone (the same details, sealed again) is let through; any other update or a delete is still refused

Revision ID: 0031_suite_migration
Revises: 0014_key_checks
Create Date: 2026-12-05
"""
from alembic import op

revision = '0031_suite_migration'
down_revision = '0014_key_checks'
branch_labels = None
depends_on = '0003_consent'

RESEAL_ONLY = """
CREATE OR REPLACE FUNCTION govern_consent_events_reseal_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'guardian_sealed') = (to_jsonb(OLD) - 'guardian_sealed') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(RESEAL_ONLY)
    op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
    op.execute("CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
               "FOR EACH ROW EXECUTE FUNCTION govern_consent_events_reseal_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
    op.execute("CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
               "FOR EACH ROW EXECUTE FUNCTION govern_consent_append_only()")
    op.execute("DROP FUNCTION IF EXISTS govern_consent_events_reseal_only()")
