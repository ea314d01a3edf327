"""Collection is processing (PIPL Art. 4 ¶2; GDPR Art. 4(2)): a sensitive field is written only with a lawful basis in
force at that moment, and the basis is kept with the field (`collection_bases`) and named in the write's audit event.

Which fields need a basis and which bases count are policy (jurisdictions.yaml `sensitive_collection`):
- PIPL (CN): a separate consent (单独同意, Art. 29) in force to a purpose that declares the field, or a basis the
  policy lists (a statutory duty, Art. 13 ¶1(3)) named by the write with a purpose that rests on it and declares the
  field. A minor's every field (Art. 28 ¶1, 31) needs the guardian's separate consent — save the date of birth, which
  is how a handler learns that the person is a minor.
- GDPR (EU): the special categories only (Art. 9(1)): explicit consent in force (Art. 9(2)(a)), or a letter (b)–(j)
  with a reference, named by the write.
- CCPA (US-CA): a consent in force, or the notice at collection the write names (1798.100, 1798.121).

`Collection` is what a write path hands govern/subjects (its CollectionRule port): subjects stores the fields, then
asks it, in the same transaction, so a refusal leaves nothing written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import SubjectAction
from govern.consent import service as consent
from govern.consent.models import CollectionBasis, ConsentState
from govern.crypto.envelope import Envelope
from govern.errors import Forbidden, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.refusals import Refusal
from govern.subjects import facts
from govern.timeutil import parse_instant, utcnow

MISSING = "sensitive_basis_missing"
# The date of birth is how a handler comes to know that a person is a minor (PIPL Art. 31): never refused for it.
AGE_FIELD = "birth_date"
_GRANT_KEYS = (
    "purpose", "purposes", "channel", "method", "notice_version", "notice_language", "notice_sha256", "evidence", "captured_by",
    "occurred_at", "separate", "recipients", "guardian",
)


@dataclass(frozen=True)
class StatedBasis:
    """A basis other than consent, named by the write: a code of the jurisdiction's `bases`, a reference to the
    document or statute it rests on (not personal data), and the purpose the field is collected for."""

    basis: str
    reference: str
    purpose: str | None = None


def stated(raw: Any, *, purpose: str | None = None) -> StatedBasis | None:
    """The `sensitive_basis` of a request body, checked for shape (whether it counts is decided at the write)."""
    if raw is None:
        return None
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        raise validation_failed({"sensitive_basis": ["an object: {basis, reference, purpose}"]})
    unknown = sorted(set(raw) - {"basis", "reference", "purpose"})
    if unknown:
        errors["sensitive_basis"] = [f"unknown key(s): {', '.join(unknown)}"]
    basis, reference, named = raw.get("basis"), raw.get("reference"), raw.get("purpose", purpose)
    if not isinstance(basis, str) or not 1 <= len(basis) <= 32:
        errors["sensitive_basis.basis"] = ["the basis: consent is recorded through the consent registry; another basis by its code in jurisdictions.yaml sensitive_collection.bases"]
    if not isinstance(reference, str) or not reference.strip() or len(reference) > 200 or not reference.isprintable():
        errors["sensitive_basis.reference"] = ["1–200 printable characters: the document, contract or statute the basis rests on (not personal data)"]
    if named is not None and not isinstance(named, str):
        errors["sensitive_basis.purpose"] = ["a purpose name"]
    if errors:
        raise validation_failed(errors)
    return StatedBasis(basis=basis, reference=reference.strip(), purpose=named)


@dataclass(frozen=True)
class Collection:
    """The collection rule for one write. `grant`: a consent given with a create (the consent API's grant fields),
    recorded before the check; `stated`: a basis other than consent; `carry_over`: a rectification (PIPL Art. 46,
    GDPR Art. 16) — a field the subject already holds keeps the basis it was collected on, the request is the reference."""

    stated: StatedBasis | None = None
    grant: Mapping[str, Any] | None = None
    carry_over: str | None = None

    def __call__(
        self, *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject: Any, written: Sequence[str],
        held: frozenset[str] = frozenset(), action: SubjectAction = SubjectAction.UPDATE,
    ) -> None:
        """Records the grant, decides the basis of every written field that needs one, stores it and audits it (one
        event per basis and purpose, with the field names); raises 403 sensitive_basis_missing naming the fields
        without one."""
        if self.grant is not None:
            _record_grant(session, policy, envelope, actor, subject.id, self.grant)
        terms = policy.collection[subject.jurisdiction]
        law = policy.jurisdictions[subject.jurisdiction].law
        now = utcnow()
        minor = False
        if terms.minors_all_fields:
            born = facts.birth_date(session=session, envelope=envelope, subject_id=subject.id)
            minor = consent.is_minor(born, consent.minors_age(policy, subject.jurisdiction, subject.member_state), now.date())
        needed = sorted(n for n in written if n in terms.fields or (minor and n != AGE_FIELD))
        rows: list[CollectionBasis] = []
        missing: list[str] = []
        for name in needed:
            if self.carry_over is not None and name in held:
                rows.append(CollectionBasis(field=name, basis="carried", reference=self.carry_over))
                continue
            found = _consent_basis(session, policy, envelope, subject, name, terms.consent, now)
            if found is None and not minor:
                found = _other_basis(policy, subject.jurisdiction, terms, self.stated, name)
            if found is None:
                missing.append(name)
            else:
                rows.append(found)
        if missing:
            raise _refused(policy, subject, terms, missing, minor, action)
        groups: dict[tuple, list[str]] = {}
        for row in rows:
            row.subject_id, row.law, row.recorded_at, row.recorded_by = subject.id, law, now, actor.principal_id
            session.add(row)
            groups.setdefault((row.basis, row.purpose, row.receipt_id, row.reference, row.guardian), []).append(row.field)
        for (basis, purpose, receipt_id, reference, guardian), names in groups.items():
            audit.append(
                session=session, actor=actor, action=SubjectAction.BASIS, subject_id=subject.id, field_names=names, purpose=purpose,
                reason=f"{law}:{basis}{':guardian' if guardian else ''}",
                resource=f"consent-receipt:{receipt_id}" if receipt_id else (reference or None),
            )


def _record_grant(session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, grant: Mapping[str, Any]) -> None:
    if not isinstance(grant, Mapping):
        raise validation_failed({"consent": ["an object with the fields of a consent grant (POST /api/v1/subjects/{id}/consents)"]})
    unknown = sorted(set(grant) - set(_GRANT_KEYS))
    if unknown:
        raise validation_failed({"consent": [f"unknown key(s): {', '.join(unknown)}"]})
    purposes = list(grant.get("purposes") or ([grant["purpose"]] if grant.get("purpose") else []))
    occurred = grant.get("occurred_at")
    if isinstance(occurred, str):
        try:
            occurred = parse_instant(occurred)
        except ValueError:
            raise validation_failed({"consent.occurred_at": ["an ISO 8601 time with its offset"]}) from None
    consent.record(
        session=session, policy=policy, envelope=envelope, actor=actor, subject_id=subject_id, action="grant", purposes=purposes,
        channel=grant.get("channel"), method=grant.get("method") or "explicit", notice_version=grant.get("notice_version"),
        notice_language=grant.get("notice_language"), notice_sha256=grant.get("notice_sha256"), evidence=grant.get("evidence"),
        captured_by=grant.get("captured_by"), occurred_at=occurred if isinstance(occurred, datetime) else None,
        separate=bool(grant.get("separate")), recipients=list(grant.get("recipients") or ()), guardian=grant.get("guardian"),
    )


def _consent_basis(
    session: Session, policy: Policy, envelope: Envelope, subject: Any, name: str, kind: str, now: datetime,
) -> CollectionBasis | None:
    """A consent in force to a purpose that declares the field: the rule of a read (govern/consent/service.py
    `check`: granted, not stale, a guardian's for a minor, separate where the purpose or a minor's data needs it)."""
    if kind == "none":
        return None
    for purpose in sorted(policy.purposes.values(), key=lambda p: p.name):
        if name not in purpose.fields or purpose.basis_for(subject.jurisdiction) != "consent":
            continue
        verdict = consent.check(session=session, policy=policy, envelope=envelope, subject_id=subject.id, purpose=purpose, jurisdiction=subject.jurisdiction, now=now)
        if not verdict.allowed:
            continue
        state = session.scalar(select(ConsentState).where(ConsentState.subject_id == subject.id, ConsentState.purpose == purpose.name))
        if kind == "separate" and not state.separate:
            continue
        if kind == "explicit" and state.method not in ("explicit", "written"):
            continue
        return CollectionBasis(field=name, basis="consent", purpose=purpose.name, receipt_id=state.receipt_id, guardian=bool(state.guardian))
    return None


def _other_basis(policy: Policy, jurisdiction: str, terms: Any, given: StatedBasis | None, name: str) -> CollectionBasis | None:
    """A basis the write named: listed for the jurisdiction, for a purpose that declares the field (and rests on that
    basis here, where the policy says so)."""
    if given is None or given.basis not in terms.bases or given.purpose not in policy.purposes:
        return None
    purpose = policy.purposes[given.purpose]
    wanted = terms.bases[given.basis].purpose_basis
    if name not in purpose.fields or (wanted is not None and purpose.basis_for(jurisdiction) != wanted):
        return None
    return CollectionBasis(field=name, basis=given.basis, purpose=purpose.name, reference=given.reference)


def _refused(policy: Policy, subject: Any, terms: Any, missing: list[str], minor: bool, action: SubjectAction) -> Forbidden:
    law = policy.jurisdictions[subject.jurisdiction].law
    if minor:
        why = (f"the subject is a minor under {law} ({policy.ages[subject.jurisdiction].source_for(subject.member_state)}): each field needs "
               "the guardian's separate consent to a purpose that declares it")
    else:
        others = ", ".join(sorted(terms.bases)) or "none"
        why = (f"{law} needs a basis at collection ({terms.source}): a {'' if terms.consent in ('any', 'none') else terms.consent + ' '}consent "
               f"in force to a purpose that declares the field, or sensitive_basis naming one of: {others}, with a reference and a purpose that declares the field")
    return Forbidden(
        MISSING, "No lawful basis to collect these fields", f"No basis for {', '.join(missing)}: {why}.",
        extra={"reason": MISSING, "fields": missing, "jurisdiction": subject.jurisdiction, "bases": sorted(terms.bases) if not minor else [],
               "consent": "separate" if minor else terms.consent},
        audit=Refusal(action=action, reason=MISSING, subject_id=None if action == SubjectAction.CREATE else subject.id, field_names=tuple(missing)),
    )


def bases_of(*, session: Session, subject_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The latest recorded basis of each field of a subject (for the access package and staff; no values)."""
    out: dict[str, dict[str, Any]] = {}
    for row in session.scalars(select(CollectionBasis).where(CollectionBasis.subject_id == subject_id).order_by(CollectionBasis.id)):
        out[row.field] = {
            "law": row.law, "basis": row.basis, "purpose": row.purpose, "receipt_id": row.receipt_id, "guardian": row.guardian,
            "reference": row.reference, "recorded_at": row.recorded_at,
        }
    return out
