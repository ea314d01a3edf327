"""audit partitions: audit_events partitioned by time on PostgreSQL (monthly by default), with a default partition

Revision ID: 0030_audit_partitions
Revises: 0012_audit_insider
Create Date: 2026-12-05

On PostgreSQL audit_events becomes a table PARTITION BY RANGE (occurred_at): its primary key is (id, occurred_at) (a
partitioned table's keys must hold the partition key; audit_chain.event_id stays unique), the same columns, indexes and
id sequence, the same append-only triggers (the row trigger is cloned onto every partition; each partition also gets
its own TRUNCATE trigger, since a TRUNCATE of one partition fires no trigger of the parent). Partitions live in the
schema audit_partitions, named audit_events_YYYYMMDD after their first day; audit_partitions.audit_events_default takes
any event no partition covers, so an insert never fails for want of one.

An existing table is not copied: it is attached as the partition audit_partitions.audit_events_legacy covering its
oldest to its newest month (its indexes are reused; only the (id, occurred_at) key is built, and the range is checked
by one scan). The archive (govern audit archive) later takes its months out row by row, as it does for the default
partition; the months after it get partitions of their own.

Two SECURITY DEFINER functions let the serving role keep the partitions without owning anything:
govern_audit_add_partition(period, at) creates the partition of the month (week, day) holding `at` if none covers it yet
(the scheduled job audit_partitions, policies/audit.yaml `partitions`), and govern_audit_drop_partition(name)
detaches and drops a ranged partition whose events all lie more than six months back, only under
`SET LOCAL govern.audit_purge = 'on'` -- the same bounds the trigger puts on a retention DELETE. EXECUTE on the drop is
revoked from PUBLIC; README's production grants give it to the serving role with DELETE on audit_events.

The trigger function now recognises a DELETE through a partition (TG_TABLE_NAME is the partition's name there).
SQLite keeps the plain table: nothing changes on it.
"""
from alembic import op

revision = '0030_audit_partitions'
down_revision = '0012_audit_insider'
branch_labels = None
depends_on = None

SCHEMA = "audit_partitions"
CREATE_AHEAD = 3  # months created here; the audit_partitions job keeps policies/audit.yaml partitions.create_ahead

COLUMNS = """
    id bigint NOT NULL DEFAULT nextval('audit_events_id_seq'::regclass),
    occurred_at timestamptz NOT NULL,
    actor_id uuid,
    actor_name varchar(100) NOT NULL,
    roles varchar(200) NOT NULL,
    action varchar(64) NOT NULL,
    resource varchar(200),
    subject_id uuid,
    field_names varchar(1000) NOT NULL,
    purpose varchar(64),
    outcome varchar(16) NOT NULL,
    reason varchar(64),
    request_id varchar(64),
    client_addr varchar(64),
    canonical text NOT NULL"""

INDEXES = (
    ("ix_audit_events_occurred_at", "occurred_at"),
    ("ix_audit_events_subject", "subject_id, occurred_at"),
    ("ix_audit_events_actor", "actor_id, occurred_at"),
    ("ix_audit_events_request", "request_id"),
)

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION govern_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('govern.audit_purge', true) = 'on'
     AND (TG_TABLE_NAME = 'audit_events'
          OR TG_RELID IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'public.audit_events'::regclass)) THEN
    -- nested: OLD exists only in a row trigger
    IF OLD.occurred_at < now() - interval '6 months'
       AND EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = OLD.id) THEN
      RETURN OLD;  -- a retention purge of a sealed event past the legal minimum
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$"""

OLD_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION govern_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
     AND current_setting('govern.audit_purge', true) = 'on' THEN
    -- nested: OLD exists only in a row trigger
    IF OLD.occurred_at < now() - interval '6 months'
       AND EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = OLD.id) THEN
      RETURN OLD;  -- a retention purge of a sealed event past the legal minimum
    END IF;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$"""

ADD_PARTITION = f"""
CREATE OR REPLACE FUNCTION govern_audit_add_partition(period text, at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  lo timestamp;
  name text;
BEGIN
  IF period NOT IN ('month', 'week', 'day') THEN
    RAISE EXCEPTION 'an audit partition period is month, week or day, not %', period USING ERRCODE = 'invalid_parameter_value';
  END IF;
  lo := date_trunc(period, at AT TIME ZONE 'UTC');
  name := 'audit_events_' || to_char(lo, 'YYYYMMDD');
  IF to_regclass('{SCHEMA}.' || name) IS NOT NULL THEN
    RETURN NULL;
  END IF;
  BEGIN
    EXECUTE format('CREATE TABLE {SCHEMA}.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                   name, (lo AT TIME ZONE 'UTC')::text, ((lo + ('1 ' || period)::interval) AT TIME ZONE 'UTC')::text);
  EXCEPTION
    WHEN invalid_object_definition THEN
      RETURN NULL;  -- another partition (the legacy one, or one of another period) already covers part of it
    WHEN check_violation THEN
      RAISE EXCEPTION 'audit_events_default already holds events of the % from %: create partitions ahead (govern audit partitions)', period, lo
        USING ERRCODE = 'check_violation';
  END;
  EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON {SCHEMA}.%I FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()',
                 name || '_no_truncate', name);
  RETURN name;
END
$$"""

