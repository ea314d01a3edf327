"""The processing part of the policy (policies/processing.yaml): what the records of processing add to the other
policy files, the activities entrusted to a processor, and the handler's own duties (thresholds and periodic duties);
validated at start-up by govern.policies.load_policy. Every zh/en text it holds is required in both languages, and its
`security_measures` are the organisational and other measures only: the cryptographic ones are generated from the
suite in force and the master-key provider (govern/processing/measures.py), so a measure naming an algorithm or a key
store is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from marshmallow import ValidationError, validate, validates_schema
from marshmallow import fields as ma

from govern.policy import (
    LABEL_LANGUAGES,
    Controller,
    ImpactAssessment,
    Jurisdiction,
    PolicyError,
    Purpose,
    StrictSchema,
    read_yaml,
    required_label,
    validate_file,
)

# A duty's period: days, working days (on a calendar of policies/calendars/), months or years, counted by the calendar.
_PERIOD = re.compile(r"^([1-9][0-9]{0,4})(d|wd|m|y)$")
PERIOD_HELP = "a period like 90d, 30wd (working days), 6m or 2y"

# What the policy's own security measures may not say (without case, as a word: "AES-256-GCM", "HMAC-SHA256", "SM4",
# "SHA-256", "Ed25519", "PKCS#11", "HSM", 硬件安全模块 …): the records' generated measures say it from what runs, and a
# policy's text could contradict the suite in force (govern/processing/measures.py).
_CRYPTOGRAPHY = re.compile(
    r"(?<![A-Za-z0-9])(AES|3?DES|SM[2349]|SHA-?[0-9]*|MD5|HMAC|CMAC|GCM|Ed25519|Ed448|X25519|RSA|ECDSA|ChaCha20|Poly1305|ZUC|PKCS|HSM)(?![A-Za-z])"
    r"|hardware security module|硬件安全模块|密码机",
    re.IGNORECASE,
)
# Any text a record or the duties show, with both languages required at start-up (required_label).
_TEXT = ma.Dict(keys=ma.Str(), values=ma.Str(), load_default=None)


def naming_cryptography(text: str) -> str | None:
    """The algorithm or key store `text` names, or None (a policy's security measure may name neither)."""
    m = _CRYPTOGRAPHY.search(text)
    return m.group(0) if m else None


@dataclass(frozen=True)
class DutyPeriod:
    """A duty's interval or time limit in the law's own unit: `d` days, `wd` working days, `m` months, `y` years."""

    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @classmethod
    def parse(cls, text: str) -> "DutyPeriod":
        m = _PERIOD.match(text)
        if m is None:
            raise ValueError(PERIOD_HELP)
        return cls(int(m.group(1)), m.group(2))


@dataclass(frozen=True)
class Entrustment:
    """An activity entrusted to a processor (PIPL Art. 21; GDPR Art. 28): who, where, under which agreement, and the
    impact assessment done before entrusting (PIPL Art. 55(3)) — its own or the purpose's."""

    purpose: str
    processor: Mapping[str, str]
    country: str
    agreement: str
    impact_assessment: ImpactAssessment
    source: str


@dataclass(frozen=True)
class Threshold:
    """A duty that applies once govern holds a number of people (PIPL Art. 52, 54 and the CAC measures)."""

    key: str
    label: Mapping[str, str]
    at_least: int  # the duty applies when the number of subjects is >= at_least
    due_within: DutyPeriod | None  # a one-off duty: done within this period of the threshold being reached
    every: DutyPeriod | None  # a recurring duty: again within this period of the last time it was done
    calendar: str | None  # for working days
    source: str


@dataclass(frozen=True)
class PeriodicDuty:
    """A duty the company's data-security policy sets at an interval (drills, access reviews, notice reviews)."""

    key: str
    label: Mapping[str, str]
    every: DutyPeriod
    source: str


@dataclass(frozen=True)
class LogRetentionDuty:
    minimum: str  # a retention period (6m): the audit log's keep_days must cover every such span
    label: Mapping[str, str]
    source: str


@dataclass(frozen=True)
class ProcessingPolicy:
    """policies/processing.yaml: what the records of processing add to the other policy files."""

    impact_assessment_keep_years: int
    impact_assessment_source: str
    data_subjects: Mapping[str, str]
    security_measures: Mapping[str, list[str]]  # the organisational and other ones: the records generate the cryptographic ones
    entrusted: Mapping[str, Entrustment] = None  # type: ignore[assignment]
    eu_representative_source: str = ""
    thresholds: tuple[Threshold, ...] = ()
    periodic: tuple[PeriodicDuty, ...] = ()
    log_retention: LogRetentionDuty | None = None

    @property
    def duty_keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.thresholds) + tuple(p.key for p in self.periodic)


