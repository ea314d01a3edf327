"""What the serving database role could do to the audit log behind govern's back. In the documented production setup
(README, "Production PostgreSQL") it owns nothing and has DML only, so the append-only triggers bind it: it cannot
disable them (only an owner or a superuser can), replace their function, or turn them off with
session_replication_role. /readyz reports anything else as a warning."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

AUDIT_TABLES = ("audit_events", "audit_chain", "audit_checkpoints", "audit_seal_runs", "audit_purges")


def serving_role_risks(engine: Engine) -> list[str]:
    """Sentences naming each power the connected role holds over the audit tables; [] when it holds none (or SQLite,
    where a file's owner is the only role there is)."""
    if engine.dialect.name != "postgresql":
        return []
    risks: list[str] = []
    with engine.connect() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        if superuser:
            return ["the serving role is a superuser: it can disable the audit log's triggers (use a DML-only role, see README)"]
        for table in AUDIT_TABLES:
            row = conn.execute(text(
                "SELECT pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE'), "
                "has_table_privilege(current_user, c.oid, 'TRIGGER'), has_table_privilege(current_user, c.oid, 'TRUNCATE') "
                "FROM pg_class c WHERE c.oid = to_regclass(:t)"
            ), {"t": table}).first()
            if row is None:
                continue
            owner, member_of_owner, trigger, truncate = row
            if member_of_owner:
                risks.append(f"the serving role owns {table} (or acts as its owner {owner}): it can disable its triggers")
            elif trigger:
                risks.append(f"the serving role may create triggers on {table} (GRANT TRIGGER): revoke it")
            elif truncate:
                risks.append(f"the serving role may TRUNCATE {table}: revoke it (the trigger refuses it, the grant should too)")
        # PostgreSQL 15+ (the supported floor): a parameter can be granted to a non-superuser.
        can_replicate = conn.execute(text("SELECT has_parameter_privilege(current_user, 'session_replication_role', 'SET')")).scalar()
        if can_replicate:
            risks.append("the serving role may SET session_replication_role, which switches the audit log's triggers off")
    return risks
