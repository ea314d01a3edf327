"""The records of processing (GDPR Art. 30; PIPL Art. 54–56): built from what govern already enforces (purposes and
their legal bases, the catalog's data categories, the retention rules, the recipient register, the processors of
processing.yaml, the controller of controller.yaml, the cryptography govern runs: govern/processing/measures.py), and
**kept**: each version of the controller's header, of each activity and of each impact assessment is stored when it
takes effect (`sync`, at start-up and before every read) and never changed or deleted; a retired activity or a
superseded assessment is a last version saying so. A document is always read from the stored versions in force at an
instant (`records(as_of=...)`), so what the DPO showed a regulator last year can be shown again, unchanged."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ProcessingAction
from govern.config import Settings
from govern.crypto import suites
from govern.crypto.suites import Suite
from govern.errors import Conflict, NotFound, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy, Purpose
from govern.processing import measures
from govern.processing.models import DutyEvent, RecordVersion
from govern.processing.policy import keep_until
from govern.retention.policy import RetentionRule
from govern.sharing import service as sharing
from govern.spreadsheet import text_cell
from govern.timeutil import as_utc, utcnow

LANGUAGES = ("zh", "en")
KINDS = ("controller", "activity", "assessment")
IN_FORCE, RETIRED, SUPERSEDED = "in_force", "retired", "superseded"


# --- append-only, on every database ----------------------------------------------------------------------------------


def _refuse_change(mapper, connection, target) -> None:  # noqa: ARG001 (SQLAlchemy's listener signature)
    raise Conflict(
        "record_kept", "Kept records cannot be changed",
        f"{target.__tablename__} is append-only: a version of a record of processing, an impact assessment or a duty done "
        "is kept as it was (PIPL Art. 56: at least three years).",
    )


for _model in (RecordVersion, DutyEvent):
    event.listen(_model, "before_update", _refuse_change)
    event.listen(_model, "before_delete", _refuse_change)


# --- what the records say now ----------------------------------------------------------------------------------------


def _label(labels, language: str, fallback: str) -> str:
    return (labels or {}).get(language) or fallback


def _basis(rule: RetentionRule) -> str:
    return f"{rule.legal_basis_code}: {rule.legal_basis_text}"


def _retention(policy: Policy, purpose: Purpose) -> list[dict[str, str]]:
    rules = {policy.retention.field_rules[f] for f in purpose.fields if f in policy.retention.field_rules}
    rules |= {policy.retention.record_rules[r] for r in purpose.record_types if r in policy.retention.record_rules}
    return [{"rule": r.name, "keep": str(r.keep), "counted_from": r.counted_from, "legal_basis": _basis(r)} for r in sorted(rules, key=lambda r: r.name)]


def _erasure_time_limits(policy: Policy, purpose: Purpose, language: str) -> list[dict[str, Any]]:
    """GDPR Art. 30(1)(f): the time limit for erasure of each *category* of data (the rules merged per category)."""
    catalog, rp = policy.catalog, policy.retention
    items = [(catalog.fields[f].category, rp.field_rules.get(f)) for f in purpose.fields]
    items += [(catalog.record_types[r].category, rp.record_rules.get(r)) for r in purpose.record_types]
    by_category: dict[str, set[tuple[str, str, str]]] = {}
    for category, rule in items:
        limits = by_category.setdefault(category, set())
        if rule is not None:
            limits.add((str(rule.keep), rule.counted_from, _basis(rule)))
    until_done = {"zh": "目的实现后删除（《个人信息保护法》第19条、第47条）", "en": "erased once the purpose is achieved (PIPL Art. 19, 47; GDPR Art. 5(1)(e))"}
    return [
        {
            "category": _label(catalog.categories.get(category), language, category),
            "time_limits": [{"keep": k, "counted_from": c, "legal_basis": b} for k, c, b in sorted(limits)] or [{"keep": None, "counted_from": None, "legal_basis": until_done[language]}],
        }
        for category, limits in sorted(by_category.items())
    ]


def _assessment_of(policy: Policy, name: str):
    entrusted = policy.processing.entrusted.get(name)
    return policy.purposes[name].impact_assessment, (entrusted.impact_assessment if entrusted else None)


def _activity(policy: Policy, purpose: Purpose, recipients: list, language: str) -> dict[str, Any]:
    catalog = policy.catalog
    keep_years = policy.processing.impact_assessment_keep_years
    categories = sorted({catalog.fields[f].category for f in purpose.fields} | {catalog.record_types[r].category for r in purpose.record_types})
    assessment = purpose.impact_assessment
    entrusted = policy.processing.entrusted.get(purpose.name)
    home = policy.controller.country
    transfers = [
        {"to": r.name, "country": r.country, "safeguard": r.transfer_mechanism}
        for r in recipients if r.country != home
    ]
    if entrusted is not None and entrusted.country != home:
        transfers.append({"to": _label(entrusted.processor, language, ""), "country": entrusted.country, "safeguard": entrusted.agreement})
    return {
        "purpose": purpose.name,
        "purpose_label": _label(purpose.label, language, purpose.name),
        "legal_basis": {code: purpose.basis_for(code) for code in sorted(policy.jurisdictions)},
        "legal_source": purpose.source,
        "data_subjects": _label(policy.processing.data_subjects, language, ""),
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
        "transfers": transfers,
        "cross_border": purpose.cross_border or bool(transfers),
        "retention": _retention(policy, purpose),
        "erasure_time_limits": _erasure_time_limits(policy, purpose, language),
        "processor": None if entrusted is None else {
            "name": _label(entrusted.processor, language, ""), "country": entrusted.country, "agreement": entrusted.agreement,
            "impact_assessment": entrusted.impact_assessment.reference, "source": entrusted.source,
        },
        "impact_assessment": None if assessment is None else {
            "reasons": list(purpose.impact_assessment_reasons),
            "reference": assessment.reference,
            "assessed_at": assessment.assessed_at.isoformat(),
            "approved_by": assessment.approved_by,
            "keep_until": keep_until(assessment.assessed_at, keep_years).isoformat(),
        },
    }


def _contact(contact, language: str) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {"name": _label(contact.get("name"), language, ""), "email": contact.get("email"), "phone": contact.get("phone"),
            "address": _label(contact.get("address"), language, "") or None}


def _controller(policy: Policy, crypto: measures.CryptoInForce, language: str) -> dict[str, Any]:
    c = policy.controller
    return {
        "name": _label(c.name, language, ""), "contact": c.contact, "email": c.email, "phone": c.phone,
        "address": _label(c.address, language, ""), "country": c.country,
        "dpo": _contact(c.dpo, language),
        "eu_representative": _contact(c.eu_representative, language),
        "data_subjects": _label(policy.processing.data_subjects, language, ""),
        "jurisdictions": {code: _label(j.label, language, j.law) for code, j in sorted(policy.jurisdictions.items())},
        # Art. 30(1)(g): the cryptographic measures generated from what runs, then the policy's other measures.
        "security_measures": measures.security_measures(policy, crypto, language),
    }


def _assessments(policy: Policy) -> dict[str, dict[str, Any]]:
    """Each impact assessment on record, by reference: what it covers and until when it is kept."""
    keep_years = policy.processing.impact_assessment_keep_years
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(policy.purposes):
        for a, why in zip(_assessment_of(policy, name), ("purpose", "entrusted"), strict=True):
            if a is None:
                continue
            doc = out.setdefault(a.reference, {
                "reference": a.reference, "assessed_at": a.assessed_at.isoformat(), "approved_by": a.approved_by,
                "keep_until": keep_until(a.assessed_at, keep_years).isoformat(), "keep_source": policy.processing.impact_assessment_source,
                "covers": [],
            })
            reasons = list(policy.purposes[name].impact_assessment_reasons) if why == "purpose" else ["entrusted_processing"]
            doc["covers"].append({"purpose": name, "reasons": reasons})
    return out


def current_contents(*, session: Session, policy: Policy, settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """Every record as it would read now: (kind, key) -> content (zh and en side by side where it has words). `settings`
    says where the master keys live (GOVERN_KEK), a security measure the controller's record states."""
    by_purpose: dict[str, list] = {}
    for r in sharing.list_recipients(session=session, active_only=True):
        by_purpose.setdefault(r.purpose, []).append(r)
    crypto = measures.in_force(session=session, policy=policy, settings=settings)
    out: dict[tuple[str, str], dict[str, Any]] = {("controller", "controller"): {lang: _controller(policy, crypto, lang) for lang in LANGUAGES}}
    for name, purpose in sorted(policy.purposes.items()):
        out[("activity", name)] = {lang: _activity(policy, purpose, by_purpose.get(name, []), lang) for lang in LANGUAGES}
    for ref, doc in _assessments(policy).items():
        out[("assessment", ref)] = doc
    return out


