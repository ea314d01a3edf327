"""Readiness checks: database reachable, migrations at head, keyring loaded, policies valid."""

from __future__ import annotations

from sqlalchemy import text

from govern.audit import integrity
from govern.audit.grants import serving_role_risks
from govern.crypto import checks as keychecks
from govern.health import metrics
from govern.logging import get_logger
from govern.migrate import current_revision, head_revision
from govern.ratelimit import storage_check
from govern.retention.ledger import missing_ledgers
from govern.scheduler import service as scheduler


def is_ready(checks: dict[str, dict]) -> bool:
    return all(c["ok"] for c in checks.values() if c.get("gating", True))


def readiness(runtime) -> dict[str, dict]:
    checks: dict[str, dict] = {}
    try:
        with runtime.database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
        checks["database"] = {"ok": True, "dialect": runtime.database.dialect}
        head = head_revision()
        checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
    checks["keyring"] = _keyring(runtime)
    checks["policies"] = {"ok": True, "digest": runtime.policy.digest[:16]}
    checks["audit_chain"] = _audit_chain(runtime)
    checks["database_role"] = _database_role(runtime)

    checks["rate_limits"] = storage_check(runtime.settings)
    checks["ledgers"] = _ledgers(runtime)
    checks["jobs"] = _jobs(runtime)
    return checks


def _jobs(runtime) -> dict:
    """The scheduled jobs (govern/scheduler): last run, lag and last error of each; gating only when one is overdue
    beyond its period plus its lease plus a minute (policies/schedules.yaml): the scheduler is then down on every host."""
    try:
        with runtime.database.unit_of_work() as session:
            return scheduler.readiness(session=session, schedules=runtime.policy.schedules)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "gating": False}


def _ledgers(runtime) -> dict:
    """Warns (not gating: reads still serve) when an erasure or purge ledger is missing from GOVERN_HOME: erasures and
    purges are refused until it is put back or restarted, and a restore would be refused (README, "Restoring a backup")."""
    missing = [p.name for p in missing_ledgers(runtime.settings.home)]
    return {"ok": not missing, "gating": False, **({"missing": missing} if missing else {})}


def _database_role(runtime) -> dict:
    """Warns (not gating) when the serving role could switch off the audit log's append-only triggers: it owns an audit
    table, is a superuser, or holds TRIGGER/TRUNCATE (README: production PostgreSQL)."""
    try:
        risks = serving_role_risks(runtime.database.engine)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "gating": False}
    if risks:
        get_logger("govern.health").warning("database_role_too_powerful", risks=risks)
        return {"ok": False, "warnings": risks, "gating": False}
    return {"ok": True, "gating": False}


def _keyring(runtime) -> dict:
    """The keyring on disk (and the audit signing key) still match the check values the database keeps: a keyring
    deleted, swapped or cut down behind a running instance takes it out of service, naming the problem."""
    try:
        with runtime.database.unit_of_work() as session:
            keychecks.verify(session=session, keyring=runtime.keyring, settings=runtime.settings)
        return {"ok": True, "active_version": runtime.keyring.active_version}
    except keychecks.KeyMismatch as exc:
        result = {"ok": False, "problem": exc.problem, "error": exc.detail}
    except Exception as exc:
        missing = not runtime.settings.keyring_path.exists()
        result = {"ok": False, "problem": keychecks.MISSING_KEYRING if missing else "unreadable", "error": "no keyring" if missing else type(exc).__name__}
    get_logger("govern.health").error("keyring_does_not_match", **result)
    return result


def _audit_chain(runtime) -> dict:
    """The chain head links and agrees with the newest checkpoint, and no event has waited for the sealer longer than
    policies/audit.yaml allows (sealing.max_unsealed_seconds)."""
    try:
        st = integrity.status(database=runtime.database, settings=runtime.settings, max_unsealed_seconds=runtime.policy.audit.max_unsealed_seconds)
    except Exception as exc:
        metrics.AUDIT_CHAIN_OK.set(0)
        return {"ok": False, "error": type(exc).__name__}
    metrics.AUDIT_CHAIN_OK.set(1 if st.ok else 0)
    metrics.AUDIT_CHAIN_HEAD.set(st.head_seq)
    if not st.ok:
        get_logger("govern.health").error("audit_chain_does_not_verify", **st.as_dict())
    # Reported, not gating: a broken chain is evidence to preserve and investigate, and taking every instance
    # out of the load balancer would turn tampering into an outage without protecting any data.
    return {**st.as_dict(), "gating": False}
