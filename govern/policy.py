"""The policy's types and the kernel's building blocks: Policy and its kernel parts, the schemas of the kernel files
(catalog, purposes, roles, jurisdictions, controller), and the interface every domain's policy part builds on.

Every figure and rule a lawyer or DPO may change lives in policies/*.yaml, never in code. govern/policies.py reads
that folder into one Policy (load_policy), above the domains; this module imports no domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import INCLUDE, Schema, ValidationError, validate, validates_schema
from marshmallow import fields as ma

VISIBILITIES = ("full", "masked", "hidden")
LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_interest",
    "legitimate_interest",
    "publicly_available",
)


if TYPE_CHECKING:  # the domain parts of the policy live with their domains and import from here
    from govern.alerts.policy import AlertPolicy
    from govern.audit.policy import AuditPolicy
    from govern.breach.policy import BreachTerms
    from govern.consent.notices import NoticeBook
    from govern.consent.policy import AgeTerms, CollectionTerms
    from govern.console.policy import ConsolePolicy
    from govern.crypto.policy import CryptoPolicy
    from govern.deidentified.policy import DeidentifiedPolicy
    from govern.identity.policy import RateLimitPolicy
    from govern.processing.policy import ProcessingPolicy
    from govern.retention.policy import RetentionPolicy
    from govern.scheduler.policy import SchedulePolicy
    from govern.sharing.policy import PropagationPolicy
    from govern.subject_requests.policy import RequestSettings, RequestTerms, WorkingCalendar
    from govern.webhooks.policy import WebhookPolicy


class PolicyError(Exception):
    """A policy file is missing or wrong; the message names the file, the key and the problem."""


# --- typed policy objects -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRule:
    name: str
    category: str
    sensitive: bool
    validator: str
    validator_options: Mapping[str, Any]
    masking: str
    searchable: bool
    required: bool
    label: Mapping[str, str]


@dataclass(frozen=True)
class RecordType:
    name: str
    category: str
    sensitive: bool
    label: Mapping[str, str]


@dataclass(frozen=True)
class Catalog:
    categories: Mapping[str, Mapping[str, str]]
    fields: Mapping[str, FieldRule]
    record_types: Mapping[str, RecordType]

    @property
    def searchable_fields(self) -> tuple[str, ...]:
        return tuple(name for name, rule in self.fields.items() if rule.searchable)


@dataclass(frozen=True)
class ImpactAssessment:
    """The record a purpose's impact assessment is kept under (the assessment itself is a document)."""

    reference: str
    assessed_at: date
    approved_by: str


@dataclass(frozen=True)
class Purpose:
    name: str
    legal_basis: str
    legal_basis_by_jurisdiction: Mapping[str, str]
    source: str
    fields: frozenset[str]
    record_types: frozenset[str]
    label: Mapping[str, str]
    allowed_when_restricted: bool = False
    # Separate consent (单独同意): set in purposes.yaml, or implied by the rules in `separate_consent_reasons`.
    separate_consent: bool = False
    provides_to_third_party: bool = False  # PIPL Art. 23
    public_disclosure: bool = False  # PIPL Art. 25
    cross_border: bool = False  # PIPL Art. 39
    sale_or_share: bool = False  # CCPA 1798.120: an opt-out (e.g. Global Privacy Control) withdraws it
    automated_decisions: bool = False  # PIPL Art. 24, 55(2); GDPR Art. 22
    direct_marketing: bool = False  # GDPR Art. 21(2)-(3): an objection to it is absolute, whatever the legal basis
    impact_assessment: ImpactAssessment | None = None  # PIPL Art. 55–56 / GDPR Art. 35: the reference it rests on
    sensitive_fields: frozenset[str] = frozenset()  # from catalog.yaml `sensitive: true`, never listed by hand
    provision: Mapping[str, Any] | None = None  # PIPL Art. 23, 25, 39: the recipient's purpose, method, data (govern/consent/notices.py)

    def basis_for(self, jurisdiction: str) -> str:
        return self.legal_basis_by_jurisdiction.get(jurisdiction, self.legal_basis)

    @property
    def separate_consent_reasons(self) -> tuple[str, ...]:
        """Why a consent to this purpose must be given on its own (empty: an ordinary consent suffices)."""
        reasons = []
        if self.sensitive_fields:
            reasons.append("sensitive_data")  # PIPL Art. 29
        if self.provides_to_third_party:
            reasons.append("third_party")  # PIPL Art. 23
        if self.public_disclosure:
            reasons.append("public_disclosure")  # PIPL Art. 25
        if self.cross_border:
            reasons.append("cross_border")  # PIPL Art. 39
        if self.separate_consent and not reasons:
            reasons.append("policy")
        return tuple(reasons)

    @property
    def needs_separate_consent(self) -> bool:
        return bool(self.separate_consent_reasons)

    @property
    def impact_assessment_reasons(self) -> tuple[str, ...]:
        """Why this purpose needs a personal-information impact assessment (PIPL Art. 55) before it may be used."""
        reasons = []
        if self.sensitive_fields:
            reasons.append("sensitive_data")  # Art. 55(1)
        if self.automated_decisions:
            reasons.append("automated_decisions")  # Art. 55(2)
        if self.provides_to_third_party:
            reasons.append("third_party")  # Art. 55(3)
        if self.public_disclosure:
            reasons.append("public_disclosure")  # Art. 55(3)
        if self.cross_border:
            reasons.append("cross_border")  # Art. 55(4)
        return tuple(reasons)


    @property
    def has_recipients(self) -> bool:
        """Data leaves the controller (to another handler, or abroad): the recipients must be named (Art. 23, 39)."""
        return self.provides_to_third_party or self.cross_border


