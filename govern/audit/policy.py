"""The audit part of the policy (policies/audit.yaml): how long audit events are kept, never under six months;
validated at start-up by govern.policy.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import _read, _Strict, _validate


@dataclass(frozen=True)
class AuditPolicy:
    """policies/audit.yaml: how long audit events are kept (never under six months: Cybersecurity Law Art. 21)."""

    retention_days: int = 365
    source: str = ""


class AuditRetentionSchema(_Strict):
    # 183 days: any six consecutive calendar months (Cybersecurity Law Art. 21 sets the floor, not the ceiling).
    keep_days = ma.Int(required=True, validate=validate.Range(min=183, error="must be at least 183 days (six months, Cybersecurity Law Art. 21)"))
    source = ma.Str(required=True)


class AuditFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    retention = ma.Nested(AuditRetentionSchema, required=True)


def _load_audit_policy(directory: Path) -> dict[str, Any]:
    doc = _validate("audit", _read(directory / "audit.yaml"), AuditFileSchema())
    return {"audit": AuditPolicy(retention_days=doc["retention"]["keep_days"], source=doc["retention"]["source"])}
