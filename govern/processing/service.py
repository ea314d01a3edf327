"""Builds the records of processing from what govern already enforces: purposes and their legal bases, the catalog's
data categories, the retention rules, the recipient register and the security measures in policies/processing.yaml.

Because the records are derived, they cannot drift from what the service actually does."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ProcessingAction
from govern.identity.actor import Actor
from govern.policy import Policy, Purpose

LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Recipient:
    name: str
    country: str
    transfer_mechanism: str | None
    agreement_ref: str
    agreement_expires_on: date


def _label(labels, language: str, fallback: str) -> str:
    return (labels or {}).get(language) or fallback


def _keep_until(assessed: date, years: int) -> str:
    try:
        return assessed.replace(year=assessed.year + years).isoformat()
    except ValueError:  # 29 February
        return assessed.replace(year=assessed.year + years, day=28).isoformat()


def _retention(policy: Policy, purpose: Purpose, language: str) -> list[dict[str, str]]:
    rules = {policy.retention.field_rules[f] for f in purpose.fields if f in policy.retention.field_rules}
    rules |= {policy.retention.record_rules[r] for r in purpose.record_types if r in policy.retention.record_rules}
    return [
        {"rule": r.name, "keep": str(r.keep), "counted_from": r.counted_from, "legal_basis": f"{r.legal_basis_code}: {r.legal_basis_text}"}
        for r in sorted(rules, key=lambda r: r.name)
    ]


def _entry(policy: Policy, purpose: Purpose, recipients: list[Recipient], language: str, keep_years: int) -> dict[str, Any]:
    catalog = policy.catalog
    categories = sorted({catalog.fields[f].category for f in purpose.fields} | {catalog.record_types[r].category for r in purpose.record_types})
    assessment = purpose.impact_assessment
    return {
        "purpose": purpose.name,
        "purpose_label": _label(purpose.label, language, purpose.name),
        "legal_basis": {code: purpose.basis_for(code) for code in sorted(policy.jurisdictions)},
        "legal_source": purpose.source,
        "data_categories": [_label(catalog.categories.get(c), language, c) for c in categories],
        "sensitive_data": sorted(purpose.sensitive_fields),
        "fields": sorted(purpose.fields),
        "record_types": sorted(purpose.record_types),
        "separate_consent": purpose.needs_separate_consent,
        "automated_decisions": purpose.automated_decisions,
        "recipients": [
            {"name": r.name, "country": r.country, "transfer_mechanism": r.transfer_mechanism, "agreement": r.agreement_ref, "agreement_expires_on": r.agreement_expires_on.isoformat()}
            for r in recipients
        ],
        "cross_border": purpose.cross_border or any(r.country != policy.controller.country for r in recipients),
        "retention": _retention(policy, purpose, language),
        "impact_assessment": None if assessment is None else {
            "reasons": list(purpose.impact_assessment_reasons),
            "reference": assessment.reference,
            "assessed_at": assessment.assessed_at.isoformat(),
            "approved_by": assessment.approved_by,
            "keep_until": _keep_until(assessment.assessed_at, keep_years),
        },
    }


def records(*, session: Session, policy: Policy, actor: Actor, language: str = "zh") -> dict[str, Any]:
    """The whole record of processing activities, in one language; reading it is audited."""
    from govern.sharing import service as sharing

    if language not in LANGUAGES:
        from govern.errors import validation_failed

        raise validation_failed({"lang": ["must be zh or en"]})
    by_purpose: dict[str, list[Recipient]] = {}
    for r in sharing.list_recipients(session=session, active_only=True):
        by_purpose.setdefault(r.purpose, []).append(Recipient(r.name, r.country, r.transfer_mechanism, r.agreement_ref, r.agreement_expires_on))
    processing = policy.processing
    controller = policy.controller
    audit.append(session=session, actor=actor, action=ProcessingAction.RECORDS_READ, resource=f"ropa:{language}")
    return {
        "language": language,
        "policy_digest": policy.digest,
        "controller": None if controller is None else {
            "name": _label(controller.name, language, ""), "contact": controller.contact, "email": controller.email,
            "phone": controller.phone, "address": _label(controller.address, language, ""), "country": controller.country,
        },
        "data_subjects": _label(processing.data_subjects, language, ""),
        "jurisdictions": {code: _label(j.label, language, j.law) for code, j in sorted(policy.jurisdictions.items())},
        "security_measures": list(processing.security_measures.get(language, [])),
        "activities": [
            _entry(policy, purpose, by_purpose.get(name, []), language, processing.impact_assessment_keep_years)
            for name, purpose in sorted(policy.purposes.items())
        ],
    }


CSV_COLUMNS = (
    "purpose", "purpose_label", "legal_basis", "data_categories", "sensitive_data", "recipients", "cross_border",
    "retention", "separate_consent", "automated_decisions", "impact_assessment", "impact_assessment_keep_until",
)


def as_csv(document: dict[str, Any]) -> str:
    """One row per processing activity; lists joined with '; ' so the sheet opens as it reads."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for a in document["activities"]:
        pia = a["impact_assessment"] or {}
        writer.writerow([
            a["purpose"], a["purpose_label"],
            "; ".join(f"{k}={v}" for k, v in a["legal_basis"].items()),
            "; ".join(a["data_categories"]), "; ".join(a["sensitive_data"]),
            "; ".join(f"{r['name']} ({r['country']})" for r in a["recipients"]),
            "yes" if a["cross_border"] else "no",
            "; ".join(f"{r['rule']}: {r['keep']} from {r['counted_from']}" for r in a["retention"]),
            "yes" if a["separate_consent"] else "no", "yes" if a["automated_decisions"] else "no",
            pia.get("reference", ""), pia.get("keep_until", ""),
        ])
    return out.getvalue()
