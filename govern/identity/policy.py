"""The rate-limit part of the policy (policies/rate_limits.yaml): how often one address and one account may call the
routes that guess or enumerate (signing in, look-up by e-mail/phone/ID number, the consent check, filing a request,
redeeming a package token); validated at start-up by govern.policies.load_policy, enforced by govern.ratelimit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from limits import parse_many
from marshmallow import ValidationError, validate, validates_schema
from marshmallow import fields as ma

from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file

# The scopes the code marks routes with (govern.ratelimit.limited); the file must give figures for each, no other.
SCOPES = ("sign_in", "lookup", "consent_check", "request_filing", "package_redemption")


@dataclass(frozen=True)
class ScopeLimits:
    """Flask-Limiter's notation ("10 per minute; 100 per hour"); None where the scope is not counted that way."""

    per_address: str | None
    per_account: str | None  # the account is the principal; for sign_in, the user name typed in
    source: str


@dataclass(frozen=True)
class RateLimitPolicy:
    scopes: Mapping[str, ScopeLimits]


def _parse(text: str) -> None:

    try:
        if not parse_many(text):
            raise ValueError
    except ValueError:
        raise ValidationError(f"not a rate limit: '{text}' (e.g. '10 per minute; 100 per hour')") from None


class _ScopeSchema(StrictSchema):
    per_address = ma.Str(required=True, allow_none=True, validate=_parse)
    per_account = ma.Str(required=True, allow_none=True, validate=_parse)
    source = ma.Str(required=True)

    @validates_schema
    def _counted_somehow(self, data, **_):
        if not data.get("per_address") and not data.get("per_account"):
            raise ValidationError("give per_address, per_account or both", "per_address")


class RateLimitFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    limits = ma.Dict(keys=ma.Str(validate=validate.OneOf(SCOPES)), values=ma.Nested(_ScopeSchema), required=True)


def load_rate_limit_policy(directory: Path) -> dict[str, Any]:
    doc = validate_file("rate_limits", read_yaml(directory / "rate_limits.yaml"), RateLimitFileSchema())
    missing = sorted(set(SCOPES) - set(doc["limits"]))
    if missing:
        raise PolicyError(f"rate_limits.yaml: limits: missing {', '.join(missing)}")
    if doc["limits"]["package_redemption"]["per_address"] is None or doc["limits"]["sign_in"]["per_address"] is None:
        # Nobody is signed in on these routes: the address is all there is to count.
        raise PolicyError("rate_limits.yaml: limits: sign_in and package_redemption need per_address")
    return {"rate_limits": RateLimitPolicy(scopes={
        name: ScopeLimits(per_address=s["per_address"], per_account=s["per_account"], source=s["source"]) for name, s in doc["limits"].items()
    })}
