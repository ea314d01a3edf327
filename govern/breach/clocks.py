"""Which notifications the law requires of an incident, and by when: a pure function of the facts and of
jurisdictions.yaml (`breach:`), so each clock and exemption can be checked against worked examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Mapping
from zoneinfo import ZoneInfo

from govern.breach.policy import BreachNotificationRule
from govern.policy import Policy
from govern.timeutil import as_utc

RISKS = ("unlikely", "risk", "high", "unknown")


@dataclass(frozen=True)
class Facts:
    """What the derivation needs: the incident's times, people per jurisdiction, the assessed risk and exemptions."""

    aware_at: datetime
    detected_at: datetime
    contained_at: datetime | None = None
    critical_infrastructure: bool = False
    people: Mapping[str, int] = field(default_factory=dict)  # jurisdiction -> number of people
    risk: str = "unknown"  # unlikely | risk | high | unknown (not assessed yet)
    exemptions: frozenset[str] = frozenset()  # encrypted_key_safe | measures_avoid_harm | disproportionate_effort
    sent: Mapping[str, datetime] = field(default_factory=dict)  # notification key -> when it was (first) sent

    @property
    def people_total(self) -> int:
        return sum(self.people.values())


@dataclass(frozen=True)
class Derived:
    key: str
    jurisdiction: str
    recipient: str
    status: str  # required | not_required | exempt | unknown
    reason: str
    people: int
    due_at: datetime | None
    provisional: bool  # due counted from an anchor not reached yet (its own due time), or the anchor is still ahead
    rule: BreachNotificationRule


def _add(anchor: datetime, period: int, unit: str, zone: ZoneInfo) -> datetime:
    if unit == "hours":
        return anchor + timedelta(hours=period)
    # Calendar days: the whole last day counts, to midnight where the law applies.
    local = as_utc(anchor).astimezone(zone).date() + timedelta(days=period)
    return datetime.combine(local, time.max, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _deps(rule: BreachNotificationRule) -> set[str]:
    anchor = rule.deadline.anchor
    return {d for d in (rule.requires, anchor[5:] if anchor.startswith("sent:") else None) if d}


def _order(rules: Mapping[str, BreachNotificationRule]) -> list[str]:
    """Rules after the ones they depend on (`requires`, `from: sent:<key>`)."""
    done: list[str] = []
    pending = list(rules)
    while pending:
        ready = [k for k in pending if _deps(rules[k]) <= set(done)]
        if not ready:
            raise ValueError(f"breach notifications depend on each other in a loop: {', '.join(pending)}")
        done += ready
        pending = [k for k in pending if k not in ready]
    return done


def derive(*, policy: Policy, facts: Facts) -> list[Derived]:
    """Every notification of every jurisdiction with affected people, with its status, reason and due time."""
    out: list[Derived] = []
    for code, terms in policy.breach_terms.items():
        people = facts.people.get(code, 0)
        if people <= 0:
            continue
        zone = ZoneInfo(terms.time_zone)
        by_key: dict[str, Derived] = {}
        for key in _order(terms.notifications):
            rule = terms.notifications[key]
            status, reason = _status(rule, facts, people, by_key)
            due, provisional = _due(rule, facts, zone, by_key)
            by_key[key] = Derived(
                key=key, jurisdiction=code, recipient=rule.recipient, status=status, reason=reason, people=people, due_at=due,
                provisional=provisional, rule=rule,
            )
        out.extend(by_key[k] for k in terms.notifications)
    return out


def _status(rule: BreachNotificationRule, facts: Facts, people: int, earlier: Mapping[str, Derived]) -> tuple[str, str]:
    if rule.requires:
        first = earlier[rule.requires]
        if first.status != "required":
            return ("unknown" if first.status == "unknown" else "not_required"), f"only when {rule.requires} is required ({first.status})"
    if rule.when == "risk":
        if facts.risk == "unlikely":
            return "not_required", f"the breach is assessed unlikely to result in a risk ({rule.source})"
        reason = "risk not assessed yet: treated as required" if facts.risk == "unknown" else f"risk assessed {facts.risk}"
    elif rule.when == "high_risk":
        if facts.risk == "unknown":
            return "unknown", "risk not assessed yet: required if the risk is high"
        if facts.risk != "high":
            return "not_required", f"risk assessed {facts.risk}, not high ({rule.source})"
        reason = "risk assessed high"
    elif rule.when == "threshold":
        t = rule.threshold
        assert t is not None
        counted = people if t.count == "jurisdiction" else facts.people_total
        if counted < t.min_people:
            return "not_required", f"{counted} people < {t.min_people} ({t.source})"
        reason = f"{counted} people >= {t.min_people} ({t.source})"
    else:
        reason = f"always ({rule.source})"
    applied = [f"{name}: {source}" for name, source in rule.exemptions.items() if name in facts.exemptions]
    if applied:
        return "exempt", "; ".join(applied)
    return "required", reason


def _due(rule: BreachNotificationRule, facts: Facts, zone: ZoneInfo, earlier: Mapping[str, Derived]) -> tuple[datetime | None, bool]:
    d = rule.deadline
    if d.period is None:
        return None, False
    period = d.critical_infrastructure_period if facts.critical_infrastructure and d.critical_infrastructure_period else d.period
    provisional = False
    if d.anchor == "aware":
        anchor = facts.aware_at
    elif d.anchor == "detected":
        anchor = facts.detected_at
    elif d.anchor == "contained":
        anchor = facts.contained_at
    else:
        other = d.anchor[5:]
        anchor = facts.sent.get(other)
        if anchor is None:
            # Not sent yet: the latest it may be sent is its own due time, so this one is due at the latest then + period.
            anchor, provisional = earlier[other].due_at, True
    if anchor is None:
        return None, True
    return _add(as_utc(anchor), period, d.unit, zone), provisional


@dataclass(frozen=True)
class Clock:
    due_at: datetime | None
    seconds_left: int | None
    overdue: bool
    sent_late: bool


def clock(*, status: str, due_at: datetime | None, sent_at: datetime | None, now: datetime) -> Clock:
    """Time left and overdue for one notification; only a required, unsent notification can be overdue."""
    due = as_utc(due_at) if due_at else None
    sent = as_utc(sent_at) if sent_at else None
    if due is None:
        return Clock(None, None, False, False)
    if sent is not None:
        return Clock(due, None, False, sent > due)
    left = int((due - now).total_seconds())
    return Clock(due, left, status in ("required", "unknown") and left < 0, False)
