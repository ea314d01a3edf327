"""The retention part of the policy (policies/retention.yaml): one rule per catalog field and record type, the
closed-account grace period and the legal-hold reasons, cross-checked against the catalog; validated at start-up by
govern.policies.load_policy."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import Catalog, Label, PolicyError, StrictSchema, read_yaml, required_label, validate_file
from govern.subject_requests.policy import WorkingCalendar, load_calendar
from govern.timeutil import add_months, months_cutoff, months_later


@dataclass(frozen=True)
class RetentionPeriod:
    """A retention period from retention.yaml: `90d`, `15wd`, `18m` or `3y`, counted in the law's own units: days as
    days, working days on a working-day calendar of policies/calendars/ (`calendar`), months and years by the calendar
    (`govern.timeutil.months_later`), never approximated in days. `end` is the one arithmetic; `cutoff` (what a
    purge's query compares with) is its exact inverse: `end(start) <= now` exactly when `start <= cutoff(now)`.

    Working days: the day of the event is day 0 and the period runs to the end (midnight, UTC) of the n-th working day
    after it, as request deadlines count them (GB/T 35273-2020 §8.5: 15 working days). A year the calendar does not
    list is counted on its weekdays (Monday to Friday): a purge is never stopped by a calendar not yet updated, and
    `provisional` says when a period was counted so."""

    amount: int
    unit: str  # d | wd | m | y
    calendar: WorkingCalendar | None = field(default=None, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def months(self) -> int:
        return self.amount * (12 if self.unit == "y" else 1)

    def last_day(self, start: datetime) -> date:
        """The date the period ends on: n days later, the n-th working day after, or the same date n months later (the
        last day of that month when it has none: six months from 31 August ends on the last day of February)."""
        if self.unit == "d":
            return (start + timedelta(days=self.amount)).date()
        if self.unit == "wd":
            return self._working_day_after(start.date())
        return add_months(start.date(), self.months)

    def end(self, start: datetime) -> datetime:
        """The instant the period has run: `start` plus n days; the end of the n-th working day; or the same time on
        `last_day`, and when that month has no such date, the end of its last day (the next midnight)."""
        if self.unit == "d":
            return start + timedelta(days=self.amount)
        if self.unit == "wd":
            return datetime.combine(self.last_day(start) + timedelta(days=1), time.min, tzinfo=start.tzinfo)
        return months_later(start, self.months)

    def cutoff(self, now: datetime) -> datetime:
        """The latest start whose period has run by `now` (the inverse of `end`): anything counted from on or before it
        is due."""
        if self.unit == "d":
            return now - timedelta(days=self.amount)
        if self.unit == "wd":
            # The latest day whose n-th working day after it ended before today began; the period is monotone in its
            # start, so step back from yesterday (at most n working days and the holidays between them).
            day = now.date() - timedelta(days=1)
            while self._working_day_after(day) >= now.date():
                day -= timedelta(days=1)
            return datetime.combine(day, time.max, tzinfo=now.tzinfo)
        return months_cutoff(now, self.months)

    def provisional(self, start: datetime) -> bool:
        """Counted in working days over a year the calendar lists as provisional or does not list at all."""
        if self.unit != "wd" or self.calendar is None:
            return False
        day, last = start.date(), self.last_day(start)
        while day <= last:
            if day.year not in self.calendar.years or self.calendar.is_provisional(day):
                return True
            day += timedelta(days=1)
        return False

    def _working_day_after(self, start: date) -> date:
        cal = self.calendar
        day, counted = start, 0
        while counted < self.amount:
            day += timedelta(days=1)
            if cal is None:
                counted += day.weekday() < 5
            else:
                # A year the calendar lists: its holidays and working weekends; any other year: its weekdays.
                counted += cal.is_working_day(day)
        return day

    def longest(self) -> timedelta:
        """The most this period can last (31 days for a month, 366 for a year), by the same arithmetic."""
        return max(self._lengths())

    def shortest(self) -> timedelta:
        return min(self._lengths())

    def _lengths(self) -> list[timedelta]:
        if self.unit == "d":
            return [timedelta(days=self.amount)]
        if self.unit == "wd":
            # Every start over the years the calendar lists (and the weekdays of one more), the start at midnight.
            years = sorted(self.calendar.years) if self.calendar is not None and self.calendar.years else [2000]
            first = datetime(years[0], 1, 1, tzinfo=timezone.utc)
            span = (date(years[-1] + 1, 12, 31) - first.date()).days
            return [self.end(first + timedelta(days=i)) - (first + timedelta(days=i)) for i in range(span)]
        # Four years from 2000 hold every month length and a leap day; a longer period repeats them.
        first = datetime(2000, 1, 1, tzinfo=timezone.utc)
        return [self.end(first + timedelta(days=i)) - (first + timedelta(days=i)) for i in range(4 * 366)]


@dataclass(frozen=True)
class RetentionRule:
    """One rule of retention.yaml: what it covers, how long, counted from what, and on what legal basis."""

    name: str
    target: str  # fields | record_types
    names: frozenset[str]
    keep: RetentionPeriod
    counted_from: str  # collection | occurred_at | last_interaction | account_closure
    on_account_closure: str  # purge | keep
    legal_basis_code: str
    legal_basis_text: str
    label: Mapping[str, str] = field(hash=False)  # its name in words, {"zh": …, "en": …}: how the console names it


@dataclass(frozen=True)
class Obligation:
    """retention.yaml `obligations`: a law of a jurisdiction that obliges the handler to keep some record types or
    fields for a period, counted from an event. It keeps them from an erasure, an account closure, a withdrawal and
    their own rule's end, for subjects of that jurisdiction (and member state) only; the longest running wins."""

    name: str
    target: str  # fields | record_types
    names: frozenset[str]
    jurisdictions: frozenset[str]
    member_states: frozenset[str] | None  # None: every member state (and subjects with none recorded)
    keep: RetentionPeriod
    counted_from: str  # collection | occurred_at | end_of_year (the end of the calendar year of occurred_at)
    code: str
    text: str
    source: str
    label: Mapping[str, str] = field(hash=False)  # its name in words, {"zh": …, "en": …}: why the console says an item is kept

    def applies(self, jurisdiction: str, member_state: str | None) -> bool:
        return jurisdiction in self.jurisdictions and (self.member_states is None or (member_state or "") in self.member_states)

    def start(self, occurred: datetime, created: datetime) -> datetime:
        """When the period starts for an item that occurred (fields: was collected) at `occurred`."""
        if self.counted_from == "end_of_year":
            return datetime(occurred.year + 1, 1, 1, tzinfo=occurred.tzinfo or timezone.utc)
        return created if self.counted_from == "collection" and self.target == "record_types" else occurred

    def citation(self) -> str:
        where = ", ".join(sorted(self.jurisdictions)) + (f" ({', '.join(sorted(self.member_states))})" if self.member_states else "")
        return f"{self.code} [{where}]: {self.text}"


@dataclass(frozen=True)
class WithdrawalRule:
    """retention.yaml `consent_withdrawn`: data a withdrawn consent leaves without a basis is purged once `keep` has run
    from the withdrawal (PIPL Art. 47 ¶1(3), GDPR Art. 17(1)(b)). A purpose on another basis covers a subject's data
    only while the subject holds a record of one of its `other_bases` types (a contract in being)."""

    keep: RetentionPeriod
    legal_basis_code: str
    legal_basis_text: str
    other_bases: Mapping[str, frozenset[str]]  # purpose -> record types that show its basis holds for a subject


@dataclass(frozen=True)
class RetentionPolicy:
    """policies/retention.yaml: one rule per catalog field and record type, closed accounts, legal-hold reasons."""

    rules: Mapping[str, RetentionRule]
    field_rules: Mapping[str, RetentionRule]  # catalog field -> its rule
    record_rules: Mapping[str, RetentionRule]  # record type -> its rule
    closed_accounts_keep: RetentionPeriod
    closed_accounts_code: str
    closed_accounts_text: str
    hold_reasons: Mapping[str, Mapping[str, str]]
    unattended_purge: bool
    plan_valid_for: RetentionPeriod
    digest: str
    consent_withdrawn: WithdrawalRule | None = None
    obligations: tuple[Obligation, ...] = ()

    def obligations_for(self, target: str, name: str) -> list[Obligation]:
        return [o for o in self.obligations if o.target == target and name in o.names]

    def obligation(self, name: str) -> Obligation | None:
        return next((o for o in self.obligations if o.name == name), None)


_PERIOD = r"^[1-9][0-9]{0,4}(d|wd|m|y)$"
_PERIOD_HELP = "a period like 90d, 15wd (working days, with `calendar`), 18m or 3y"
COUNTED_FROM = {
    "fields": ("collection", "last_interaction", "account_closure"),
    "record_types": ("collection", "occurred_at", "last_interaction", "account_closure"),
}


class LegalBasisRefSchema(StrictSchema):
    code = ma.Str(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"))
    text = ma.Str(required=True, validate=validate.Length(min=3))


class RetentionRuleSchema(StrictSchema):
    label = ma.Dict(keys=ma.Str(), values=ma.Str(), load_default=None)  # checked by required_label, naming the rule
    fields = ma.Raw(load_default=None)
    record_types = ma.Raw(load_default=None)
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error=_PERIOD_HELP))
    counted_from = ma.Str(required=True, validate=validate.OneOf(sorted({c for cs in COUNTED_FROM.values() for c in cs})))
    calendar = ma.Str(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,16}$"))
    on_account_closure = ma.Str(load_default="purge", validate=validate.OneOf(["purge", "keep"]))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)