@dataclass(frozen=True)
class Role:
    name: str
    kind: str
    permissions: frozenset[str]
    purposes: frozenset[str]
    default_visibility: str
    category_visibility: Mapping[str, str]
    field_visibility: Mapping[str, str]
    label: Mapping[str, str] = field(default_factory=dict, hash=False)  # its name in words, {"zh": …, "en": …}: how the console names it

    def visibility(self, rule: FieldRule) -> str:
        if rule.name in self.field_visibility:
            return self.field_visibility[rule.name]
        return self.category_visibility.get(rule.category, self.default_visibility)


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    law: str
    legal_bases: frozenset[str]
    minors_age: int
    minors_source: str
    label: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Controller:
    """The personal information handler (controller) named on consent receipts and records of processing."""

    name: Mapping[str, str]
    country: str
    contact: str
    email: str
    phone: str
    address: Mapping[str, str]
    url: str
    notice_url: str  # template with {purpose}, {language}, {version}
    dpo: Mapping[str, Any] | None = None  # GDPR Art. 30(1)(a), 37; PIPL Art. 52: the officer's contact
    eu_representative: Mapping[str, Any] | None = None  # GDPR Art. 27 (checked in govern/processing/policy.py)


@dataclass(frozen=True)
class Policy:
    """Every part is required: govern.policies.load_policy builds each one or refuses to start, so no service checks for
    a missing one."""

    catalog: Catalog
    purposes: Mapping[str, Purpose]
    roles: Mapping[str, Role]
    jurisdictions: Mapping[str, Jurisdiction]
    source_dir: Path
    digest: str
    controller: Controller
    notices: "NoticeBook"  # policies/notices/<purpose>/versions.yaml and texts (govern/consent/notices.py)
    audit: "AuditPolicy"  # policies/audit.yaml (govern/audit)
    retention: "RetentionPolicy"  # policies/retention.yaml (govern/retention)
    processing: "ProcessingPolicy"  # policies/processing.yaml (govern/processing)
    # Data-subject requests (govern/subject_requests): jurisdictions.yaml `requests:`, policies/calendars/, requests.yaml.
    request_terms: Mapping[str, "RequestTerms"]
    calendars: Mapping[str, "WorkingCalendar"]
    requests: "RequestSettings"
    console: "ConsolePolicy"  # policies/console.yaml (govern/console)
    # Breach response (govern/breach): jurisdictions.yaml `breach:` and the letter templates in policies/notices/letters/.
    breach_terms: Mapping[str, "BreachTerms"]
    breach_letters: Mapping[tuple[str, str], str]  # (template, language) -> text
    webhooks: "WebhookPolicy"  # policies/webhooks.yaml (govern/webhooks): delivery, retry, URLs, signature
    rate_limits: "RateLimitPolicy"  # policies/rate_limits.yaml (govern/identity/policy.py, govern/ratelimit.py)
    propagation: "PropagationPolicy"  # policies/sharing.yaml (govern/sharing/policy.py): telling recipients (GDPR Art. 19)
    deidentified: "DeidentifiedPolicy"  # policies/deidentified.yaml (govern/deidentified): pseudonymised and anonymised exports
    # jurisdictions.yaml, read by govern/consent/policy.py: ages of consent (per EU member state; CCPA's opt-in age)
    # and the basis a write of a sensitive field needs (sensitive_collection).
    ages: Mapping[str, "AgeTerms"]
    collection: Mapping[str, "CollectionTerms"]
    schedules: "SchedulePolicy"  # policies/schedules.yaml (govern/scheduler): which job runs how often, for how long
    alerts: "AlertPolicy"  # policies/alerts.yaml (govern/alerts): who is told of a clock running out, how, in which language
    crypto: "CryptoPolicy"  # policies/crypto.yaml (govern/crypto): the cryptography suite, international or commercial_cn

    def role(self, name: str) -> Role:
        return self.roles[name]