def _canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def digest(content: dict[str, Any], suite: Suite) -> str:
    """A version's content hash: govern's own integrity value, so it follows the suite in force (policies/crypto.yaml;
    start-up refuses a suite the data is not under or migrating to) and names its algorithm — `sm3:` and the first 240
    bits of SM3 under commercial_cn, bare SHA-256 hex as every version stored before suites (crypto.suites.named_hash)."""
    return suite.named_hash(_canonical(content))


def suite_in_force(policy: Policy) -> Suite:
    return suites.suite(policy.crypto.suite)


def unchanged(stored: str, content: dict[str, Any]) -> bool:
    """Whether `content` still hashes to a version's stored digest, under the algorithm the digest names: a version
    stored before a suite migration is not stored again after it merely because the algorithm changed."""
    return suites.named_hash_matches(stored, _canonical(content))


def digest_fields(stored: str) -> dict[str, str]:
    """A version's digest as documents show it: `content_digest` and its `digest_algorithm` (SHA-256 or SM3), and
    `content_sha256` too when it is SHA-256 (the only field before suites)."""
    algorithm = suites.of_digest(stored).hash_label
    return {"content_digest": stored, "digest_algorithm": algorithm, **({"content_sha256": stored} if algorithm == "SHA-256" else {})}


# --- kept versions ---------------------------------------------------------------------------------------------------


