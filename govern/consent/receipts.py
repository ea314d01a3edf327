"""Consent receipts: the fields of the Kantara Initiative Consent Receipt Specification v1.1 that apply, built once
when an event is recorded and stored as issued, so that fetching a receipt again returns exactly what was given.

govern-specific facts (the notice's hash, the channel) sit under `govern`; a guardian
is described by relationship and verification only — never by name.

What the person agreed to is on the receipt: the scope the notice version announced (`govern.scope`), and for a
provision to another handler, a public disclosure or a transfer abroad (PIPL Art. 23, 25, 39) each recipient's name,
contact, purpose, processing method and kinds of data, and for an overseas recipient how rights are exercised against
it (`govern.recipients`). A guardian's consent for a child whose data is sensitive (PIPL Art. 28, 31) is itself
marked as sensitive processing (`sensitive`, `govern.sensitive_processing`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Sequence

from govern.policy import Policy, Purpose

SPEC_VERSION = "KI-CR-v1.1.0"
_CONSENT_TYPE = {"explicit": "EXPLICIT", "written": "EXPLICIT", "gpc": "OPT-OUT"}


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def build(
    *, policy: Policy, receipt_id: str, subject_id: str, jurisdiction: str, language: str, action: str, method: str,
    channel: str, purposes: Sequence[Purpose], notices: dict[str, dict[str, str]], occurred_at: datetime, recorded_at: datetime,
    recorded_by: str, separate: bool, recipients: dict[str, list[dict[str, str]]], guardian: dict[str, str] | None,
    evidence: str | None, captured_by: str | None, scopes: dict[str, dict[str, Any]] | None = None, guardian_sensitive: bool = False,
    entered_because: str | None = None,
) -> dict[str, Any]:
    c = policy.controller
    sensitive = sorted({f for p in purposes for f in p.sensitive_fields})
    first = purposes[0].name if purposes else "privacy_policy"
    notice = notices.get(first, {})
    policy_url = c.notice_url.format(purpose=first, language=language, version=notice.get("version", ""))
    scopes = scopes or {}
    entries = []
    named: dict[str, list[dict[str, Any]]] = {}
    for p in purposes:
        names = recipients.get(p.name, [])
        scope = scopes.get(p.name)
        fields = scope["fields"] if scope else sorted(p.fields)
        types = scope["record_types"] if scope else sorted(p.record_types)
        terms = (scope or {}).get("provision") or p.provision
        if names:
            named[p.name] = [recipient_terms(r, terms, language, abroad=r.get("country") != c.country) if terms else dict(r) for r in names]
        elif terms and p.public_disclosure:
            named[p.name] = [recipient_terms({"name": "public", "contact": c.email}, terms, language, abroad=False)]
        entries.append({
            "purpose": p.label.get(language) or p.name,
            "purposeCategory": [p.name],
            "consentType": _CONSENT_TYPE.get(method, "EXPLICIT"),
            "piiCategory": sorted(
                {policy.catalog.fields[f].category for f in fields if f in policy.catalog.fields}
                | {policy.catalog.record_types[r].category for r in types if r in policy.catalog.record_types}
            ),
            "primaryPurpose": False,
            "termination": "until withdrawn" if action == "grant" else "withdrawn",
            "thirdPartyDisclosure": p.has_recipients,
            "thirdPartyName": ", ".join(r["name"] for r in names),
        })
    return {
        "version": SPEC_VERSION,
        "jurisdiction": jurisdiction,
        "consentTimestamp": int(occurred_at.timestamp()),
        "collectionMethod": f"{channel}: {method}",
        "consentReceiptID": receipt_id,
        "language": language,
        "piiPrincipalId": subject_id,
        "piiControllers": [{
            "piiController": c.name.get(language) or c.name["en"],
            "contact": c.contact,
            "address": c.address.get(language) or c.address["en"],
            "email": c.email,
            "phone": c.phone,
            "piiControllerUrl": c.url,
        }],
        "policyUrl": policy_url,
        "services": [{"service": c.name.get(language) or c.name["en"], "purposes": entries}],
        "sensitive": bool(sensitive) or guardian_sensitive,
        "spiCat": sorted({policy.catalog.fields[f].category for f in sensitive if f in policy.catalog.fields}),
        "govern": {
            "action": action,
            "method": method,
            "channel": channel,
            "separate_consent": separate,
            "notices": [{"purpose": name, **n} for name, n in sorted(notices.items())],
            "recipients": {k: v for k, v in sorted(named.items()) if v},
            "scope": {k: v for k, v in sorted(scopes.items())},
            "sensitive_processing": (
                {"guardian_consent_for_minor": True, "source": "PIPL Art. 28, 31"} if guardian_sensitive else None
            ),
            "guardian": guardian,
            "evidence": evidence,
            "captured_by": captured_by,
            "occurred_at": occurred_at.isoformat(),
            "recorded_at": recorded_at.isoformat(),
            "recorded_by": recorded_by,
            # Entered after it happened (a withdrawal received by letter): why, next to who entered it and when.
            **({"entered_because": entered_because} if entered_because else {}),
        },
    }


def recipient_terms(r: dict[str, Any], terms: dict[str, Any], language: str, *, abroad: bool) -> dict[str, Any]:
    """A recipient as the person was told of it (PIPL Art. 23, 25, 39): identity and contact from its registration,
    purpose, method and kinds of data from the notice; for one abroad, how rights are exercised against it."""
    out = {
        **{k: r[k] for k in ("id", "name", "contact", "country") if k in r},
        "purpose": terms["purpose"].get(language) or terms["purpose"]["en"],
        "method": terms["method"].get(language) or terms["method"]["en"],
        "data": sorted(r["categories"]) if r.get("categories") else list(terms["data"]),  # what its agreement lets it receive
    }
    if abroad:
        rights = terms.get("rights") or {}
        out["overseas"] = True
        out["rights"] = rights.get(language) or rights.get("en")
    return out
