"""The requests part of the policy: deadlines per jurisdiction and request type (jurisdictions.yaml `requests:`),
working-day calendars (policies/calendars/) and requests.yaml; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Mapping

from marshmallow import ValidationError, validate
from marshmallow import fields as ma

from govern.policy import Jurisdiction, PolicyError, StrictSchema, flatten_errors, jurisdiction_block, read_yaml, validate_file

# --- data-subject requests (govern/subject_requests) ------------------------------------------------------
# jurisdictions.yaml `requests:` (deadlines per jurisdiction and request type, each with its source),
# policies/calendars/<name>.yaml (working-day calendars, as data) and policies/requests.yaml (global settings).

REQUEST_TYPES = (
    "access", "rectification", "erasure", "restriction", "portability", "objection", "withdrawal", "account_closure", "complaint",
)
VERIFICATION_METHODS = ("crm_session", "otp", "document")
PERIOD_UNITS = ("calendar_days", "business_days", "working_days", "months")
_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass(frozen=True)
class Period:
    """A time limit: `period` units of `unit` (calendar_days, business_days, working_days, months)."""

    period: int
    unit: str
    source: str = ""


@dataclass(frozen=True)
class ExtensionRule:
    period: int
    unit: str
    max_times: int
    reason_required: bool
    source: str


@dataclass(frozen=True)
class RequestRule:
    """The deadlines of one request type in one jurisdiction (default merged with the type's own entry)."""

    type: str
    respond: Period
    acknowledge: Period | None
    extension: ExtensionRule | None
    pause_allowed: bool
    pause_source: str
    verification_required: bool
    verification_source: str


@dataclass(frozen=True)
class RequestTerms:
    jurisdiction: str
    time_zone: str
    calendar: str | None
    complaint: Mapping[str, str]  # zh, en: how to complain, told with every refusal
    complaint_source: str
    rules: Mapping[str, RequestRule]


@dataclass(frozen=True)
class CalendarYear:
    year: int
    status: str  # published | provisional
    source: str


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days as data: weekends, public holidays and adjusted working weekends (调休上班), per year."""

    name: str
    weekend: frozenset[int]
    holidays: Mapping[Any, str]  # date -> holiday name (en)
    working_weekends: frozenset[Any]
    years: Mapping[int, CalendarYear]
    bounded: bool  # True: a date in a year not listed cannot be counted (refused, never guessed)

    def covers(self, day) -> bool:
        return not self.bounded or day.year in self.years

    def is_working_day(self, day) -> bool:
        if day in self.working_weekends:
            return True
        if day in self.holidays:
            return False
        return day.weekday() not in self.weekend

    def is_provisional(self, day) -> bool:
        year = self.years.get(day.year)
        return year is not None and year.status != "published"


@dataclass(frozen=True)
class RequestSettings:
    due_soon_days: int
    max_failures: int
    otp_digits: int
    otp_valid_minutes: int
    otp_max_attempts: int
    verification_source: str
    unverified_close_after: Period
    unverified_source: str
    package_download_hours: int
    package_source: str
    package_token_valid_minutes: int
    # Verification methods whose check does not pass through the filing service: only these let a download token carry
    # the full copy; after any other method the copy holds no more than the filing service may read itself.
    package_full_copy_methods: frozenset[str]
    log_retain_months: int
    log_source: str
    # Times entered afterwards (a letter's receipt, a step done outside govern): staff only, with a reason.
    clock_skew_minutes: int = 5
    recorded_times_source: str = ""
    # PIPL Art. 49: who may act for a deceased subject, and for which request types.
    next_of_kin_relationships: tuple[str, ...] = ()
    next_of_kin_types: frozenset[str] = frozenset()
    next_of_kin_source: str = ""


class _PeriodSchema(StrictSchema):
    period = ma.Int(required=True, validate=validate.Range(min=1, max=3650))
    unit = ma.Str(required=True, validate=validate.OneOf(PERIOD_UNITS))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _ExtensionSchema(_PeriodSchema):
    max_times = ma.Int(required=True, validate=validate.Range(min=1, max=10))
    reason_required = ma.Bool(required=True)


class _PauseSchema(StrictSchema):
    allowed = ma.Bool(required=True)
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _VerificationSchema(StrictSchema):
    required = ma.Bool(required=True)
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _RuleSchema(StrictSchema):
    respond = ma.Nested(_PeriodSchema)
    acknowledge = ma.Nested(_PeriodSchema, allow_none=True)
    extension = ma.Nested(_ExtensionSchema, allow_none=True)
    pause = ma.Nested(_PauseSchema)
    verification = ma.Nested(_VerificationSchema)


class _ComplaintSchema(StrictSchema):
    zh = ma.Str(required=True, validate=validate.Length(min=3))
    en = ma.Str(required=True, validate=validate.Length(min=3))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _TermsSchema(StrictSchema):
    time_zone = ma.Str(required=True)
    calendar = ma.Str(required=True, allow_none=True)
    complaint = ma.Nested(_ComplaintSchema, required=True)
    default = ma.Nested(_RuleSchema, required=True)
    types = ma.Dict(keys=ma.Str(validate=validate.OneOf(REQUEST_TYPES)), values=ma.Nested(_RuleSchema), load_default=dict)


class _RequestSettingsSchema(StrictSchema):
    class _Queue(StrictSchema):
        due_soon_days = ma.Int(required=True, validate=validate.Range(min=0, max=60))

    class _Verification(StrictSchema):
        max_failures = ma.Int(required=True, validate=validate.Range(min=1, max=20))
        otp_digits = ma.Int(required=True, validate=validate.Range(min=6, max=10))
        otp_valid_minutes = ma.Int(required=True, validate=validate.Range(min=1, max=1440))
        otp_max_attempts = ma.Int(required=True, validate=validate.Range(min=1, max=10))
        source = ma.Str(required=True)

    class _Unverified(StrictSchema):
        close_after = ma.Dict(required=True)
        source = ma.Str(required=True)

    class _Package(StrictSchema):
        download_hours = ma.Int(required=True, validate=validate.Range(min=1, max=24 * 30))
        token_valid_minutes = ma.Int(required=True, validate=validate.Range(min=1, max=24 * 60))
        full_copy_methods = ma.List(ma.Str(validate=validate.OneOf(VERIFICATION_METHODS)), required=True)
        source = ma.Str(required=True)

    class _RecordedTimes(StrictSchema):
        clock_skew_minutes = ma.Int(required=True, validate=validate.Range(min=0, max=60))
        source = ma.Str(required=True, validate=validate.Length(min=3))

    class _NextOfKin(StrictSchema):
        relationships = ma.List(ma.Str(validate=validate.Regexp(r"^[a-z_]{3,32}$")), required=True, validate=validate.Length(min=1))
        request_types = ma.List(ma.Str(validate=validate.OneOf(REQUEST_TYPES)), required=True, validate=validate.Length(min=1))
        source = ma.Str(required=True, validate=validate.Length(min=3))

    class _Log(StrictSchema):
        retain_months = ma.Int(required=True, validate=validate.Range(min=24, max=240, error="at least 24 months (CCPA regs §7101)"))
        source = ma.Str(required=True)

    version = ma.Int(required=True, validate=validate.Equal(1))
    queue = ma.Nested(_Queue, required=True)
    verification = ma.Nested(_Verification, required=True)
    unverified = ma.Nested(_Unverified, required=True)
    package = ma.Nested(_Package, required=True)
    request_log = ma.Nested(_Log, required=True)
    recorded_times = ma.Nested(_RecordedTimes, required=True)
    next_of_kin = ma.Nested(_NextOfKin, required=True)


def load_calendar(path: Path) -> WorkingCalendar:
    """A working-day calendar of policies/calendars/ (weekend, holidays and working weekends per year), checked: the
    requests' deadlines and retention's periods in working days count on it (PolicyError when it is wrong)."""
    where = f"calendars/{path.name}"
    doc = read_yaml(path)
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise PolicyError(f"{where}: expected a mapping with version: 1")
    if doc.get("name") != path.stem:
        raise PolicyError(f"{where}: name: must be '{path.stem}' (the file's name)")
    weekend = doc.get("weekend")
    if not isinstance(weekend, list) or any(d not in _DAY_NAMES for d in weekend):
        raise PolicyError(f"{where}: weekend: a list of mon…sun")
    if not isinstance(doc.get("bounded"), bool):
        raise PolicyError(f"{where}: bounded: true or false")
    years_doc = doc.get("years")
    if not isinstance(years_doc, dict):
        raise PolicyError(f"{where}: years: a mapping of year -> {{status, source, holidays, working_weekends}}")
    weekend_days = frozenset(_DAY_NAMES[d] for d in weekend)
    holidays: dict[date, str] = {}
    working: set[date] = set()
    years: dict[int, CalendarYear] = {}
    for year, y in years_doc.items():
        at = f"{where}: years.{year}"
        if not isinstance(year, int) or not isinstance(y, dict):
            raise PolicyError(f"{at}: expected a year number and a mapping")
        if y.get("status") not in ("published", "provisional"):
            raise PolicyError(f"{at}.status: published or provisional")
        if not isinstance(y.get("source"), str) or len(y["source"]) < 10:
            raise PolicyError(f"{at}.source: name the State Council notice (or why the year is provisional)")
        for i, h in enumerate(y.get("holidays") or []):
            start, end = (h or {}).get("from"), (h or {}).get("to")
            if not isinstance(start, date) or not isinstance(end, date) or start > end or start.year != year or end.year != year:
                raise PolicyError(f"{at}.holidays[{i}]: from/to must be dates in {year}, from <= to")
            name = (h.get("name") or {}).get("en") if isinstance(h.get("name"), dict) else None
            if not name or not (h.get("name") or {}).get("zh"):
                raise PolicyError(f"{at}.holidays[{i}].name: zh and en")
            day = start
            while day <= end:
                holidays[day] = name
                day += timedelta(days=1)
        for i, d in enumerate(y.get("working_weekends") or []):
            if not isinstance(d, date) or d.year != year:
                raise PolicyError(f"{at}.working_weekends[{i}]: a date in {year}")
            if d.weekday() not in weekend_days:
                raise PolicyError(f"{at}.working_weekends[{i}]: {d} is not a weekend day")
            if d in holidays:
                raise PolicyError(f"{at}.working_weekends[{i}]: {d} is also listed as a holiday")
            working.add(d)
        years[year] = CalendarYear(year=year, status=y["status"], source=y["source"])
    return WorkingCalendar(
        name=path.stem, weekend=weekend_days, holidays=holidays, working_weekends=frozenset(working), years=years, bounded=doc["bounded"],
    )


def load_request_policy(directory: Path, jurisdictions: Mapping[str, Jurisdiction]) -> dict[str, Any]:
    """The request-deadline keys of jurisdictions.yaml, the calendars they name and requests.yaml; refuses naming the gap."""

    calendars = {p.stem: load_calendar(p) for p in sorted((directory / "calendars").glob("*.yaml"))}
    terms: dict[str, RequestTerms] = {}
    for code, jur in jurisdictions.items():
        where = f"jurisdictions.yaml: jurisdictions.{code}.requests"
        doc = jurisdiction_block(jur, "requests", _TermsSchema(), where, "its request deadlines")
        if doc["calendar"] is not None and doc["calendar"] not in calendars:
            raise PolicyError(f"{where}.calendar: no file policies/calendars/{doc['calendar']}.yaml")
        default = doc["default"]
        missing = [k for k in ("respond", "acknowledge", "extension", "pause", "verification") if k not in default]
        if missing:
            raise PolicyError(f"{where}.default: missing {', '.join(missing)} (null where the law sets none)")
        rules: dict[str, RequestRule] = {}
        for rtype in REQUEST_TYPES:
            merged = {**default, **doc["types"].get(rtype, {})}
            for key in ("respond", "acknowledge", "extension"):
                period = merged[key]
                if period and period["unit"] in ("business_days", "working_days") and doc["calendar"] is None:
                    raise PolicyError(f"{where}: {rtype}.{key} counts {period['unit']}: name a calendar")
            if merged["respond"] is None:
                raise PolicyError(f"{where}: {rtype}.respond: required")
            ext = merged["extension"]
            ack = merged["acknowledge"]
            rules[rtype] = RequestRule(
                type=rtype,
                respond=Period(**merged["respond"]),
                acknowledge=Period(**ack) if ack else None,
                extension=ExtensionRule(**ext) if ext else None,
                pause_allowed=merged["pause"]["allowed"], pause_source=merged["pause"]["source"],
                verification_required=merged["verification"]["required"], verification_source=merged["verification"]["source"],
            )
        complaint = doc["complaint"]
        terms[code] = RequestTerms(
            jurisdiction=code, time_zone=doc["time_zone"], calendar=doc["calendar"], complaint={"zh": complaint["zh"], "en": complaint["en"]},
            complaint_source=complaint["source"], rules=rules,
        )
    s = validate_file("requests", read_yaml(directory / "requests.yaml"), _RequestSettingsSchema())
    try:
        close_after = _PeriodSchema().load({**s["unverified"]["close_after"], "source": s["unverified"]["source"]})
    except ValidationError as exc:
        raise PolicyError("requests.yaml: unverified.close_after: " + "; ".join(flatten_errors(exc.messages))) from None
    if close_after["unit"] in ("business_days", "working_days"):
        raise PolicyError("requests.yaml: unverified.close_after.unit: calendar_days or months (it applies to every jurisdiction)")
    v = s["verification"]
    settings = RequestSettings(
        due_soon_days=s["queue"]["due_soon_days"], max_failures=v["max_failures"], otp_digits=v["otp_digits"],
        otp_valid_minutes=v["otp_valid_minutes"], otp_max_attempts=v["otp_max_attempts"], verification_source=v["source"],
        unverified_close_after=Period(**close_after), unverified_source=s["unverified"]["source"],
        package_download_hours=s["package"]["download_hours"], package_source=s["package"]["source"],
        package_token_valid_minutes=s["package"]["token_valid_minutes"], package_full_copy_methods=frozenset(s["package"]["full_copy_methods"]),
        log_retain_months=s["request_log"]["retain_months"], log_source=s["request_log"]["source"],
        clock_skew_minutes=s["recorded_times"]["clock_skew_minutes"], recorded_times_source=s["recorded_times"]["source"],
        next_of_kin_relationships=tuple(s["next_of_kin"]["relationships"]), next_of_kin_types=frozenset(s["next_of_kin"]["request_types"]),
        next_of_kin_source=s["next_of_kin"]["source"],
    )
    return {"request_terms": terms, "calendars": calendars, "requests": settings}