def _latest(session: Session) -> dict[tuple[str, str], RecordVersion]:
    latest: dict[tuple[str, str], RecordVersion] = {}
    for v in session.scalars(select(RecordVersion).order_by(RecordVersion.kind, RecordVersion.key, RecordVersion.version)):
        latest[(v.kind, v.key)] = v
    return latest


def _store(session: Session, policy: Policy, actor: Actor, kind: str, key: str, version: int, status: str, content: dict, at: datetime) -> RecordVersion | None:
    row = RecordVersion(kind=kind, key=key, version=version, status=status, content=content, content_sha256=digest(content, suite_in_force(policy)),
                        policy_digest=policy.digest, effective_at=at, recorded_at=at)
    try:
        with session.begin_nested():  # another process storing the same version first wins; nothing is stored twice
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    audit.append(session=session, actor=actor, action=ProcessingAction.RECORDS_VERSION, resource=f"{kind}:{key}:v{version}",
                 reason=f"{status} {_reason_digest(row.content_sha256)}")
    return row


def _reason_digest(stored: str) -> str:
    # `sha256=` and 16 hex characters, as before suites; `sm3=` and 16 for an SM3 digest.
    suite = suites.of_digest(stored)
    return f"{suite.hash_name}={stored.removeprefix(suite.digest_prefix)[:16]}"


