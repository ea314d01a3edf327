"""Third-party sharing: register recipients with an agreement, and disclose a subject's fields to one only when it is
lawful — a legal basis, or separate consent naming that recipient (PIPL Art. 23) — under an unexpired data-security
agreement, and only the fields the purpose and the agreement allow. Every disclosure is recorded and audited."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from govern.access import service as access
from govern.audit import service as audit
from govern.audit.tags import SharingAction
from govern.consent import service as consent
from govern.consent.notices import provision_categories
from govern.crypto.envelope import Envelope
from govern.errors import Conflict, Problem, Unprocessable, not_found, require_editable, require_version, stale, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.refusals import Refusal
from govern.sharing.models import Disclosure, Recipient
from govern.subjects import facts as subjects
from govern.timeutil import as_utc, utcnow
from govern.validators import EMAIL_KIND, free_text_errors

# PIPL Art. 38: the ways personal information may leave China.
TRANSFER_MECHANISMS = ("cac_security_assessment", "standard_contract", "certification")
EDITABLE = ("name", "contact", "categories", "agreement_ref", "agreement_expires_on", "transfer_mechanism")


@dataclass(frozen=True)
class Disclosed:
    disclosure: Disclosure
    recipient: Recipient
    values: dict[str, str]


# --- recipients -------------------------------------------------------------------------------------------


def _purpose_categories(policy: Policy, purpose: str) -> set[str]:
    p = policy.purposes[purpose]
    return {policy.catalog.fields[f].category for f in p.fields}


def _announced(policy: Policy, provision: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The data categories a provision tells the person a recipient receives; None where the purpose has no provision."""
    if not provision:
        return None
    return provision_categories(provision.get("data"), policy.catalog)


def _validate(policy: Policy, data: Mapping[str, Any], *, today: date) -> None:
    errors: dict[str, list[str]] = {}
    for key, limit in (("name", 200), ("contact", 200), ("agreement_ref", 100)):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit or not value.isprintable():
            errors[key] = [f"1–{limit} printable characters"]
    # A recipient is an organisation: its name and agreement reference hold nothing of a person, and its contact is a
    # role address (privacy@partner.example): an e-mail address is expected there, a mobile or an ID number is not.
    texts = {key: data.get(key) for key in ("name", "contact", "agreement_ref") if key not in errors}
    errors.update(free_text_errors(texts, allow={"contact": (EMAIL_KIND,)}))
    purpose = data.get("purpose")
    if purpose not in policy.purposes:
        errors["purpose"] = ["unknown purpose (policies/purposes.yaml)"]
    country = data.get("country")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = ["an ISO 3166-1 alpha-2 code, e.g. CN, SG, DE"]
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories):
        errors["categories"] = ["a non-empty list of data categories (policies/catalog.yaml)"]
    elif purpose in policy.purposes:
        outside = sorted(set(categories) - _purpose_categories(policy, purpose))
        announced = _announced(policy, policy.purposes[purpose].provision)
        unannounced = sorted(set(categories) - announced) if announced is not None else []
        if outside:
            errors["categories"] = [f"not used by '{purpose}': {', '.join(outside)}"]
        elif unannounced:
            # The person is told which kinds of data this purpose provides (PIPL Art. 23, 25, 39): a recipient is
            # registered for those and no more.
            errors["categories"] = [f"not in the kinds of data '{purpose}' tells the person it provides (purposes.yaml provision.data): {', '.join(unannounced)}"]
    expires = data.get("agreement_expires_on")
    if not isinstance(expires, date):
        errors["agreement_expires_on"] = ["a date, YYYY-MM-DD"]
    elif expires <= today:
        errors["agreement_expires_on"] = ["the agreement must still be in force: a date after today"]
    mechanism = data.get("transfer_mechanism")
    if mechanism is not None and mechanism not in TRANSFER_MECHANISMS:
        errors["transfer_mechanism"] = [f"one of {', '.join(TRANSFER_MECHANISMS)} (PIPL Art. 38)"]
    if errors:
        raise validation_failed(errors)
    p = policy.purposes[purpose]
    if any(p.basis_for(code) == "consent" for code in policy.jurisdictions) and not p.has_recipients:
        raise Unprocessable(
            "purpose_not_for_third_parties", "Purpose does not provide data to third parties",
            f"'{purpose}' rests on consent and its notice does not cover provision to others: mark it provides_to_third_party "
            "(or cross_border) in policies/purposes.yaml and publish a notice, or choose a purpose that does (PIPL Art. 23, 39).",
        )
    abroad = country != policy.controller.country
    if abroad and not p.cross_border:
        raise Unprocessable(
            "cross_border_not_allowed", "Transfer abroad not covered",
            f"The recipient is outside {policy.controller.country} but '{purpose}' is not marked cross_border (PIPL Art. 38–39).",
        )
    if abroad and mechanism is None:
        raise validation_failed({"transfer_mechanism": [f"required for a recipient abroad: one of {', '.join(TRANSFER_MECHANISMS)} (PIPL Art. 38)"]})
    if not abroad and mechanism is not None:
        raise validation_failed({"transfer_mechanism": ["only for a recipient abroad"]})