class ClosedAccountsSchema(StrictSchema):
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error=_PERIOD_HELP))
    calendar = ma.Str(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,16}$"))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)


class OtherBasisSchema(StrictSchema):
    while_records = ma.List(ma.Str(), required=True, validate=validate.Length(min=1))


class ConsentWithdrawnSchema(StrictSchema):
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error=_PERIOD_HELP))
    calendar = ma.Str(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,16}$"))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)
    other_bases = ma.Dict(keys=ma.Str(), values=ma.Nested(OtherBasisSchema), load_default=dict)


class ObligationSchema(StrictSchema):
    label = ma.Dict(keys=ma.Str(), values=ma.Str(), load_default=None)  # checked by required_label, naming the obligation
    fields = ma.Raw(load_default=None)
    record_types = ma.Raw(load_default=None)
    jurisdictions = ma.List(ma.Str(validate=validate.Regexp(r"^[A-Z]{2}(-[A-Z]{2})?$")), required=True, validate=validate.Length(min=1))
    member_states = ma.List(ma.Str(validate=validate.Regexp(r"^[A-Z]{2}$")), load_default=None, validate=validate.Length(min=1))
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error=_PERIOD_HELP))
    calendar = ma.Str(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9-]{1,16}$"))
    counted_from = ma.Str(required=True, validate=validate.OneOf(["collection", "occurred_at", "end_of_year"]))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)
    source = ma.Str(required=True, validate=validate.Length(min=10))


class RetentionFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    unattended_purge = ma.Bool(required=True)
    plan_valid_for = ma.Str(load_default="14d", validate=validate.Regexp(_PERIOD, error=_PERIOD_HELP))
    hold_reasons = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=Label, required=True, validate=validate.Length(min=1))
    closed_accounts = ma.Nested(ClosedAccountsSchema, required=True)
    consent_withdrawn = ma.Nested(ConsentWithdrawnSchema, load_default=None)
    obligations = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(ObligationSchema), load_default=dict)
    rules = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(RetentionRuleSchema), required=True)


def _outlasts(keep: RetentionPeriod, grace: RetentionPeriod) -> bool:
    """Whether `keep`, counted from some closure, can end after `grace` counted from the same closure. Two calendar
    periods compare by months; otherwise the longest `keep` against the shortest `grace` (one of them is a fixed number
    of days, so the comparison is exact: 2m outlasts 61d, since July and August make 62 days)."""
    if keep.unit in ("m", "y") and grace.unit in ("m", "y"):
        return keep.months > grace.months
    return keep.longest() > grace.shortest()


def _period(text: str, calendar: str | None = None, where: str = "", directory: Path | None = None) -> RetentionPeriod:
    """`90d`, `15wd`, `18m`, `3y`; working days need `calendar`, a file of policies/calendars/."""
    unit = text.lstrip("0123456789")
    amount = int(text[: len(text) - len(unit)])
    if unit != "wd":
        if calendar is not None:
            raise PolicyError(f"retention.yaml: {where}.calendar: only a period in working days (wd) is counted on a calendar")
        return RetentionPeriod(amount, unit)
    path = (directory or Path(".")) / "calendars" / f"{calendar}.yaml"
    if calendar is None or not path.exists():
        raise PolicyError(f"retention.yaml: {where}.calendar: a period in working days needs a calendar of policies/calendars/ (e.g. calendar: CN)")
    return RetentionPeriod(amount, unit, load_calendar(path))


