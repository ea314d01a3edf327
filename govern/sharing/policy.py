"""The sharing part of the policy (policies/sharing.yaml `propagation:`): how long a manual notice to a recipient may
take, and how specific a reason for not telling one must be; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import StrictSchema, read_yaml, validate_file


@dataclass(frozen=True)
class PropagationPolicy:
    manual_due_days: int  # a manual notice to a recipient is due this many calendar days after it is recorded
    source: str
    reason_min_length: int  # a reason for not telling a recipient (impossible, disproportionate effort) is this specific


class _PropagationSchema(StrictSchema):
    manual_due_days = ma.Int(required=True, validate=validate.Range(min=1, max=90))
    source = ma.Str(required=True, validate=validate.Length(min=3))
    reason_min_length = ma.Int(required=True, validate=validate.Range(min=1, max=500))


class _SharingFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    propagation = ma.Nested(_PropagationSchema, required=True)


def load_sharing_policy(directory: Path) -> dict[str, Any]:
    doc = validate_file("sharing", read_yaml(directory / "sharing.yaml"), _SharingFileSchema())["propagation"]
    return {"propagation": PropagationPolicy(
        manual_due_days=doc["manual_due_days"], source=doc["source"], reason_min_length=doc["reason_min_length"],
    )}