def create_recipient(*, session: Session, policy: Policy, actor: Actor, data: Mapping[str, Any]) -> Recipient:
    """Registers a recipient with its purpose, data categories, country and data-security agreement; audited."""
    _validate(policy, data, today=utcnow().date())
    clash = session.scalar(select(Recipient.id).where(Recipient.name == data["name"].strip(), Recipient.purpose == data["purpose"], Recipient.disabled_at.is_(None)))
    if clash is not None:
        raise Conflict("recipient_exists", "Recipient exists", "An active recipient with this name is registered for this purpose.")
    recipient = Recipient(
        id=uuid.uuid4(), name=data["name"].strip(), contact=data["contact"].strip(), purpose=data["purpose"], categories=sorted(set(data["categories"])),
        country=data["country"], transfer_mechanism=data.get("transfer_mechanism"), agreement_ref=data["agreement_ref"].strip(),
        agreement_expires_on=data["agreement_expires_on"],
    )
    session.add(recipient)
    session.flush()  # the id goes into the audit event
    audit.append(session=session, actor=actor, action=SharingAction.RECIPIENT_CREATE, purpose=recipient.purpose, resource=f"recipient:{recipient.id}")
    return recipient


def get_recipient(*, session: Session, recipient_id: uuid.UUID, for_update: bool = False) -> Recipient:
    # for_update, PostgreSQL: one change to a recipient at a time; the next waits and reads it as it stands.
    recipient = session.get(Recipient, recipient_id, with_for_update=True if for_update else None, populate_existing=for_update)
    if recipient is None:
        raise not_found("recipient")
    return recipient


def list_recipients(*, session: Session, purpose: str | None = None, active_only: bool = False, today: date | None = None) -> list[Recipient]:
    query = select(Recipient).order_by(Recipient.purpose, Recipient.name)
    if purpose is not None:
        query = query.where(Recipient.purpose == purpose)
    if active_only:
        query = query.where(Recipient.disabled_at.is_(None), Recipient.agreement_expires_on >= (today or utcnow().date()))
    return list(session.scalars(query))


def update_recipient(
    *, session: Session, policy: Policy, actor: Actor, recipient_id: uuid.UUID, expected_version: int | None, changes: Mapping[str, Any],
) -> Recipient:
    """Changes contact, categories or the agreement (e.g. a renewal) if the caller holds the current version."""
    recipient = get_recipient(session=session, recipient_id=recipient_id, for_update=True)
    require_version(current=recipient.version, expected=expected_version, what="recipient")
    require_editable(changes, EDITABLE)
    merged = {k: getattr(recipient, k) for k in (*EDITABLE, "purpose", "country")} | dict(changes)
    _validate(policy, merged, today=utcnow().date())
    for key, value in changes.items():
        setattr(recipient, key, sorted(set(value)) if key == "categories" else value.strip() if isinstance(value, str) else value)
    recipient.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise stale("recipient") from None
    audit.append(
        session=session, actor=actor, action=SharingAction.RECIPIENT_UPDATE, purpose=recipient.purpose,
        resource=f"recipient:{recipient.id}", field_names=[f"recipient.{k}" for k in changes],
    )
    return recipient


