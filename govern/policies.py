"""Reads the policies/ folder into one Policy (load_policy): the kernel files (catalog, purposes, roles, jurisdictions,
controller) checked against each other, then each domain's part, loaded by that domain's public load_<domain>_policy.

It sits above the domains (the layer under govern.app in .importlinter): the domains' policy parts import only the
kernel's types and building blocks (govern/policy.py), never this module, so no domain imports another through it.
A bad policy refuses to start, with a PolicyError naming the file, the key and the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from govern import validators
from govern.alerts.policy import load_alert_policy
from govern.audit.policy import load_audit_policy
from govern.breach.policy import load_breach_policy
from govern.consent.notices import load_notices
from govern.consent.policy import load_consent_policy
from govern.console.policy import load_console_policy
from govern.crypto.policy import load_crypto_policy
from govern.deidentified.policy import load_deidentified_policy
from govern.identity.permissions import STAFF_ONLY, Permission
from govern.identity.policy import load_rate_limit_policy
from govern.policy import (
    Catalog,
    CatalogSchema,
    Controller,
    ControllerFileSchema,
    FieldRule,
    ImpactAssessment,
    Jurisdiction,
    JurisdictionsSchema,
    Policy,
    PolicyError,
    Purpose,
    PurposesSchema,
    RecordType,
    Role,
    RolesSchema,
    read_yaml,
    required_label,
    validate_file,
)
from govern.processing.policy import load_processing_policy
from govern.retention.policy import load_retention_policy
from govern.scheduler.policy import load_schedule_policy
from govern.sharing.policy import load_sharing_policy
from govern.subject_requests.policy import load_request_policy
from govern.subjects import masking
from govern.webhooks.policy import load_webhook_policy

__all__ = ["load_policy"]


def load_policy(directory: Path) -> Policy:
    """Reads and cross-checks every policy file; raises PolicyError naming the file, key and problem."""
    directory = Path(directory)
    raw = {name: read_yaml(directory / f"{name}.yaml") for name in ("catalog", "purposes", "roles", "jurisdictions")}
    catalog_doc = validate_file("catalog", raw["catalog"], CatalogSchema())
    purposes_doc = validate_file("purposes", raw["purposes"], PurposesSchema())
    roles_doc = validate_file("roles", raw["roles"], RolesSchema())
    jur_doc = validate_file("jurisdictions", raw["jurisdictions"], JurisdictionsSchema())

    catalog = _build_catalog(catalog_doc)
    jurisdictions = {
        code: Jurisdiction(
            code=code,
            law=j.pop("law"),
            legal_bases=frozenset(j.pop("legal_bases")),
            minors_age=j.pop("minors_age"),
            minors_source=j.pop("minors_source"),
            label=required_label(f"jurisdictions.yaml: jurisdictions.{code}", j.pop("label", None), "jurisdiction"),
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
    notices = load_notices(directory / "notices", purposes, jurisdictions, catalog)

    # The files are checked in this order, so a directory with several bad files names the same one first every time.
    return Policy(
        catalog=catalog, purposes=purposes, roles=roles, jurisdictions=jurisdictions, source_dir=directory, digest=digest,
        controller=controller, notices=notices,
        **load_audit_policy(directory),
        **load_retention_policy(directory, catalog, purposes),
        **load_processing_policy(directory, purposes=purposes, controller=controller, jurisdictions=jurisdictions),
        **load_request_policy(directory, jurisdictions),
        **load_console_policy(directory),
        **load_breach_policy(directory, jurisdictions),
        **load_webhook_policy(directory),
        **load_schedule_policy(directory),
        **load_rate_limit_policy(directory),
        **load_sharing_policy(directory),
        **load_deidentified_policy(directory, catalog),
        **load_consent_policy(jurisdictions, catalog),
        **load_alert_policy(directory),
        **load_crypto_policy(directory),
    )


def _load_controller(directory: Path) -> Controller:
    doc = validate_file("controller", read_yaml(directory / "controller.yaml"), ControllerFileSchema())["controller"]
    for lang in ("zh", "en"):
        for key in ("name", "address"):
            if not doc[key].get(lang):
                raise PolicyError(f"controller.yaml: controller.{key}.{lang}: required (notices and receipts exist in zh and en)")
    return Controller(**doc)


def _build_catalog(doc: dict) -> Catalog:
    # Each category, field and record type is named by its label in the console, the certificates and the letters: one
    # an operator adds reads in Chinese and English without a release, never as its code.
    categories = {name: required_label(f"catalog.yaml: categories.{name}", label, "category", key="") for name, label in doc["categories"].items()}
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
            label=required_label(f"catalog.yaml: fields.{name}", rule.get("label"), "field"),
        )
    records = {
        name: RecordType(name=name, category=r["category"], sensitive=r["sensitive"],
                         label=required_label(f"catalog.yaml: record_types.{name}", r.get("label"), "record type"))
        for name, r in doc["record_types"].items()
    }
    return Catalog(categories=categories, fields=fields_, record_types=records)


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
        label=required_label(where, p.get("label"), "purpose"),
        allowed_when_restricted=p["allowed_when_restricted"],
        separate_consent=bool(p["separate_consent"]),
        provides_to_third_party=p["provides_to_third_party"],
        public_disclosure=p["public_disclosure"],
        cross_border=p["cross_border"],
        sale_or_share=p["sale_or_share"],
        automated_decisions=p["automated_decisions"],
        direct_marketing=p["direct_marketing"],
        impact_assessment=ImpactAssessment(**p["impact_assessment"]) if p["impact_assessment"] else None,
        provision=p["provision"],
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
    label = required_label(where, r["label"], "role")
    unknown_perm = sorted(set(r["permissions"]) - known_permissions)
    if unknown_perm:
        raise PolicyError(f"{where}.permissions: unknown permission(s) {', '.join(unknown_perm)}")

    staff_only = sorted(set(r["permissions"]) & STAFF_ONLY)
    if r["kind"] == "service" and staff_only:
        # A CRM service is trusted with what its role sees, nothing more (DESIGN 8b): what a request hands out goes to
        # the data subject, and the whole request queue is for privacy staff.
        raise PolicyError(f"{where}.permissions: {', '.join(staff_only)} may be held by staff roles only (kind: staff)")
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
        label=label,
    )