# --- schemas --------------------------------------------------------------------------------------

Label = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str())
LABEL_LANGUAGES = ("zh", "en")  # the console's languages: a name a policy defines (a role, a retention rule) is given in each


def required_label(where: str, label: Mapping[str, str] | None, kind: str, key: str = "label", *, what: str | None = None) -> Mapping[str, str]:
    """A name a policy file defines (a role, a retention rule or obligation), in words in Chinese and in English: the
    console, its letters and certificates name it so, so one an operator adds reads in both languages without a
    release (never as its code). Refused at start-up naming the file, the key and what is missing. `what` words a
    text that is not a name (processing.yaml's "the categories of data subjects")."""
    label = label or {}
    missing = [lang for lang in LABEL_LANGUAGES if not str(label.get(lang) or "").strip()]
    unknown = sorted(set(label) - set(LABEL_LANGUAGES))
    if missing or unknown:
        problem = f"missing {' and '.join(missing)}" if missing else f"unknown language(s) {', '.join(unknown)}"
        at = f"{where}.{key}" if key else where
        subject = what or f"the {kind}'s name"
        raise PolicyError(f"{at}: give {subject} in both languages, {{zh: …, en: …}} ({problem})")
    return dict(label)  # a plain dict: labels go into JSON (API answers, the compliance pack, letters' data)


# The public interface the domain policy files build on (govern/<domain>/policy.py): StrictSchema, Label, read_yaml,
# validate_file, flatten_errors and jurisdiction_block, plus PolicyError and the types above. Each domain file has a
# public load_<domain>_policy(directory, …) returning its parts of Policy; govern/policies.py calls them all.


class StrictSchema(Schema):
    """A policy file's schema: keys kept in file order, unknown keys refused (marshmallow's default RAISE)."""

    class Meta:
        ordered = True


class FieldRuleSchema(StrictSchema):
    category = ma.Str(required=True)
    sensitive = ma.Bool(required=True)
    validator = ma.Raw(required=True)
    masking = ma.Str(required=True)
    searchable = ma.Bool(load_default=False)
    required = ma.Bool(load_default=False)
    label = Label


class RecordTypeSchema(StrictSchema):
    category = ma.Str(required=True)
    sensitive = ma.Bool(required=True)
    label = Label


class CatalogSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    categories = ma.Dict(keys=ma.Str(), values=Label, required=True)
    fields = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(FieldRuleSchema), required=True)
    record_types = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(RecordTypeSchema), required=True)

    @validates_schema
    def _categories_exist(self, data, **_):
        known = set(data.get("categories", {}))
        errors = {}
        for group in ("fields", "record_types"):
            for name, rule in data.get(group, {}).items():
                if rule["category"] not in known:
                    errors[f"{group}.{name}.category"] = [f"unknown category '{rule['category']}'"]
        if errors:
            raise ValidationError(errors)


class PurposeSchema(StrictSchema):
    legal_basis = ma.Str(required=True, validate=validate.OneOf(LEGAL_BASES))
    legal_basis_by_jurisdiction = ma.Dict(keys=ma.Str(), values=ma.Str(validate=validate.OneOf(LEGAL_BASES)), load_default=dict)
    source = ma.Str(required=True)
    fields = ma.Raw(required=True)
    record_types = ma.Raw(required=True)
    allowed_when_restricted = ma.Bool(load_default=False)
    label = Label
    # None = not stated; an explicit `false` on a purpose that must have separate consent is refused.
    separate_consent = ma.Bool(load_default=None)
    provides_to_third_party = ma.Bool(load_default=False)
    public_disclosure = ma.Bool(load_default=False)
    cross_border = ma.Bool(load_default=False)
    sale_or_share = ma.Bool(load_default=False)
    automated_decisions = ma.Bool(load_default=False)
    direct_marketing = ma.Bool(load_default=False)
    impact_assessment = ma.Nested(lambda: ImpactAssessmentSchema(), load_default=None)
    provision = ma.Dict(load_default=None)  # checked by govern/consent/notices.py: check_provision