def disable_recipient(*, session: Session, actor: Actor, recipient_id: uuid.UUID) -> Recipient:
    """No further disclosures to this recipient; its past disclosures stay on record. Idempotent."""
    recipient = get_recipient(session=session, recipient_id=recipient_id, for_update=True)
    if recipient.disabled_at is None:
        recipient.disabled_at = utcnow()
        audit.append(session=session, actor=actor, action=SharingAction.RECIPIENT_DISABLE, purpose=recipient.purpose, resource=f"recipient:{recipient.id}")
    return recipient


# --- disclosures ------------------------------------------------------------------------------------------


def disclose(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, recipient_id: uuid.UUID,
    fields: Sequence[str], purpose: str | None = None, now: datetime | None = None,
) -> Disclosed:
    """Checks, records and audits a disclosure, then returns the values to transmit. Refusals are audited."""
    now = now or utcnow()
    unknown = sorted(set(fields) - set(policy.catalog.fields))
    if not fields or unknown:
        raise validation_failed({"fields": [f"unknown field(s): {', '.join(unknown)}" if unknown else "name at least one field"]})
    recipient = get_recipient(session=session, recipient_id=recipient_id)
    purpose_name = purpose or recipient.purpose
    if purpose_name != recipient.purpose:
        raise validation_failed({"purpose": [f"the recipient is registered for '{recipient.purpose}'"]})
    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    names = tuple(sorted(set(fields)))

    def refuse(reason: str, detail: str) -> Problem:
        return access.refuse(reason, detail, Refusal(action=SharingAction.DISCLOSE, reason=reason, subject_id=subject.id, purpose=purpose_name, field_names=names))

    chosen = access.authorise_purpose(
        policy=policy, actor=actor, purpose_name=purpose_name, action=SharingAction.DISCLOSE, subject_id=subject.id,
        jurisdiction=subject.jurisdiction, subject_status=subject.status, session=session, envelope=envelope,
    )
    if recipient.disabled_at is not None:
        raise refuse("recipient_disabled", "This recipient is disabled: nothing may be disclosed to it.")
    if recipient.agreement_expires_on < now.date():
        raise refuse("agreement_expired", "The data-security agreement with this recipient has expired; renew it before sharing.")
    outside = [f for f in names if f not in chosen.fields]
    if outside:
        raise refuse("field_not_in_purpose", f"'{purpose_name}' may not use: {', '.join(outside)}.")
    # The caller receives the values to hand over: it may disclose only what its roles see in full for the purpose.
    visible = access.field_visibility(policy=policy, actor=actor, purpose=chosen)
    not_full = [f for f in names if visible.get(f) != "full"]
    if not_full:
        raise refuse("field_not_visible", f"This principal's roles do not see in full, so cannot hand over: {', '.join(not_full)}.")
    uncovered = [f for f in names if policy.catalog.fields[f].category not in recipient.categories]
    if uncovered:
        raise refuse("field_not_in_agreement", f"The agreement with this recipient does not cover: {', '.join(uncovered)}.")
    basis = chosen.basis_for(subject.jurisdiction)
    receipt_id = None
    if basis == "consent":
        state = consent.current_state(session=session, subject_id=subject.id, purpose=purpose_name)
        if state is None or not state.separate or str(recipient.id) not in (state.recipients or []):
            raise refuse("separate_consent_required", "The subject's separate consent does not name this recipient (PIPL Art. 23).")
        # The consent covers what its notice announced, nothing more (PIPL Art. 14 ¶2).
        uncovered_by_notice = consent.not_covered(chosen, consent.covered_scope(policy, chosen, state), fields=names, record_types=())
        if uncovered_by_notice is not None:
            raise refuse("not_covered_by_consent", uncovered_by_notice.detail)
        basis, receipt_id = "separate_consent", state.receipt_id
        told = consent.consented_provision(policy, chosen, state)
    else:
        told = chosen.provision
    # What the person was told this purpose provides (the provision of the notice they consented under, or of the
    # purpose): a recipient whose agreement reaches further is not the recipient they were told of (PIPL Art. 23, 39).
    announced = _announced(policy, told)
    if announced is not None:
        beyond = [f for f in names if policy.catalog.fields[f].category not in announced]
        if beyond:
            raise refuse("field_not_in_provision", f"The person was told '{purpose_name}' provides none of: {', '.join(beyond)} (its provision's kinds of data).")
        wider = sorted(set(recipient.categories) - announced)
        if wider:
            raise refuse(
                "recipient_not_in_provision",
                f"This recipient is registered to receive {', '.join(wider)}, which the provision the person was told of does not name "
                f"(it names {', '.join(sorted(announced))}): register it within the provision, or publish a notice that names it.",
            )
    values = subjects.field_values(session=session, envelope=envelope, subject_id=subject.id, names=list(names))
    disclosure = Disclosure(
        id=uuid.uuid4(), subject_id=subject.id, recipient_id=recipient.id, purpose=purpose_name, field_names=sorted(values), basis=basis,
        consent_receipt_id=receipt_id, agreement_ref=recipient.agreement_ref, occurred_at=now, actor_id=actor.principal_id,
        actor_name=actor.name, request_id=actor.request_id,
    )
    session.add(disclosure)
    # Written before the values leave this function: if the log cannot take it, nothing is disclosed.
    audit.append(
        session=session, actor=actor, action=SharingAction.DISCLOSE, subject_id=subject.id, field_names=values, purpose=purpose_name,
        resource=f"recipient:{recipient.id}",
    )
    return Disclosed(disclosure=disclosure, recipient=recipient, values=dict(sorted(values.items())))