def _rule_targets(where: str, spec: Any, known: Mapping[str, Any], what: str) -> frozenset[str]:
    """`[name, …]` or `{names: […], categories: […]}`; every name and category must exist in the catalog."""
    if isinstance(spec, list):
        spec = {"names": spec}
    if not isinstance(spec, dict) or not set(spec) <= {"names", "categories"} or not spec:
        raise PolicyError(f"{where}: expected a list of {what} names or {{names: […], categories: […]}}")
    out: set[str] = set()
    names = spec.get("names") or []
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise PolicyError(f"{where}.names: unknown {what}(s) {', '.join(unknown)} (not in catalog.yaml)")
    out |= set(names)
    for cat in spec.get("categories") or []:
        members = {n for n, r in known.items() if r.category == cat}
        if not members:
            raise PolicyError(f"{where}.categories: category '{cat}' has no {what} in catalog.yaml")
        out |= members
    return frozenset(out)


def _withdrawal(doc: Mapping[str, Any] | None, directory: Path, catalog: Catalog, purposes: Mapping[str, Any] | None) -> WithdrawalRule | None:
    if doc is None:
        return None
    where = "retention.yaml: consent_withdrawn.other_bases"
    for name, basis in doc["other_bases"].items():
        purpose = (purposes or {}).get(name)
        if purposes is not None and purpose is None:
            raise PolicyError(f"{where}.{name}: not a purpose of purposes.yaml")
        if purpose is not None and purpose.legal_basis == "consent":
            raise PolicyError(f"{where}.{name}: rests on consent, which a withdrawal ends; list purposes on another basis (contract)")
        unknown = sorted(set(basis["while_records"]) - set(catalog.record_types))
        if unknown:
            raise PolicyError(f"{where}.{name}.while_records: unknown record type(s) {', '.join(unknown)} (not in catalog.yaml)")
    return WithdrawalRule(
        keep=_period(doc["keep"], doc["calendar"], "consent_withdrawn", directory),
        legal_basis_code=doc["legal_basis"]["code"], legal_basis_text=doc["legal_basis"]["text"],
        other_bases={name: frozenset(b["while_records"]) for name, b in doc["other_bases"].items()},
    )


def _obligations(doc: Mapping[str, Any], directory: Path, catalog: Catalog) -> tuple[Obligation, ...]:
    out = []
    for name, o in doc.items():
        where = f"retention.yaml: obligations.{name}"
        label = required_label(where, o["label"], "obligation")
        targets = [t for t in ("fields", "record_types") if o[t] is not None]
        if len(targets) != 1:
            raise PolicyError(f"{where}: give exactly one of `fields` or `record_types`")
        target = targets[0]
        known = catalog.fields if target == "fields" else catalog.record_types
        names = _rule_targets(f"{where}.{target}", o[target], known, "field" if target == "fields" else "record type")
        if target == "fields" and o["counted_from"] != "collection":
            raise PolicyError(f"{where}.counted_from: fields are counted from collection")
        out.append(Obligation(
            name=name, target=target, names=names, jurisdictions=frozenset(o["jurisdictions"]),
            member_states=frozenset(o["member_states"]) if o["member_states"] else None,
            keep=_period(o["keep"], o["calendar"], f"obligations.{name}", directory), counted_from=o["counted_from"],
            code=o["legal_basis"]["code"], text=o["legal_basis"]["text"], source=o["source"], label=label,
        ))
    return tuple(out)