def _period_field(**kw):
    return ma.Str(validate=validate.Regexp(_PERIOD, error=PERIOD_HELP), **kw)


class _ImpactAssessmentsSchema(StrictSchema):
    keep_years = ma.Int(required=True, validate=validate.Range(min=3, error="at least 3 years (PIPL Art. 56)"))
    source = ma.Str(required=True)


class _AssessmentSchema(StrictSchema):
    reference = ma.Str(required=True, validate=validate.Length(1, 100))
    assessed_at = ma.Date(required=True)
    approved_by = ma.Str(required=True, validate=validate.Length(1, 100))


class _EntrustedSchema(StrictSchema):
    processor = _TEXT
    country = ma.Str(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    agreement = ma.Str(load_default=None, validate=validate.Length(1, 100))
    impact_assessment = ma.Nested(_AssessmentSchema, load_default=None)
    source = ma.Str(required=True)


class _EuRepresentativeSchema(StrictSchema):
    required_for_jurisdictions = ma.List(ma.Str(), required=True)
    unless_established_in = ma.List(ma.Str(validate=validate.Regexp(r"^[A-Z]{2}$")), required=True)
    source = ma.Str(required=True)


class _ThresholdSchema(StrictSchema):
    label = _TEXT
    subjects_at_least = ma.Int(load_default=None, validate=validate.Range(min=1))
    subjects_more_than = ma.Int(load_default=None, validate=validate.Range(min=0))
    due_within = _period_field(load_default=None)
    every = _period_field(load_default=None)
    calendar = ma.Str(load_default=None)
    source = ma.Str(required=True)

    @validates_schema
    def _one_of_each(self, data, **_):
        if (data.get("subjects_at_least") is None) == (data.get("subjects_more_than") is None):
            raise ValidationError("exactly one of subjects_at_least, subjects_more_than")
        if (data.get("due_within") is None) == (data.get("every") is None):
            raise ValidationError("exactly one of due_within (a one-off duty) or every (a recurring one)")


class _PeriodicSchema(StrictSchema):
    label = _TEXT
    every = _period_field(required=True)
    source = ma.Str(required=True)


class _LogRetentionSchema(StrictSchema):
    minimum = ma.Str(required=True, validate=validate.Regexp(r"^[1-9][0-9]{0,4}[dmy]$", error="a period like 184d or 6m"))
    label = _TEXT
    source = ma.Str(required=True)


class _DutiesSchema(StrictSchema):
    thresholds = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$")), values=ma.Nested(_ThresholdSchema), required=True)
    periodic = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$")), values=ma.Nested(_PeriodicSchema), required=True)
    log_retention = ma.Nested(_LogRetentionSchema, required=True)


class ProcessingFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    impact_assessments = ma.Nested(_ImpactAssessmentsSchema, required=True)
    data_subjects = _TEXT
    security_measures = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.List(ma.Str(), validate=validate.Length(min=1)), required=True)
    entrusted = ma.Dict(keys=ma.Str(), values=ma.Nested(_EntrustedSchema), load_default=dict)
    eu_representative = ma.Nested(_EuRepresentativeSchema, required=True)
    handler_duties = ma.Nested(_DutiesSchema, required=True)


def _entrustment(name: str, e: Mapping[str, Any], purposes: Mapping[str, Purpose]) -> Entrustment:
    where = f"processing.yaml: entrusted.{name}"
    purpose = purposes.get(name)
    if purpose is None:
        raise PolicyError(f"{where}: no such purpose in purposes.yaml")
    # PIPL Art. 21: the entrusting agreement; Art. 55(3): an impact assessment before entrusting.
    if not e.get("agreement"):
        raise PolicyError(f"{where}.agreement: required (the processing agreement's reference, PIPL Art. 21; GDPR Art. 28(3))")
    assessment = ImpactAssessment(**e["impact_assessment"]) if e.get("impact_assessment") else purpose.impact_assessment
    if assessment is None:
        raise PolicyError(f"{where}.impact_assessment: required (entrusting processing to a processor, PIPL Art. 55(3))")
    processor = required_label(where, e.get("processor"), "processor", key="processor")
    return Entrustment(name, processor, e["country"], e["agreement"], assessment, e["source"])


