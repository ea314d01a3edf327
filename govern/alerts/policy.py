"""The alerts part of the policy (policies/alerts.yaml `alerts:`): thresholds, who is told in which language and by
which channel, and the messages; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file

KINDS = ("request", "incident", "webhook", "audit", "job")
LANGUAGES = ("zh", "en")
# The placeholders each kind's messages may use: ids, types, kinds, counts and times, never a subject's data.
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "request": frozenset({"id", "type", "jurisdiction", "due_at"}),
    "incident": frozenset({"id", "incident", "kind", "jurisdiction", "due_at"}),
    "webhook": frozenset({"id", "name", "failed"}),
    "audit": frozenset({"unsealed", "oldest_seconds", "max_seconds"}),
    "job": frozenset({"job", "at", "error"}),
}


@dataclass(frozen=True)
class Recipient:
    name: str
    language: str  # zh | en: the language of every message it gets
    email: str | None
    webhook: str | None
    kinds: frozenset[str]


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


@dataclass(frozen=True)
class AlertPolicy:
    sender: str
    request_due_within_days: int
    incident_levels: tuple[int, ...]  # percent of a clock used, ascending; "expired" always follows
    max_unsealed_events: int
    max_attempts: int
    timeout_seconds: float
    recipients: tuple[Recipient, ...]
    messages: Mapping[tuple[str, str], Message]  # ("request.overdue", "zh") -> message

    def levels(self, kind: str) -> tuple[str, ...]:
        """The levels of a kind, mildest first."""
        return {
            "request": ("due_soon", "overdue"), "incident": (*(f"clock_{p}" for p in self.incident_levels), "expired"),
            "webhook": ("failing",), "audit": ("unsealed",), "job": ("failed",),
        }[kind]


class _Sourced(StrictSchema):
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _Requests(_Sourced):
    due_within_days = ma.Int(required=True, validate=validate.Range(min=0, max=60))


class _Incidents(_Sourced):
    levels = ma.List(ma.Int(validate=validate.Range(min=1, max=99)), required=True)


class _Audit(_Sourced):
    max_unsealed_events = ma.Int(required=True, validate=validate.Range(min=1))


class _Delivery(_Sourced):
    max_attempts = ma.Int(required=True, validate=validate.Range(min=1, max=100))
    timeout_seconds = ma.Float(required=True, validate=validate.Range(min=1, max=120))


class _Recipient(StrictSchema):
    name = ma.Str(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$"))
    language = ma.Str(required=True, validate=validate.OneOf(LANGUAGES))
    email = ma.Email(load_default=None)
    webhook = ma.Url(load_default=None, schemes={"http", "https"})
    kinds = ma.List(ma.Str(validate=validate.OneOf(KINDS)), required=True, validate=validate.Length(min=1))


class _Message(StrictSchema):
    subject = ma.Str(required=True, validate=validate.Length(min=1, max=200))
    body = ma.Str(required=True, validate=validate.Length(min=1, max=2000))


class _Alerts(StrictSchema):
    sender = ma.Email(required=True, data_key="from")
    requests = ma.Nested(_Requests, required=True)
    incidents = ma.Nested(_Incidents, required=True)
    audit = ma.Nested(_Audit, required=True)
    delivery = ma.Nested(_Delivery, required=True)
    recipients = ma.List(ma.Nested(_Recipient), required=True)
    messages = ma.Dict(keys=ma.Str(), values=ma.Dict(keys=ma.Str(validate=validate.OneOf(LANGUAGES)), values=ma.Nested(_Message)), required=True)


class _AlertsFile(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    alerts = ma.Nested(_Alerts, required=True)


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def load_alert_policy(directory: Path) -> dict[str, Any]:
    """policies/alerts.yaml; refuses a recipient with no channel, a missing message or a placeholder that could carry
    anything but ids, types, counts and times, naming the key."""
    doc = validate_file("alerts", read_yaml(directory / "alerts.yaml"), _AlertsFile())["alerts"]
    levels = doc["incidents"]["levels"]
    if levels != sorted(set(levels)):
        raise PolicyError("alerts.yaml: alerts.incidents.levels: distinct percentages in ascending order")
    recipients = []
    names = set()
    for i, r in enumerate(doc["recipients"]):
        if not r["email"] and not r["webhook"]:
            raise PolicyError(f"alerts.yaml: alerts.recipients.{i}: an email or a webhook (or both)")
        if r["name"] in names:
            raise PolicyError(f"alerts.yaml: alerts.recipients.{i}.name: {r['name']} is listed twice")
        names.add(r["name"])
        recipients.append(Recipient(name=r["name"], language=r["language"], email=r["email"], webhook=r["webhook"], kinds=frozenset(r["kinds"])))
    partial = AlertPolicy(sender=doc["sender"], request_due_within_days=doc["requests"]["due_within_days"], incident_levels=tuple(levels),
                          max_unsealed_events=doc["audit"]["max_unsealed_events"], max_attempts=doc["delivery"]["max_attempts"],
                          timeout_seconds=doc["delivery"]["timeout_seconds"], recipients=tuple(recipients), messages={})
    wanted = {f"{kind}.{level}": kind for kind in KINDS for level in partial.levels(kind)}
    unknown = sorted(set(doc["messages"]) - set(wanted))
    if unknown:
        raise PolicyError(f"alerts.yaml: alerts.messages.{unknown[0]}: no such kind and level (known: {', '.join(wanted)})")
    messages: dict[tuple[str, str], Message] = {}
    for key, kind in wanted.items():
        for language in LANGUAGES:
            text = doc["messages"].get(key, {}).get(language)
            if text is None:
                raise PolicyError(f"alerts.yaml: alerts.messages.{key}.{language}: required (every recipient reads its own language)")
            for part in ("subject", "body"):
                try:
                    extra = _placeholders(text[part]) - PLACEHOLDERS[kind]
                except ValueError as exc:
                    raise PolicyError(f"alerts.yaml: alerts.messages.{key}.{language}.{part}: {exc}") from None
                if extra:
                    raise PolicyError(f"alerts.yaml: alerts.messages.{key}.{language}.{part}: unknown placeholder {sorted(extra)[0]} "
                                      f"(allowed: {', '.join(sorted(PLACEHOLDERS[kind]))})")
            messages[(key, language)] = Message(subject=text["subject"], body=text["body"])
    return {"alerts": AlertPolicy(**{**partial.__dict__, "messages": messages})}