class ImpactAssessmentSchema(StrictSchema):
    reference = ma.Str(required=True, validate=validate.Length(1, 100))
    assessed_at = ma.Date(required=True)
    approved_by = ma.Str(required=True, validate=validate.Length(1, 100))


class ControllerSchema(StrictSchema):
    name = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    country = ma.Str(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    contact = ma.Str(required=True)
    email = ma.Email(required=True)
    phone = ma.Str(required=True)
    address = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    url = ma.Url(required=True)
    notice_url = ma.Str(required=True, validate=validate.Regexp(r".*\{purpose\}.*", error="must contain {purpose}"))
    dpo = ma.Nested(lambda: ContactSchema(), load_default=None)
    eu_representative = ma.Nested(lambda: ContactSchema(), load_default=None)


class ContactSchema(StrictSchema):
    """A person or office named in the records of processing (GDPR Art. 30(1)(a)): a name, how to reach them."""

    name = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    email = ma.Email(required=True)
    phone = ma.Str(load_default=None)
    address = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), load_default=None)


class ControllerFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    controller = ma.Nested(ControllerSchema, required=True)


class PurposesSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    purposes = ma.Dict(keys=ma.Str(), values=ma.Nested(PurposeSchema), required=True)


class VisibilitySchema(StrictSchema):
    default = ma.Str(required=True, validate=validate.OneOf(VISIBILITIES))
    categories = ma.Dict(keys=ma.Str(), values=ma.Str(validate=validate.OneOf(VISIBILITIES)), load_default=dict)
    fields = ma.Dict(keys=ma.Str(), values=ma.Str(validate=validate.OneOf(VISIBILITIES)), load_default=dict)


class RoleSchema(StrictSchema):
    label = ma.Dict(keys=ma.Str(), values=ma.Str(), load_default=None)  # checked by required_label, naming the role
    kind = ma.Str(required=True, validate=validate.OneOf(["service", "staff", "any"]))
    permissions = ma.List(ma.Str(), required=True)
    purposes = ma.List(ma.Str(), required=True)
    visibility = ma.Nested(VisibilitySchema, required=True)


class RolesSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    roles = ma.Dict(keys=ma.Str(), values=ma.Nested(RoleSchema), required=True)


class JurisdictionSchema(Schema):
    class Meta:
        unknown = INCLUDE  # later workflows (deadlines, breach clocks) add their own keys

    law = ma.Str(required=True)
    label = Label
    legal_bases = ma.List(ma.Str(validate=validate.OneOf(LEGAL_BASES)), required=True)
    minors_age = ma.Int(required=True, validate=validate.Range(min=1, max=21))
    minors_source = ma.Str(required=True)


class JurisdictionsSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    jurisdictions = ma.Dict(keys=ma.Str(), values=ma.Nested(JurisdictionSchema), required=True)


# --- loading --------------------------------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    """A policy file's YAML; PolicyError names the file when it is missing or not YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: file is missing") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None


def validate_file(name: str, doc: Any, schema: Schema) -> dict:
    """`doc` (from `<name>.yaml`) loaded through `schema`; PolicyError names the file and every offending key."""
    if not isinstance(doc, dict):
        raise PolicyError(f"{name}.yaml: expected a mapping at the top level")
    try:
        return schema.load(doc)
    except ValidationError as exc:
        raise PolicyError(f"{name}.yaml: " + "; ".join(flatten_errors(exc.messages))) from None


def flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested messages as `a.b.c: message` lines."""
    if isinstance(messages, dict):
        out: list[str] = []
        for key, sub in messages.items():
            # marshmallow reports dict-key and dict-value errors under "key"/"value"; keep the path readable
            if key in ("value", "key") and prefix:
                out += flatten_errors(sub, prefix)
            else:
                out += flatten_errors(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(messages, list):
        return [f"{prefix}: {m}" for m in messages if isinstance(m, str)] + [
            x for m in messages if not isinstance(m, str) for x in flatten_errors(m, prefix)
        ]
    return [f"{prefix}: {messages}"]


def jurisdiction_block(jur: Jurisdiction, key: str, schema: Schema, where: str, what: str) -> dict:
    """One workflow's block of a jurisdiction (requests, breach): present, valid, and in a known time zone."""
    raw = jur.extra.get(key)
    if raw is None:
        raise PolicyError(f"{where}: missing: every jurisdiction states {what}")
    try:
        doc = schema.load(raw)
    except ValidationError as exc:
        raise PolicyError(f"{where}: " + "; ".join(flatten_errors(exc.messages))) from None
    try:
        ZoneInfo(doc["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{where}.time_zone: unknown time zone '{doc['time_zone']}'") from None
    return doc