def _threshold(key: str, t: Mapping[str, Any], calendars_dir: Path) -> Threshold:
    at_least = t["subjects_at_least"] if t.get("subjects_at_least") is not None else t["subjects_more_than"] + 1
    due_within = DutyPeriod.parse(t["due_within"]) if t.get("due_within") else None
    every = DutyPeriod.parse(t["every"]) if t.get("every") else None
    if any(p is not None and p.unit == "wd" for p in (due_within, every)):
        if not t.get("calendar") or not (calendars_dir / f"{t['calendar']}.yaml").exists():
            raise PolicyError(f"processing.yaml: handler_duties.thresholds.{key}.calendar: working days need a calendar of policies/calendars/")
    label = required_label(f"processing.yaml: handler_duties.thresholds.{key}", t.get("label"), "duty")
    return Threshold(key, label, at_least, due_within, every, t.get("calendar"), t["source"])


def _security_measures(measures: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The organisational and other measures, in both languages, none naming an algorithm or a key store."""
    where = "processing.yaml: security_measures"
    missing = [lang for lang in LABEL_LANGUAGES if not measures.get(lang)]
    if missing:
        raise PolicyError(f"{where}: give the organisational security measures in both languages, {{zh: [...], en: [...]}} (missing {' and '.join(missing)})")
    for lang in LABEL_LANGUAGES:
        for i, text in enumerate(measures[lang]):
            named = naming_cryptography(text)
            if named is not None:
                raise PolicyError(
                    f"{where}.{lang}.{i}: names a cryptographic algorithm or key store ({named!r} in {text!r}): the records of "
                    "processing generate the cryptographic measures from the suite in force (crypto.yaml crypto.suite) and "
                    "the master-key provider (GOVERN_KEK), so this text could contradict them; keep only organisational and "
                    "other measures here"
                )
    return {lang: list(measures[lang]) for lang in LABEL_LANGUAGES}


def load_processing_policy(
    directory: Path, *, purposes: Mapping[str, Purpose], controller: Controller, jurisdictions: Mapping[str, Jurisdiction],
) -> dict[str, Any]:
    doc = validate_file("processing", read_yaml(directory / "processing.yaml"), ProcessingFileSchema())
    entrusted = {name: _entrustment(name, e, purposes) for name, e in sorted(doc["entrusted"].items())}
    rep = doc["eu_representative"]
    # GDPR Art. 27(1): a controller outside the Union serving people in it names a representative there.
    if any(j in jurisdictions for j in rep["required_for_jurisdictions"]) and controller.country not in rep["unless_established_in"] \
            and controller.eu_representative is None:
        raise PolicyError(f"controller.yaml: controller.eu_representative: required ({rep['source']})")
    duties = doc["handler_duties"]
    thresholds = tuple(_threshold(key, t, directory / "calendars") for key, t in sorted(duties["thresholds"].items()))
    periodic = tuple(
        PeriodicDuty(key, required_label(f"processing.yaml: handler_duties.periodic.{key}", p.get("label"), "duty"), DutyPeriod.parse(p["every"]), p["source"])
        for key, p in sorted(duties["periodic"].items())
    )
    clash = {t.key for t in thresholds} & {p.key for p in periodic}
    if clash:
        raise PolicyError(f"processing.yaml: handler_duties: {', '.join(sorted(clash))} is both a threshold and a periodic duty")
    lr = duties["log_retention"]
    return {"processing": ProcessingPolicy(
        impact_assessment_keep_years=doc["impact_assessments"]["keep_years"],
        impact_assessment_source=doc["impact_assessments"]["source"],
        data_subjects=required_label("processing.yaml: data_subjects", doc.get("data_subjects"), "data subjects", key="",
                                     what="the categories of data subjects"),
        security_measures=_security_measures(doc["security_measures"]),
        entrusted=entrusted,
        eu_representative_source=rep["source"],
        thresholds=thresholds,
        periodic=periodic,
        log_retention=LogRetentionDuty(lr["minimum"], required_label("processing.yaml: handler_duties.log_retention", lr.get("label"), "duty"), lr["source"]),
    )}


def keep_until(start: date, years: int) -> date:
    """`years` calendar years after `start` (29 February → 28 February)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)