def sync(*, session: Session, policy: Policy, actor: Actor, settings: Settings, now: datetime | None = None) -> list[RecordVersion]:
    """Stores a new version of every record whose content changed (or that is new), and a last `retired` /
    `superseded` version of every record the policy no longer has. Idempotent: an unchanged record is not stored. A
    change of the suite or of the master-key provider changes the controller's record (its security measures), so
    its new version is stored when the change takes effect."""
    now = now or utcnow()
    current = current_contents(session=session, policy=policy, settings=settings)
    latest = _latest(session)
    stored: list[RecordVersion] = []
    for (kind, key), content in sorted(current.items()):
        last = latest.get((kind, key))
        if last is not None and last.status == IN_FORCE and unchanged(last.content_sha256, content):
            continue
        row = _store(session, policy, actor, kind, key, (last.version + 1) if last else 1, IN_FORCE, content, now)
        if row is not None:
            stored.append(row)
    for (kind, key), last in sorted(latest.items()):
        if (kind, key) not in current and last.status == IN_FORCE:
            row = _store(session, policy, actor, kind, key, last.version + 1, SUPERSEDED if kind == "assessment" else RETIRED, last.content, now)
            if row is not None:
                stored.append(row)
    return stored


def _periods(session: Session) -> Iterable[tuple[RecordVersion, datetime | None]]:
    """Each stored version with the instant the next version of the same record replaced it (None: still the last)."""
    rows = list(session.scalars(select(RecordVersion).order_by(RecordVersion.kind, RecordVersion.key, RecordVersion.version)))
    for i, v in enumerate(rows):
        nxt = rows[i + 1] if i + 1 < len(rows) and (rows[i + 1].kind, rows[i + 1].key) == (v.kind, v.key) else None
        yield v, (as_utc(nxt.effective_at) if nxt else None)


def in_force(*, session: Session, start: datetime, end: datetime | None = None) -> list[RecordVersion]:
    """The versions in force at `start` (end None), or at any time during [start, end)."""
    start = as_utc(start)
    out = []
    for v, until in _periods(session):
        began = as_utc(v.effective_at)
        if v.status != IN_FORCE:
            continue
        if end is None:
            if began <= start and (until is None or until > start):
                out.append(v)
        elif began < as_utc(end) and (until is None or until > start):
            out.append(v)
    return out


def _version_doc(v: RecordVersion) -> dict[str, Any]:
    return {"version": v.version, "status": v.status, "effective_at": as_utc(v.effective_at).isoformat(), **digest_fields(v.content_sha256),
            "policy_digest": v.policy_digest}


def document(versions: list[RecordVersion], language: str) -> dict[str, Any]:
    """The records of processing in one language, from stored versions."""
    controller = [v for v in versions if v.kind == "controller"]
    header = controller[-1].content[language] if controller else None
    return {
        "language": language,
        "controller": None if header is None else {k: header[k] for k in ("name", "contact", "email", "phone", "address", "country", "dpo", "eu_representative")},
        "controller_version": _version_doc(controller[-1]) if controller else None,
        "data_subjects": header["data_subjects"] if header else "",
        "jurisdictions": header["jurisdictions"] if header else {},
        "security_measures": header["security_measures"] if header else [],
        "activities": [{**v.content[language], **_version_doc(v)} for v in versions if v.kind == "activity"],
        "assessments": [{**v.content, **_version_doc(v)} for v in versions if v.kind == "assessment"],
    }


def _language(language: str) -> None:
    if language not in LANGUAGES:
        raise validation_failed({"lang": ["must be zh or en"]})


def records(
    *, session: Session, policy: Policy, actor: Actor, settings: Settings, language: str = "zh", as_of: datetime | None = None,
) -> dict[str, Any]:
    """The records of processing in force at `as_of` (now: after storing any version that took effect), read from the
    stored versions; reading them is audited."""
    _language(language)
    now = utcnow()
    if as_of is None or as_utc(as_of) >= now:
        sync(session=session, policy=policy, actor=actor, settings=settings, now=now)
    at = now if as_of is None else as_utc(as_of)
    doc = {"as_of": at.isoformat(), "policy_digest": policy.digest, **document(in_force(session=session, start=at), language)}
    audit.append(session=session, actor=actor, action=ProcessingAction.RECORDS_READ, resource=f"ropa:{language}", reason=f"as_of={at.isoformat()}")
    return doc


