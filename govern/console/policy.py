"""The console part of the policy (policies/console.yaml): staff sign-in lockout, session lifetimes, passwords,
access review and display defaults; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, validate, validates_schema
from marshmallow import fields as ma

from govern.console.policy_text import load_policy_texts
from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file


@dataclass(frozen=True)
class ConsolePolicy:
    """policies/console.yaml (govern/console): staff sign-in lockout, session lifetimes, passwords, access review, the
    queues' urgency."""

    max_failures: int = 5  # consecutive failures from one address before that address is locked out of the account
    lockout_minutes: int = 15
    account_max_failures: int = 100  # failures from all addresses together before the account locks for everyone
    account_lockout_minutes: int = 60
    idle_minutes: int = 30
    absolute_hours: int = 12
    password_min_length: int = 12
    review_window_days: int = 90
    default_language: str = "zh"
    default_time_zone: str = "Asia/Shanghai"
    warn_hours: int = 24  # a queue row's time left turns amber below this (incident clocks, plans, failed deliveries)
    follow_up_days: int = 3  # a failed webhook delivery is followed up by a person within this many days of failing
    # policies/translations/zh.yaml: the Chinese form of each legal citation, keyed by its English (govern/console/policy_text.py)
    policy_texts: Mapping[str, str] = field(default_factory=dict)


class _ConsoleSignInSchema(StrictSchema):
    max_failures = ma.Int(required=True, validate=validate.Range(1, 20))
    lockout_minutes = ma.Int(required=True, validate=validate.Range(1, 24 * 60))
    account_max_failures = ma.Int(required=True, validate=validate.Range(2, 1000))
    account_lockout_minutes = ma.Int(required=True, validate=validate.Range(1, 24 * 60))
    source = ma.Str(required=True)

    @validates_schema
    def _ceiling_above_one_address(self, data, **_):
        # Otherwise one address could lock the account for everyone: knowing a user name must not be enough.
        if data.get("account_max_failures", 0) <= data.get("max_failures", 0):
            raise ValidationError("must be above max_failures", "account_max_failures")


class _ConsoleSessionsSchema(StrictSchema):
    idle_minutes = ma.Int(required=True, validate=validate.Range(1, 24 * 60))
    absolute_hours = ma.Int(required=True, validate=validate.Range(1, 24 * 7))
    source = ma.Str(required=True)


class _ConsolePasswordsSchema(StrictSchema):
    min_length = ma.Int(required=True, validate=validate.Range(8, 128, error="must be 8–128 (NIST SP 800-63B: at least 8)"))
    source = ma.Str(required=True)


class _ConsoleReviewSchema(StrictSchema):
    window_days = ma.Int(required=True, validate=validate.Range(1, 3660))
    source = ma.Str(required=True)


class _ConsoleDisplaySchema(StrictSchema):
    default_language = ma.Str(required=True, validate=validate.OneOf(["zh", "en"]))
    default_time_zone = ma.Str(required=True)


class _ConsoleQueuesSchema(StrictSchema):
    warn_hours = ma.Int(required=True, validate=validate.Range(1, 24 * 30))
    follow_up_days = ma.Int(required=True, validate=validate.Range(1, 90))
    source = ma.Str(required=True)


class ConsoleFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    sign_in = ma.Nested(_ConsoleSignInSchema, required=True)
    sessions = ma.Nested(_ConsoleSessionsSchema, required=True)
    passwords = ma.Nested(_ConsolePasswordsSchema, required=True)
    access_review = ma.Nested(_ConsoleReviewSchema, required=True)
    display = ma.Nested(_ConsoleDisplaySchema, required=True)
    queues = ma.Nested(_ConsoleQueuesSchema, load_default=None)


def load_console_policy(directory: Path) -> dict[str, Any]:
    doc = validate_file("console", read_yaml(directory / "console.yaml"), ConsoleFileSchema())
    zone = doc["display"]["default_time_zone"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"console.yaml: display.default_time_zone: unknown time zone '{zone}'") from None
    return {"console": ConsolePolicy(
        max_failures=doc["sign_in"]["max_failures"], lockout_minutes=doc["sign_in"]["lockout_minutes"],
        account_max_failures=doc["sign_in"]["account_max_failures"], account_lockout_minutes=doc["sign_in"]["account_lockout_minutes"],
        idle_minutes=doc["sessions"]["idle_minutes"], absolute_hours=doc["sessions"]["absolute_hours"],
        password_min_length=doc["passwords"]["min_length"], review_window_days=doc["access_review"]["window_days"],
        default_language=doc["display"]["default_language"], default_time_zone=zone, policy_texts=load_policy_texts(directory),
        **({"warn_hours": doc["queues"]["warn_hours"], "follow_up_days": doc["queues"]["follow_up_days"]} if doc.get("queues") else {}),
    )}
