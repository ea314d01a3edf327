"""The audit part of the policy (policies/audit.yaml): how long audit events are kept, never under six months, how
often `govern serve` seals and checkpoints the log (the bound on how long an event may stay unsealed), the partition
period on PostgreSQL and whether events leave through an archive; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, validate, validates_schema
from marshmallow import fields as ma

from govern.policy import StrictSchema, read_yaml, validate_file
from govern.timeutil import months_cutoff

MINIMUM_MONTHS = 6  # Cybersecurity Law Art. 21: network logs kept no less than six months
# The longest six calendar months can last (1 July to 1 January): a keep_days below it would cut some span short.
MINIMUM_DAYS = 184


def purge_cutoff(now: datetime, keep_days: int) -> datetime:
    """Events at or before this instant may go: older than keep_days and than six calendar months counted from each
    event (never six months approximated in days), so the floor holds for every six-month span, 29 February included."""
    return min(now - timedelta(days=keep_days), months_cutoff(now, MINIMUM_MONTHS))


@dataclass(frozen=True)
class AuditPolicy:
    """policies/audit.yaml: how long audit events are kept (never under six months: Cybersecurity Law Art. 21)."""

    retention_days: int = 365
    source: str = ""
    # Sealing (policies/audit.yaml `sealing`): until an event is sealed and a signed checkpoint has left the database,
    # a database insider can change or cut it unnoticed; these bound that window.
    seal_interval_seconds: int = 5
    checkpoint_interval_seconds: int = 60
    max_unsealed_seconds: int = 300
    # Partitions (PostgreSQL) and the archive at the end of retention (policies/audit.yaml `partitions`, `archive`).
    partition_period: str = "month"
    partition_create_ahead: int = 3
    archive: bool = True


class AuditRetentionSchema(StrictSchema):
    # 184 days: the longest six consecutive calendar months (1 July to 1 January; Cybersecurity Law Art. 21 sets the
    # floor, not the ceiling). The purge also counts six calendar months from each event (purge_cutoff).
    keep_days = ma.Int(required=True, validate=validate.Range(min=184, error="must be at least 184 days (six months, Cybersecurity Law Art. 21)"))
    source = ma.Str(required=True)


class AuditSealingSchema(StrictSchema):
    interval_seconds = ma.Int(required=True, validate=validate.Range(min=1, max=3600))
    checkpoint_seconds = ma.Int(required=True, validate=validate.Range(min=1, max=86400))
    max_unsealed_seconds = ma.Int(required=True, validate=validate.Range(min=2, max=86400))

    @validates_schema
    def _bound_above_interval(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("max_unsealed_seconds", 0) <= max(data.get("interval_seconds", 0), data.get("checkpoint_seconds", 0)):
            raise ValidationError("must be longer than interval_seconds and checkpoint_seconds", "max_unsealed_seconds")


class AuditPartitionsSchema(StrictSchema):
    period = ma.Str(required=True, validate=validate.OneOf(["month", "week", "day"]))
    create_ahead = ma.Int(required=True, validate=validate.Range(min=1, max=24))


class AuditArchiveSchema(StrictSchema):
    enabled = ma.Bool(required=True)


class AuditFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    retention = ma.Nested(AuditRetentionSchema, required=True)
    sealing = ma.Nested(AuditSealingSchema, required=True)
    partitions = ma.Nested(AuditPartitionsSchema, load_default=None)
    archive = ma.Nested(AuditArchiveSchema, load_default=None)


def load_audit_policy(directory: Path) -> dict[str, Any]:
    doc = validate_file("audit", read_yaml(directory / "audit.yaml"), AuditFileSchema())
    sealing = doc["sealing"]
    partitions = doc.get("partitions") or {"period": "month", "create_ahead": 3}
    archive = doc.get("archive") or {"enabled": False}
    return {"audit": AuditPolicy(
        retention_days=doc["retention"]["keep_days"], source=doc["retention"]["source"], seal_interval_seconds=sealing["interval_seconds"],
        checkpoint_interval_seconds=sealing["checkpoint_seconds"], max_unsealed_seconds=sealing["max_unsealed_seconds"],
        partition_period=partitions["period"], partition_create_ahead=partitions["create_ahead"], archive=archive["enabled"],
    )}
