"""The webhooks part of the policy (policies/webhooks.yaml `webhooks:`): the request timeout, the worker's lease, the
retry schedule (exponential backoff with jitter, then `failed`), which URLs are accepted and the signature's
tolerance; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file
from govern.webhooks.egress import AllowList


@dataclass(frozen=True)
class WebhookPolicy:
    timeout_seconds: float
    lease_seconds: int
    initial_delay_seconds: int
    factor: float
    max_delay_seconds: int
    jitter: float  # 0.2: each delay is drawn from [80 %, 100 %] of the backoff, so retries of many rows spread out
    max_attempts: int
    retry_source: str
    require_https: bool  # outside `govern serve --dev` (Settings.dev)
    url_source: str
    tolerance_seconds: int  # how old a signature a receiver should accept (what verify_signature uses)
    rotation_grace_hours: int  # how long the previous secret also signs after a rotation
    signature_source: str
    allow: AllowList = AllowList()  # non-public hosts/networks a webhook may reach (urls.allow); metadata never

    def backoff(self, attempt: int, draw: float) -> timedelta:
        """The wait after failed attempt number `attempt` (1, 2, …); `draw` is uniform in [0, 1)."""
        base = min(self.max_delay_seconds, self.initial_delay_seconds * self.factor ** (attempt - 1))
        return timedelta(seconds=base * (1 - self.jitter * draw))


class _DeliverySchema(StrictSchema):
    timeout_seconds = ma.Float(required=True, validate=validate.Range(min=1, max=120))
    lease_seconds = ma.Int(required=True, validate=validate.Range(min=10, max=3600))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _RetrySchema(StrictSchema):
    initial_delay_seconds = ma.Int(required=True, validate=validate.Range(min=1, max=86400))
    factor = ma.Float(required=True, validate=validate.Range(min=1, max=10))
    max_delay_seconds = ma.Int(required=True, validate=validate.Range(min=1, max=7 * 86400))
    jitter = ma.Float(required=True, validate=validate.Range(min=0, max=0.9))
    max_attempts = ma.Int(required=True, validate=validate.Range(min=1, max=100))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _UrlSchema(StrictSchema):
    require_https = ma.Bool(required=True)
    allow = ma.List(ma.Str(), load_default=list)
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _SignatureSchema(StrictSchema):
    tolerance_seconds = ma.Int(required=True, validate=validate.Range(min=30, max=3600))
    rotation_grace_hours = ma.Int(required=True, validate=validate.Range(min=0, max=24 * 30))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _WebhooksSchema(StrictSchema):
    delivery = ma.Nested(_DeliverySchema, required=True)
    retry = ma.Nested(_RetrySchema, required=True)
    urls = ma.Nested(_UrlSchema, required=True)
    signature = ma.Nested(_SignatureSchema, required=True)


class _WebhooksFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    webhooks = ma.Nested(_WebhooksSchema, required=True)


def load_webhook_policy(directory: Path) -> dict[str, Any]:
    """policies/webhooks.yaml; refuses a schedule that contradicts itself, naming the key."""
    doc = validate_file("webhooks", read_yaml(directory / "webhooks.yaml"), _WebhooksFileSchema())["webhooks"]
    d, r, u, s = doc["delivery"], doc["retry"], doc["urls"], doc["signature"]
    if d["lease_seconds"] < 2 * d["timeout_seconds"]:
        # A lease shorter than a slow request would let a second worker send the same row while the first waits.
        raise PolicyError("webhooks.yaml: webhooks.delivery.lease_seconds: at least twice timeout_seconds")
    if r["max_delay_seconds"] < r["initial_delay_seconds"]:
        raise PolicyError("webhooks.yaml: webhooks.retry.max_delay_seconds: at least initial_delay_seconds")
    try:
        allow = AllowList.parse(u["allow"])
    except ValueError as exc:
        raise PolicyError(f"webhooks.yaml: webhooks.urls.allow: {exc}") from None
    return {"webhooks": WebhookPolicy(
        timeout_seconds=d["timeout_seconds"], lease_seconds=d["lease_seconds"], initial_delay_seconds=r["initial_delay_seconds"],
        factor=r["factor"], max_delay_seconds=r["max_delay_seconds"], jitter=r["jitter"], max_attempts=r["max_attempts"],
        retry_source=r["source"], require_https=u["require_https"], url_source=u["source"], tolerance_seconds=s["tolerance_seconds"],
        rotation_grace_hours=s["rotation_grace_hours"], signature_source=s["source"], allow=allow,
    )}
