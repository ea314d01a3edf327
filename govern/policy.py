"""Loads and validates policies/*.yaml at start-up into typed, read-only objects; a bad policy refuses to start.

Every figure and rule a lawyer or DPO may change lives in these files, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

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


if TYPE_CHECKING:  # the workflow parts of the policy live with their domains and import from here
    from govern.breach.policy import BreachTerms
    from govern.requests.policy import RequestSettings, RequestTerms, WorkingCalendar
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
    impact_assessment: ImpactAssessment | None = None  # PIPL Art. 55–56 / GDPR Art. 35: the reference it rests on
    sensitive_fields: frozenset[str] = frozenset()  # from catalog.yaml `sensitive: true`, never listed by hand

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


@dataclass(frozen=True)
class AuditPolicy:
    """policies/audit.yaml: how long audit events are kept (never under six months: Cybersecurity Law Art. 21)."""

    retention_days: int = 365
    source: str = ""


@dataclass(frozen=True)
class ConsolePolicy:
    """policies/console.yaml (govern/console): staff sign-in lockout, session lifetimes, passwords, access review."""

    max_failures: int = 5
    lockout_minutes: int = 15
    idle_minutes: int = 30
    absolute_hours: int = 12
    password_min_length: int = 12
    review_window_days: int = 90
    default_language: str = "zh"
    default_time_zone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class RetentionPeriod:
    """A retention period from retention.yaml: `90d`, `18m` or `3y` (months and years are calendar arithmetic)."""

    amount: int
    unit: str  # d | m | y

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    def cutoff(self, now):
        """The latest start that has expired by `now`: anything counted from on or before it is due."""
        from datetime import timedelta

        if self.unit == "d":
            return now - timedelta(days=self.amount)
        months = self.amount * (12 if self.unit == "y" else 1)
        year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
        import calendar

        return now.replace(year=year, month=month + 1, day=min(now.day, calendar.monthrange(year, month + 1)[1]))

    def approx_days(self) -> float:
        return self.amount * {"d": 1, "m": 30.44, "y": 365.25}[self.unit]


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


@dataclass(frozen=True)
class ProcessingPolicy:
    """policies/processing.yaml: what the records of processing add to the other policy files."""

    impact_assessment_keep_years: int
    impact_assessment_source: str
    data_subjects: Mapping[str, str]
    security_measures: Mapping[str, list[str]]


@dataclass(frozen=True)
class Policy:
    catalog: Catalog
    purposes: Mapping[str, Purpose]
    roles: Mapping[str, Role]
    jurisdictions: Mapping[str, Jurisdiction]
    source_dir: Path
    digest: str
    controller: Controller | None = None
    notices: Any = None  # govern.consent.notices.NoticeBook: policies/notices/<purpose>/versions.yaml and texts
    audit: AuditPolicy = AuditPolicy()
    retention: RetentionPolicy | None = None  # policies/retention.yaml (govern/retention)
    processing: ProcessingPolicy | None = None  # policies/processing.yaml (govern/processing)
    # Data-subject requests (govern/requests): jurisdictions.yaml `requests:`, policies/calendars/, requests.yaml.
    request_terms: Mapping[str, "RequestTerms"] = field(default_factory=dict)
    calendars: Mapping[str, "WorkingCalendar"] = field(default_factory=dict)
    requests: "RequestSettings | None" = None
    console: ConsolePolicy = ConsolePolicy()  # policies/console.yaml (govern/console)
    # Breach response (govern/breach): jurisdictions.yaml `breach:` and the letter templates in policies/notices/letters/.
    breach_terms: Mapping[str, "BreachTerms"] = field(default_factory=dict)
    breach_letters: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (template, language) -> text
    webhooks: "WebhookPolicy | None" = None  # policies/webhooks.yaml (govern/webhooks): delivery, retry, URLs, signature

    def role(self, name: str) -> Role:
        return self.roles[name]


# --- schemas --------------------------------------------------------------------------------------

Label = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str())


class _Strict(Schema):
    class Meta:
        ordered = True


class FieldRuleSchema(_Strict):
    category = ma.Str(required=True)
    sensitive = ma.Bool(required=True)
    validator = ma.Raw(required=True)
    masking = ma.Str(required=True)
    searchable = ma.Bool(load_default=False)
    required = ma.Bool(load_default=False)
    label = Label


class RecordTypeSchema(_Strict):
    category = ma.Str(required=True)
    sensitive = ma.Bool(required=True)
    label = Label


class CatalogSchema(_Strict):
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


class PurposeSchema(_Strict):
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
    impact_assessment = ma.Nested(lambda: ImpactAssessmentSchema(), load_default=None)


class ImpactAssessmentSchema(_Strict):
    reference = ma.Str(required=True, validate=validate.Length(1, 100))
    assessed_at = ma.Date(required=True)
    approved_by = ma.Str(required=True, validate=validate.Length(1, 100))


class ControllerSchema(_Strict):
    name = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    country = ma.Str(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    contact = ma.Str(required=True)
    email = ma.Email(required=True)
    phone = ma.Str(required=True)
    address = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    url = ma.Url(required=True)
    notice_url = ma.Str(required=True, validate=validate.Regexp(r".*\{purpose\}.*", error="must contain {purpose}"))


class ControllerFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    controller = ma.Nested(ControllerSchema, required=True)


class PurposesSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    purposes = ma.Dict(keys=ma.Str(), values=ma.Nested(PurposeSchema), required=True)


class VisibilitySchema(_Strict):
    default = ma.Str(required=True, validate=validate.OneOf(VISIBILITIES))
    categories = ma.Dict(keys=ma.Str(), values=ma.Str(validate=validate.OneOf(VISIBILITIES)), load_default=dict)
    fields = ma.Dict(keys=ma.Str(), values=ma.Str(validate=validate.OneOf(VISIBILITIES)), load_default=dict)


class RoleSchema(_Strict):
    kind = ma.Str(required=True, validate=validate.OneOf(["service", "staff", "any"]))
    permissions = ma.List(ma.Str(), required=True)
    purposes = ma.List(ma.Str(), required=True)
    visibility = ma.Nested(VisibilitySchema, required=True)


class RolesSchema(_Strict):
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


class JurisdictionsSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    jurisdictions = ma.Dict(keys=ma.Str(), values=ma.Nested(JurisdictionSchema), required=True)


# --- loading --------------------------------------------------------------------------------------


def load_policy(directory: Path) -> Policy:
    """Reads and cross-checks every policy file; raises PolicyError naming the file, key and problem."""
    import hashlib

    from govern.identity.permissions import Permission
    from govern.subjects import masking, validators

    directory = Path(directory)
    raw = {name: _read(directory / f"{name}.yaml") for name in ("catalog", "purposes", "roles", "jurisdictions")}
    catalog_doc = _validate("catalog", raw["catalog"], CatalogSchema())
    purposes_doc = _validate("purposes", raw["purposes"], PurposesSchema())
    roles_doc = _validate("roles", raw["roles"], RolesSchema())
    jur_doc = _validate("jurisdictions", raw["jurisdictions"], JurisdictionsSchema())

    catalog = _build_catalog(catalog_doc, validators, masking)
    jurisdictions = {
        code: Jurisdiction(
            code=code,
            law=j.pop("law"),
            legal_bases=frozenset(j.pop("legal_bases")),
            minors_age=j.pop("minors_age"),
            minors_source=j.pop("minors_source"),
            label=j.pop("label", {}),
            extra=j,
        )
        for code, j in jur_doc["jurisdictions"].items()
    }
    purposes = {name: _build_purpose(name, p, catalog, jurisdictions) for name, p in purposes_doc["purposes"].items()}
    known_permissions = {p.value for p in Permission}
    roles = {name: _build_role(name, r, catalog, purposes, known_permissions) for name, r in roles_doc["roles"].items()}
    digest = hashlib.sha256(
        b"".join((directory / f"{n}.yaml").read_bytes() for n in sorted(raw))
    ).hexdigest()
    controller = _load_controller(directory)
    from govern.consent.notices import load_notices

    notices = load_notices(directory / "notices", purposes, jurisdictions)
    from govern.breach.policy import _load_breach_policy
    from govern.requests.policy import _load_request_policy
    from govern.webhooks.policy import _load_webhook_policy

    return Policy(
        catalog=catalog, purposes=purposes, roles=roles, jurisdictions=jurisdictions, source_dir=directory, digest=digest,
        controller=controller, notices=notices, audit=_load_audit(directory), retention=_load_retention(directory, catalog),
        processing=_load_processing(directory),
        **_load_request_policy(directory, jurisdictions),
        console=_load_console(directory),
        **_load_breach_policy(directory, jurisdictions),
        **_load_webhook_policy(directory),
    )


def _load_controller(directory: Path) -> Controller:
    doc = _validate("controller", _read(directory / "controller.yaml"), ControllerFileSchema())["controller"]
    for lang in ("zh", "en"):
        for key in ("name", "address"):
            if not doc[key].get(lang):
                raise PolicyError(f"controller.yaml: controller.{key}.{lang}: required (notices and receipts exist in zh and en)")
    return Controller(**doc)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: file is missing") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from None


def _validate(name: str, doc: Any, schema: Schema) -> dict:
    if not isinstance(doc, dict):
        raise PolicyError(f"{name}.yaml: expected a mapping at the top level")
    try:
        return schema.load(doc)
    except ValidationError as exc:
        raise PolicyError(f"{name}.yaml: " + "; ".join(_flatten(exc.messages))) from None


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, sub in messages.items():
            # marshmallow reports dict-key and dict-value errors under "key"/"value"; keep the path readable
            if key in ("value", "key") and prefix:
                out += _flatten(sub, prefix)
            else:
                out += _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(messages, list):
        return [f"{prefix}: {m}" for m in messages if isinstance(m, str)] + [
            x for m in messages if not isinstance(m, str) for x in _flatten(m, prefix)
        ]
    return [f"{prefix}: {messages}"]


def _build_catalog(doc: dict, validators, masking) -> Catalog:
    fields_: dict[str, FieldRule] = {}
    for name, rule in doc["fields"].items():
        spec = rule["validator"]
        if isinstance(spec, str):
            vname, options = spec, {}
        elif isinstance(spec, dict) and isinstance(spec.get("rule"), str):
            options = {k: v for k, v in spec.items() if k != "rule"}
            vname = spec["rule"]
        else:
            raise PolicyError(f"catalog.yaml: fields.{name}.validator: expected a rule name or {{rule: …, options}}")
        if vname not in validators.RULES:
            raise PolicyError(f"catalog.yaml: fields.{name}.validator: unknown rule '{vname}' (known: {', '.join(sorted(validators.RULES))})")
        try:
            validators.check_options(vname, options)
        except ValueError as exc:
            raise PolicyError(f"catalog.yaml: fields.{name}.validator: {exc}") from None
        if rule["masking"] not in masking.RULES:
            raise PolicyError(f"catalog.yaml: fields.{name}.masking: unknown rule '{rule['masking']}' (known: {', '.join(sorted(masking.RULES))})")
        if rule["searchable"] and vname not in validators.NORMALISED:
            raise PolicyError(f"catalog.yaml: fields.{name}.searchable: rule '{vname}' has no normal form to index")
        fields_[name] = FieldRule(
            name=name,
            category=rule["category"],
            sensitive=rule["sensitive"],
            validator=vname,
            validator_options=options,
            masking=rule["masking"],
            searchable=rule["searchable"],
            required=rule["required"],
            label=rule.get("label", {}),
        )
    records = {
        name: RecordType(name=name, category=r["category"], sensitive=r["sensitive"], label=r.get("label", {}))
        for name, r in doc["record_types"].items()
    }
    return Catalog(categories=doc["categories"], fields=fields_, record_types=records)


def _names(value: Any, known: Mapping[str, Any], where: str) -> frozenset[str]:
    if value == "all":
        return frozenset(known)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: expected a list of names or 'all'")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise PolicyError(f"{where}: unknown name(s) {', '.join(unknown)}")
    return frozenset(value)


def _build_purpose(name: str, p: dict, catalog: Catalog, jurisdictions: Mapping[str, Jurisdiction]) -> Purpose:
    where = f"purposes.yaml: purposes.{name}"
    purpose = Purpose(
        name=name,
        legal_basis=p["legal_basis"],
        legal_basis_by_jurisdiction=p["legal_basis_by_jurisdiction"],
        source=p["source"],
        fields=_names(p["fields"], catalog.fields, f"{where}.fields"),
        record_types=_names(p["record_types"], catalog.record_types, f"{where}.record_types"),
        label=p.get("label", {}),
        allowed_when_restricted=p["allowed_when_restricted"],
        separate_consent=bool(p["separate_consent"]),
        provides_to_third_party=p["provides_to_third_party"],
        public_disclosure=p["public_disclosure"],
        cross_border=p["cross_border"],
        sale_or_share=p["sale_or_share"],
        automated_decisions=p["automated_decisions"],
        impact_assessment=ImpactAssessment(**p["impact_assessment"]) if p["impact_assessment"] else None,
    )
    # Sensitive data needs separate consent by rule (PIPL Art. 29), whatever the purpose says.
    sensitive = frozenset(f for f in purpose.fields if catalog.fields[f].sensitive) | frozenset(
        f"record:{r}" for r in purpose.record_types if catalog.record_types[r].sensitive
    )
    purpose = replace(purpose, sensitive_fields=sensitive)
    if p["separate_consent"] is False and purpose.separate_consent_reasons:
        raise PolicyError(
            f"{where}.separate_consent: cannot be false: the purpose needs separate consent "
            f"({', '.join(purpose.separate_consent_reasons)}; PIPL Art. 23, 25, 29, 39)"
        )
    if purpose.impact_assessment_reasons and purpose.impact_assessment is None:
        # PIPL Art. 55–56: no such processing before an assessment is done and recorded.
        raise PolicyError(
            f"{where}.impact_assessment: required ({', '.join(purpose.impact_assessment_reasons)}; PIPL Art. 55); "
            "record the assessment's reference, date and approver before the purpose can be used"
        )
    for code in purpose.legal_basis_by_jurisdiction:
        if code not in jurisdictions:
            raise PolicyError(f"{where}.legal_basis_by_jurisdiction: unknown jurisdiction '{code}'")
    for code, jur in jurisdictions.items():
        basis = purpose.basis_for(code)
        if basis not in jur.legal_bases:
            raise PolicyError(
                f"{where}.legal_basis: '{basis}' is not a legal basis under {jur.law} ({code}); "
                f"set legal_basis_by_jurisdiction.{code}"
            )
    return purpose


def _build_role(name: str, r: dict, catalog: Catalog, purposes: Mapping[str, Purpose], known_permissions: set[str]) -> Role:
    where = f"roles.yaml: roles.{name}"
    unknown_perm = sorted(set(r["permissions"]) - known_permissions)
    if unknown_perm:
        raise PolicyError(f"{where}.permissions: unknown permission(s) {', '.join(unknown_perm)}")
    vis = r["visibility"]
    for cat in vis["categories"]:
        if cat not in catalog.categories:
            raise PolicyError(f"{where}.visibility.categories: unknown category '{cat}'")
    for fname in vis["fields"]:
        if fname not in catalog.fields:
            raise PolicyError(f"{where}.visibility.fields: unknown field '{fname}'")
    return Role(
        name=name,
        kind=r["kind"],
        permissions=frozenset(r["permissions"]),
        purposes=_names(r["purposes"], purposes, f"{where}.purposes"),
        default_visibility=vis["default"],
        category_visibility=vis["categories"],
        field_visibility=vis["fields"],
    )


class AuditRetentionSchema(_Strict):
    # 183 days: any six consecutive calendar months (Cybersecurity Law Art. 21 sets the floor, not the ceiling).
    keep_days = ma.Int(required=True, validate=validate.Range(min=183, error="must be at least 183 days (six months, Cybersecurity Law Art. 21)"))
    source = ma.Str(required=True)


class AuditFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    retention = ma.Nested(AuditRetentionSchema, required=True)


def _load_audit(directory: Path) -> AuditPolicy:
    doc = _validate("audit", _read(directory / "audit.yaml"), AuditFileSchema())
    return AuditPolicy(retention_days=doc["retention"]["keep_days"], source=doc["retention"]["source"])


# --- retention.yaml (govern/retention) ------------------------------------------------------------

_PERIOD = r"^[1-9][0-9]{0,4}[dmy]$"
COUNTED_FROM = {
    "fields": ("collection", "last_interaction", "account_closure"),
    "record_types": ("collection", "occurred_at", "last_interaction", "account_closure"),
}


class LegalBasisRefSchema(_Strict):
    code = ma.Str(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"))
    text = ma.Str(required=True, validate=validate.Length(min=3))


class RetentionRuleSchema(_Strict):
    fields = ma.Raw(load_default=None)
    record_types = ma.Raw(load_default=None)
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error="a period like 90d, 18m or 3y"))
    counted_from = ma.Str(required=True, validate=validate.OneOf(sorted({c for cs in COUNTED_FROM.values() for c in cs})))
    on_account_closure = ma.Str(load_default="purge", validate=validate.OneOf(["purge", "keep"]))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)


class ClosedAccountsSchema(_Strict):
    keep = ma.Str(required=True, validate=validate.Regexp(_PERIOD, error="a period like 90d, 18m or 3y"))
    legal_basis = ma.Nested(LegalBasisRefSchema, required=True)


class RetentionFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    unattended_purge = ma.Bool(required=True)
    plan_valid_for = ma.Str(load_default="14d", validate=validate.Regexp(_PERIOD, error="a period like 90d, 18m or 3y"))
    hold_reasons = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=Label, required=True, validate=validate.Length(min=1))
    closed_accounts = ma.Nested(ClosedAccountsSchema, required=True)
    rules = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(RetentionRuleSchema), required=True)


def _period(text: str) -> RetentionPeriod:
    return RetentionPeriod(int(text[:-1]), text[-1])


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


def _load_retention(directory: Path, catalog: Catalog) -> RetentionPolicy:
    """retention.yaml, cross-checked against the catalog: every field and record type has exactly one rule, and no
    rule contradicts another or the closed-account grace period. Refuses naming the gap."""
    import hashlib

    path = directory / "retention.yaml"
    doc = _validate("retention", _read(path), RetentionFileSchema())
    closed_keep = _period(doc["closed_accounts"]["keep"])
    rules: dict[str, RetentionRule] = {}
    owner: dict[tuple[str, str], str] = {}
    for name, r in doc["rules"].items():
        where = f"retention.yaml: rules.{name}"
        targets = [t for t in ("fields", "record_types") if r[t] is not None]
        if len(targets) != 1:
            raise PolicyError(f"{where}: give exactly one of `fields` or `record_types`")
        target = targets[0]
        known = catalog.fields if target == "fields" else catalog.record_types
        names = _rule_targets(f"{where}.{target}", r[target], known, "field" if target == "fields" else "record type")
        if r["counted_from"] not in COUNTED_FROM[target]:
            raise PolicyError(f"{where}.counted_from: '{r['counted_from']}' does not apply to {target} (use one of {', '.join(COUNTED_FROM[target])})")
        keep = _period(r["keep"])
        if r["counted_from"] == "account_closure" and r["on_account_closure"] == "purge" and keep.approx_days() > closed_keep.approx_days():
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
            legal_basis_code=r["legal_basis"]["code"], legal_basis_text=r["legal_basis"]["text"],
        )
    missing = [f"fields.{n}" for n in catalog.fields if ("fields", n) not in owner]
    missing += [f"record_types.{n}" for n in catalog.record_types if ("record_types", n) not in owner]
    if missing:
        raise PolicyError(f"retention.yaml: rules: no retention rule covers catalog {', '.join(missing)}")
    return RetentionPolicy(
        rules=rules,
        field_rules={item: rules[rule] for (t, item), rule in owner.items() if t == "fields"},
        record_rules={item: rules[rule] for (t, item), rule in owner.items() if t == "record_types"},
        closed_accounts_keep=closed_keep,
        closed_accounts_code=doc["closed_accounts"]["legal_basis"]["code"],
        closed_accounts_text=doc["closed_accounts"]["legal_basis"]["text"],
        hold_reasons=doc["hold_reasons"],
        unattended_purge=doc["unattended_purge"],
        plan_valid_for=_period(doc["plan_valid_for"]),
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _jurisdiction_block(jur: Jurisdiction, key: str, schema: Schema, where: str, what: str) -> dict:
    """One workflow's block of a jurisdiction (requests, breach): present, valid, and in a known time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    raw = jur.extra.get(key)
    if raw is None:
        raise PolicyError(f"{where}: missing: every jurisdiction states {what}")
    try:
        doc = schema.load(raw)
    except ValidationError as exc:
        raise PolicyError(f"{where}: " + "; ".join(_flatten(exc.messages))) from None
    try:
        ZoneInfo(doc["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{where}.time_zone: unknown time zone '{doc['time_zone']}'") from None
    return doc


# --- console.yaml (govern/console) ----------------------------------------------------------------


class _ConsoleSignInSchema(_Strict):
    max_failures = ma.Int(required=True, validate=validate.Range(1, 20))
    lockout_minutes = ma.Int(required=True, validate=validate.Range(1, 24 * 60))
    source = ma.Str(required=True)


class _ConsoleSessionsSchema(_Strict):
    idle_minutes = ma.Int(required=True, validate=validate.Range(1, 24 * 60))
    absolute_hours = ma.Int(required=True, validate=validate.Range(1, 24 * 7))
    source = ma.Str(required=True)


class _ConsolePasswordsSchema(_Strict):
    min_length = ma.Int(required=True, validate=validate.Range(8, 128, error="must be 8–128 (NIST SP 800-63B: at least 8)"))
    source = ma.Str(required=True)


class _ConsoleReviewSchema(_Strict):
    window_days = ma.Int(required=True, validate=validate.Range(1, 3660))
    source = ma.Str(required=True)


class _ConsoleDisplaySchema(_Strict):
    default_language = ma.Str(required=True, validate=validate.OneOf(["zh", "en"]))
    default_time_zone = ma.Str(required=True)


class ConsoleFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    sign_in = ma.Nested(_ConsoleSignInSchema, required=True)
    sessions = ma.Nested(_ConsoleSessionsSchema, required=True)
    passwords = ma.Nested(_ConsolePasswordsSchema, required=True)
    access_review = ma.Nested(_ConsoleReviewSchema, required=True)
    display = ma.Nested(_ConsoleDisplaySchema, required=True)


def _load_console(directory: Path) -> ConsolePolicy:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    doc = _validate("console", _read(directory / "console.yaml"), ConsoleFileSchema())
    zone = doc["display"]["default_time_zone"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"console.yaml: display.default_time_zone: unknown time zone '{zone}'") from None
    return ConsolePolicy(
        max_failures=doc["sign_in"]["max_failures"], lockout_minutes=doc["sign_in"]["lockout_minutes"],
        idle_minutes=doc["sessions"]["idle_minutes"], absolute_hours=doc["sessions"]["absolute_hours"],
        password_min_length=doc["passwords"]["min_length"], review_window_days=doc["access_review"]["window_days"],
        default_language=doc["display"]["default_language"], default_time_zone=zone,
    )


# --- processing.yaml (govern/processing) ---------------------------------------------------------


class _ImpactAssessmentsSchema(_Strict):
    keep_years = ma.Int(required=True, validate=validate.Range(min=3, error="at least 3 years (PIPL Art. 56)"))
    source = ma.Str(required=True)


class ProcessingFileSchema(_Strict):
    version = ma.Int(required=True, validate=validate.Equal(1))
    impact_assessments = ma.Nested(_ImpactAssessmentsSchema, required=True)
    data_subjects = Label
    security_measures = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.List(ma.Str(), validate=validate.Length(min=1)), required=True)


def _load_processing(directory: Path) -> ProcessingPolicy:
    doc = _validate("processing", _read(directory / "processing.yaml"), ProcessingFileSchema())
    return ProcessingPolicy(
        impact_assessment_keep_years=doc["impact_assessments"]["keep_years"],
        impact_assessment_source=doc["impact_assessments"]["source"],
        data_subjects=doc.get("data_subjects", {}),
        security_measures=doc["security_measures"],
    )
