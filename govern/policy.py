"""Loads and validates policies/*.yaml at start-up into typed, read-only objects; a bad policy refuses to start.

Every figure and rule a lawyer or DPO may change lives in these files, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

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
class Purpose:
    name: str
    legal_basis: str
    legal_basis_by_jurisdiction: Mapping[str, str]
    source: str
    fields: frozenset[str]
    record_types: frozenset[str]
    label: Mapping[str, str]
    allowed_when_restricted: bool = False

    def basis_for(self, jurisdiction: str) -> str:
        return self.legal_basis_by_jurisdiction.get(jurisdiction, self.legal_basis)


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
class Policy:
    catalog: Catalog
    purposes: Mapping[str, Purpose]
    roles: Mapping[str, Role]
    jurisdictions: Mapping[str, Jurisdiction]
    source_dir: Path
    digest: str

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
    return Policy(catalog=catalog, purposes=purposes, roles=roles, jurisdictions=jurisdictions, source_dir=directory, digest=digest)


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
