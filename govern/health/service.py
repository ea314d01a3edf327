"""Readiness checks: database reachable, migrations at head, keyring loaded, policies valid."""

from __future__ import annotations

from sqlalchemy import text

from govern.migrate import current_revision, head_revision


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
    try:
        runtime.keyring.reload_if_changed()
        runtime.keyring.master_key(runtime.keyring.active_version)
        checks["keyring"] = {"ok": True, "active_version": runtime.keyring.active_version}
    except Exception as exc:
        checks["keyring"] = {"ok": False, "error": type(exc).__name__}
    checks["policies"] = {"ok": True, "digest": runtime.policy.digest[:16]}
    return checks