def records_during(*, session: Session, actor: Actor, start: datetime, end: datetime, language: str) -> dict[str, Any]:
    """Every version in force at some time in [start, end) (a record changed in the period appears once per version)."""
    _language(language)
    doc = {"from": as_utc(start).isoformat(), "to": as_utc(end).isoformat(), **document(in_force(session=session, start=start, end=end), language)}
    audit.append(session=session, actor=actor, action=ProcessingAction.RECORDS_READ, resource=f"ropa:{language}:{doc['from']}..{doc['to']}")
    return doc


def history(*, session: Session, actor: Actor, kind: str, key: str) -> list[dict[str, Any]]:
    """Every stored version of one record, retired and superseded ones included; audited."""
    if kind not in KINDS:
        raise validation_failed({"kind": [f"one of {', '.join(KINDS)}"]})
    rows = list(session.scalars(select(RecordVersion).where(RecordVersion.kind == kind, RecordVersion.key == key).order_by(RecordVersion.version)))
    if not rows:
        raise NotFound("record of processing")
    audit.append(session=session, actor=actor, action=ProcessingAction.HISTORY_READ, resource=f"{kind}:{key}")
    return [{"kind": v.kind, "key": v.key, **_version_doc(v), "recorded_at": as_utc(v.recorded_at).isoformat(), "content": v.content} for v in rows]


# --- CSV -------------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "purpose", "purpose_label", "controller", "controller_contact", "dpo", "eu_representative", "data_subjects", "legal_basis",
    "data_categories", "sensitive_data", "recipients", "transfers", "cross_border", "erasure_time_limits", "retention",
    "security_measures", "processor", "processing_agreement", "separate_consent", "automated_decisions", "impact_assessment",
    "impact_assessment_keep_until", "version", "effective_at", "content_digest", "digest_algorithm",
)


def _who(contact: dict[str, Any] | None) -> str:
    if not contact:
        return ""
    return "; ".join(x for x in (contact.get("name"), contact.get("email"), contact.get("phone"), contact.get("address")) if x)


def as_csv(document: dict[str, Any]) -> str:
    """One row per activity (version), each carrying every GDPR Art. 30(1) item; lists joined with '; '."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    c = document.get("controller") or {}
    for a in document["activities"]:
        pia = a["impact_assessment"] or {}
        processor = a.get("processor") or {}
        writer.writerow(text_cell(v) for v in [  # a recipient's name is typed by staff
            a["purpose"], a["purpose_label"],
            _who({"name": c.get("name"), "address": c.get("address")}), _who({"name": c.get("contact"), "email": c.get("email"), "phone": c.get("phone")}),
            _who(c.get("dpo")), _who(c.get("eu_representative")), a.get("data_subjects", ""),
            "; ".join(f"{k}={v}" for k, v in a["legal_basis"].items()),
            "; ".join(a["data_categories"]), "; ".join(a["sensitive_data"]),
            "; ".join(f"{r['name']} ({r['country']})" for r in a["recipients"]),
            "; ".join(f"{t['to']} ({t['country']}): {t['safeguard'] or '-'}" for t in a.get("transfers", [])),
            "yes" if a["cross_border"] else "no",
            "; ".join(
                f"{e['category']}: " + ", ".join(f"{t['keep']} from {t['counted_from']}" if t["keep"] else t["legal_basis"] for t in e["time_limits"])
                for e in a.get("erasure_time_limits", [])
            ),
            "; ".join(f"{r['rule']}: {r['keep']} from {r['counted_from']}" for r in a["retention"]),
            "; ".join(document.get("security_measures", [])),
            _who({"name": processor.get("name"), "address": processor.get("country")}), processor.get("agreement", ""),
            "yes" if a["separate_consent"] else "no", "yes" if a["automated_decisions"] else "no",
            pia.get("reference", ""), pia.get("keep_until", ""), a.get("version", ""), a.get("effective_at", ""), a.get("content_digest", ""),
            a.get("digest_algorithm", ""),
        ])
    return out.getvalue()