def load_retention_policy(directory: Path, catalog: Catalog, purposes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """retention.yaml, cross-checked against the catalog: every field and record type has exactly one rule, and no
    rule contradicts another or the closed-account grace period. Refuses naming the gap."""

    path = directory / "retention.yaml"
    doc = validate_file("retention", read_yaml(path), RetentionFileSchema())
    closed_keep = _period(doc["closed_accounts"]["keep"], doc["closed_accounts"]["calendar"], "closed_accounts", directory)
    rules: dict[str, RetentionRule] = {}
    owner: dict[tuple[str, str], str] = {}
    for name, r in doc["rules"].items():
        where = f"retention.yaml: rules.{name}"
        label = required_label(where, r["label"], "rule")
        targets = [t for t in ("fields", "record_types") if r[t] is not None]
        if len(targets) != 1:
            raise PolicyError(f"{where}: give exactly one of `fields` or `record_types`")
        target = targets[0]
        known = catalog.fields if target == "fields" else catalog.record_types
        names = _rule_targets(f"{where}.{target}", r[target], known, "field" if target == "fields" else "record type")
        if r["counted_from"] not in COUNTED_FROM[target]:
            raise PolicyError(f"{where}.counted_from: '{r['counted_from']}' does not apply to {target} (use one of {', '.join(COUNTED_FROM[target])})")
        keep = _period(r["keep"], r["calendar"], f"rules.{name}", directory)
        if r["counted_from"] == "account_closure" and r["on_account_closure"] == "purge" and _outlasts(keep, closed_keep):
            raise PolicyError(
                f"{where}: contradicts closed_accounts: keeps {keep} from account closure, but closed accounts are purged after "
                f"{closed_keep}; shorten it or set on_account_closure: keep (a legal obligation to keep)"
            )
        for item in sorted(names):
            other = owner.get((target, item))
            if other is not None:
                raise PolicyError(f"{where}: contradicts rules.{other}: both cover {target}.{item}; one rule per {target[:-1].replace('_', ' ')}")
            owner[(target, item)] = name
        rules[name] = RetentionRule(
            name=name, target=target, names=names, keep=keep, counted_from=r["counted_from"], on_account_closure=r["on_account_closure"],
            legal_basis_code=r["legal_basis"]["code"], legal_basis_text=r["legal_basis"]["text"], label=label,
        )
    missing = [f"fields.{n}" for n in catalog.fields if ("fields", n) not in owner]
    missing += [f"record_types.{n}" for n in catalog.record_types if ("record_types", n) not in owner]
    if missing:
        raise PolicyError(f"retention.yaml: rules: no retention rule covers catalog {', '.join(missing)}")
    return {"retention": RetentionPolicy(
        rules=rules,
        field_rules={item: rules[rule] for (t, item), rule in owner.items() if t == "fields"},
        record_rules={item: rules[rule] for (t, item), rule in owner.items() if t == "record_types"},
        closed_accounts_keep=closed_keep,
        closed_accounts_code=doc["closed_accounts"]["legal_basis"]["code"],
        closed_accounts_text=doc["closed_accounts"]["legal_basis"]["text"],
        hold_reasons={k: required_label(f"retention.yaml: hold_reasons.{k}", v, "hold reason", key="") for k, v in doc["hold_reasons"].items()},
        unattended_purge=doc["unattended_purge"],
        plan_valid_for=_period(doc["plan_valid_for"]),
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
        consent_withdrawn=_withdrawal(doc["consent_withdrawn"], directory, catalog, purposes),
        obligations=_obligations(doc["obligations"], directory, catalog),
    )}