DROP_PARTITION = """
CREATE OR REPLACE FUNCTION govern_audit_drop_partition(name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  part regclass;
  bound text;
  hi timestamptz;
BEGIN
  -- The name is resolved here, as the owner: the serving role has no USAGE on the schema audit_partitions.
  part := to_regclass('audit_partitions.' || quote_ident(name));
  IF current_setting('govern.audit_purge', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'the audit log is append-only: DROP of % refused', part USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT pg_get_expr(c.relpartbound, c.oid) INTO bound
    FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
   WHERE part IS NOT NULL AND c.oid = part AND i.inhparent = 'public.audit_events'::regclass;
  IF bound IS NULL OR bound = 'DEFAULT' THEN
    RAISE EXCEPTION 'the audit log is append-only: % is not a ranged partition of audit_events', name USING ERRCODE = 'insufficient_privilege';
  END IF;
  hi := substring(bound from 'TO \\(''([^'']+)''\\)')::timestamptz;
  IF hi IS NULL OR hi > now() - interval '6 months' THEN
    RAISE EXCEPTION 'the audit log is append-only: DROP of % refused (its events are not all six months old)', part
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  EXECUTE format('ALTER TABLE public.audit_events DETACH PARTITION %s', part);
  EXECUTE format('DROP TABLE %s', part);
END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
    op.execute(TRIGGER_FUNCTION)
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY NONE")  # SET SCHEMA would take an owned sequence along
    op.execute(f"ALTER TABLE audit_events SET SCHEMA {SCHEMA}")
    op.execute(f"ALTER TABLE {SCHEMA}.audit_events RENAME TO audit_events_legacy")
    op.execute(f"DROP TRIGGER audit_events_append_only ON {SCHEMA}.audit_events_legacy")  # the parent's is cloned onto it
    op.execute(f"ALTER TRIGGER audit_events_no_truncate ON {SCHEMA}.audit_events_legacy RENAME TO audit_events_legacy_no_truncate")
    op.execute(f"ALTER TABLE {SCHEMA}.audit_events_legacy RENAME CONSTRAINT pk_audit_events TO pk_audit_events_legacy")
    op.execute(f"CREATE TABLE audit_events ({COLUMNS},\n    CONSTRAINT pk_audit_events PRIMARY KEY (id, occurred_at)\n) PARTITION BY RANGE (occurred_at)")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    op.execute(f"ALTER TABLE {SCHEMA}.audit_events_legacy ALTER COLUMN id DROP DEFAULT")
    for name, columns in INDEXES:
        op.execute(f"ALTER INDEX {SCHEMA}.{name} RENAME TO {name.replace('audit_events', 'audit_events_legacy')}")
        op.execute(f"CREATE INDEX {name} ON audit_events ({columns})")
    op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION govern_audit_append_only()")
    op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()")
    op.execute(f"CREATE TABLE {SCHEMA}.audit_events_default PARTITION OF audit_events DEFAULT")
    op.execute(f"CREATE TRIGGER audit_events_default_no_truncate BEFORE TRUNCATE ON {SCHEMA}.audit_events_default "
               "FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()")
    bounds = op.get_bind().exec_driver_sql(
        f"SELECT date_trunc('month', min(occurred_at) AT TIME ZONE 'UTC'), date_trunc('month', max(occurred_at) AT TIME ZONE 'UTC') + interval '1 month' "
        f"FROM {SCHEMA}.audit_events_legacy"
    ).first()
    if bounds is None or bounds[0] is None:
        op.execute(f"DROP TABLE {SCHEMA}.audit_events_legacy")
    else:
        # A partition's key must be the parent's: the one index built (its other indexes are taken over as they are).
        op.execute(f"ALTER TABLE {SCHEMA}.audit_events_legacy DROP CONSTRAINT pk_audit_events_legacy")
        op.execute(f"ALTER TABLE {SCHEMA}.audit_events_legacy ADD CONSTRAINT pk_audit_events_legacy PRIMARY KEY (id, occurred_at)")
        op.execute(f"ALTER TABLE audit_events ATTACH PARTITION {SCHEMA}.audit_events_legacy "
                   f"FOR VALUES FROM ('{bounds[0].isoformat()}+00') TO ('{bounds[1].isoformat()}+00')")
    op.execute(ADD_PARTITION)
    op.execute(DROP_PARTITION)
    op.execute("REVOKE EXECUTE ON FUNCTION govern_audit_drop_partition(text) FROM PUBLIC")
    for months in range(CREATE_AHEAD + 1):
        op.execute(f"SELECT govern_audit_add_partition('month', now() + interval '{months} months')")


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
    op.execute("DROP FUNCTION IF EXISTS govern_audit_drop_partition(text)")
    op.execute("DROP FUNCTION IF EXISTS govern_audit_add_partition(text, timestamptz)")
    op.execute("ALTER TABLE audit_events RENAME TO audit_events_partitioned")
    for name, _ in INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_partitioned")
    op.execute("ALTER TABLE audit_events_partitioned RENAME CONSTRAINT pk_audit_events TO pk_audit_events_partitioned")
    op.execute(f"CREATE TABLE audit_events ({COLUMNS},\n    CONSTRAINT pk_audit_events PRIMARY KEY (id)\n)")
    op.execute("INSERT INTO audit_events SELECT * FROM audit_events_partitioned ORDER BY id")
    op.execute("ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    op.execute("ALTER TABLE audit_events_partitioned ALTER COLUMN id DROP DEFAULT")
    op.execute("DROP TABLE audit_events_partitioned CASCADE")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON audit_events ({columns})")
    op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION govern_audit_append_only()")
    op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION govern_audit_append_only()")
    op.execute(OLD_TRIGGER_FUNCTION)
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