def disclosures_of(*, session: Session, subject_id: uuid.UUID) -> list[tuple[Disclosure, Recipient]]:
    """Every disclosure of a subject with its recipient, oldest first (for the access package; the caller audits)."""
    rows = session.execute(
        select(Disclosure, Recipient).join(Recipient, Recipient.id == Disclosure.recipient_id)
        .where(Disclosure.subject_id == subject_id).order_by(Disclosure.occurred_at, Disclosure.id)
    )
    return [(d, r) for d, r in rows]


def recipients_of(*, session: Session, subject_id: uuid.UUID) -> dict[uuid.UUID, frozenset[str]]:
    """Every recipient that received a disclosure of the subject, with the field names it received (disabled recipients
    included: they still hold the data). For telling them of an erasure or rectification (GDPR Art. 19)."""
    return recipients_of_many(session=session, subject_ids=[subject_id]).get(subject_id, {})


def recipients_of_many(*, session: Session, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, frozenset[str]]]:
    """recipients_of for many subjects in one query (a retention purge batch): {subject: {recipient: field names}};
    subjects nobody received are absent."""
    out: dict[uuid.UUID, dict[uuid.UUID, set[str]]] = {}
    if subject_ids:
        rows = session.execute(
            select(Disclosure.subject_id, Disclosure.recipient_id, Disclosure.field_names).where(Disclosure.subject_id.in_(sorted(set(subject_ids))))
        )
        for subject_id, recipient_id, names in rows:
            out.setdefault(subject_id, {}).setdefault(recipient_id, set()).update(names)
    return {sid: {rid: frozenset(names) for rid, names in held.items()} for sid, held in out.items()}


def list_disclosures(*, session: Session, actor: Actor, subject_id: uuid.UUID) -> list[tuple[Disclosure, Recipient]]:
    """A subject's disclosures (who received which fields, when, on what basis); audited."""
    rows = disclosures_of(session=session, subject_id=subject_id)
    audit.append(session=session, actor=actor, action=SharingAction.DISCLOSURE_LIST, subject_id=subject_id, resource=f"subject:{subject_id}/disclosures")
    return rows


def disclosure_view(d: Disclosure, r: Recipient) -> dict[str, Any]:
    return {
        "id": d.id, "subject_id": d.subject_id, "recipient": {"id": r.id, "name": r.name, "country": r.country}, "purpose": d.purpose,
        "fields": list(d.field_names), "basis": d.basis, "consent_receipt_id": d.consent_receipt_id, "agreement_ref": d.agreement_ref,
        "disclosed_at": as_utc(d.occurred_at), "disclosed_by": d.actor_name,
    }
