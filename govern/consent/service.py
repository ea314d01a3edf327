"""The consent registry: record grants and withdrawals (append-only events, each with a receipt), derive the current
state, and answer "may this subject's data be used for this purpose now?" for one read or for 10,000 ids at once.

Rules: PIPL Art. 14 (informed, voluntary, explicit; re-consent on a change), Art. 15 (withdraw at any time,
conveniently), Art. 23/25/29/39 (separate consent), Art. 31 (guardians of minors under 14); GDPR Art. 7 and 8;
CCPA 1798.120/1798.135 (opt-out of sale/share, including Global Privacy Control).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from govern import validators
from govern.audit import service as audit
from govern.audit.tags import ConsentAction
from govern.consent import receipts
from govern.consent.models import ConsentEvent, ConsentReceipt, ConsentState, NoticeScope
from govern.consent.notices import needs_notice, provision_categories
from govern.consent.recipients import RegisteredRecipient, recipient_register
from govern.crypto import suites
from govern.crypto.envelope import Envelope
from govern.crypto.suites import Suite
from govern.errors import Conflict, Unprocessable, not_found, validation_failed
from govern.identifiers import id_batches, id_text, stored_id_text
from govern.identity.actor import Actor
from govern.identity.permissions import Permission, has_permission
from govern.policy import Policy, Purpose
from govern.subjects import facts as subjects
from govern.timeutil import as_utc, utcnow

ACTIONS = ("grant", "withdraw")
METHODS = ("explicit", "written", "gpc")  # gpc: a Global Privacy Control (opt-out preference) signal
CHANNELS = ("web", "app", "wechat", "phone", "paper", "in_store")
GUARDIAN_RELATIONSHIPS = ("parent", "legal_guardian")
MAX_CHECK_IDS = 10_000
# A client's clock may run a little ahead of ours; a grant dated further ahead than this is refused.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None
    detail: str = ""
    # Allowed under a consent whose notice announced less than the purpose uses now: the (fields, record types) it
    # covers; a read shows nothing else (PIPL Art. 14 ¶2). None: the whole purpose.
    covers: tuple[frozenset[str], frozenset[str]] | None = None


ALLOWED = Verdict(True)


@dataclass(frozen=True)
class Recorded:
    receipt_id: uuid.UUID
    receipt: dict[str, Any]
    events: list[ConsentEvent]


# --- the rule ---------------------------------------------------------------------------------------------


def is_minor(born: date | None, minors_age: int, today: date) -> bool:
    """Under the jurisdiction's minors' age today; an unknown date of birth counts as an adult (see docs/consent.md)."""
    if born is None:
        return False
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < minors_age


def minors_age(policy: Policy, jurisdiction: str, member_state: str | None = None) -> int:
    """Under this age only a guardian's consent counts: the jurisdiction's, or an EU member state's (GDPR Art. 8(1))."""
    return policy.ages[jurisdiction].age(member_state)


def covered_scope(policy: Policy, purpose: Purpose, state: Any) -> tuple[frozenset[str], frozenset[str]] | None:
    """The (fields, record types) of `purpose` a granted consent covers, when its notice version announced less than
    the purpose uses now; None when it covers the whole purpose. The scope is the one copied onto the consent when it
    was given; a consent recorded before scopes were kept counts its version's scope as the notice file states it."""
    scope = getattr(state, "scope", None)
    if scope is None:
        nset = policy.notices.for_purpose(purpose.name) if policy.notices else None
        found = nset.get(state.notice_version) if nset and getattr(state, "notice_version", None) else None
        scope = found.scope if found is not None else None
    if scope is None:
        return None
    fields = purpose.fields & frozenset(scope.get("fields") or ())
    types = purpose.record_types & frozenset(scope.get("record_types") or ())
    if fields == purpose.fields and types == purpose.record_types:
        return None
    return fields, types


def consented_provision(policy: Policy, purpose: Purpose, state: Any) -> Mapping[str, Any] | None:
    """The provision (recipient's purpose, method, kinds of data) the person was told of when they consented: the scope
    copied onto the consent, or its notice version's as the file states it, or the purpose's own."""
    scope = getattr(state, "scope", None)
    if scope is None:
        nset = policy.notices.for_purpose(purpose.name) if policy.notices else None
        found = nset.get(state.notice_version) if nset and getattr(state, "notice_version", None) else None
        scope = found.scope if found is not None else None
    if scope is not None and "provision" in scope:
        return scope["provision"] or None
    return purpose.provision


def scope_key(scope: Mapping[str, Any] | None) -> tuple | None:
    """What of a consent's scope decides a read (fields, record types), hashable: for the bulk check's memo."""
    if scope is None:
        return None
    return tuple(scope.get("fields") or ()), tuple(scope.get("record_types") or ())


def not_covered(purpose: Purpose, covers: tuple[frozenset[str], frozenset[str]] | None, fields: Any = None, record_types: Any = None) -> Verdict | None:
    """A refusal when the wanted fields or record types (None: all the purpose uses) lie outside what a consent covers."""
    if covers is None:
        return None
    wanted_fields = purpose.fields if fields is None else frozenset(fields)
    wanted_types = purpose.record_types if record_types is None else frozenset(record_types)
    outside = sorted(wanted_fields - covers[0]) + sorted(f"record:{t}" for t in wanted_types - covers[1])
    if not outside:
        return None
    return Verdict(
        False, "not_covered_by_consent",
        f"The subject's consent to '{purpose.name}' was given under a notice that did not announce: {', '.join(outside)}. "
        "The subject must consent again under the current notice (PIPL Art. 14 ¶2).",
    )


def evaluate(
    *, policy: Policy, purpose: Purpose, jurisdiction: str, state: Any, minor: bool, stale: frozenset[str], opt_in_minor: bool = False,
    wanted: tuple[Any, Any] | None = None,
) -> Verdict:
    """The decision for one subject from its current state (None when it never recorded anything). `opt_in_minor`: the
    subject is under the jurisdiction's sale_opt_in_age (CCPA 1798.120(c)), so a sale or share needs an opt-in.
    `wanted`: (fields, record types) the caller will use (None in either: everything the purpose uses); outside what
    the consent's notice announced they are refused. Without it, the verdict says what the consent covers."""
    status = getattr(state, "status", "none") or "none"
    if purpose.basis_for(jurisdiction) != "consent":
        if purpose.sale_or_share and status == "withdrawn":
            return Verdict(False, "opted_out", f"The subject opted out of '{purpose.name}' (sale or sharing).")
        if purpose.sale_or_share and opt_in_minor:
            if status != "granted":
                return Verdict(False, "opt_in_required", f"The subject is under {policy.ages[jurisdiction].sale_opt_in_age}: '{purpose.name}' (sale or sharing) needs an opt-in first.")
            if minor and not state.guardian:
                return Verdict(False, "guardian_consent_required", "The subject is a minor: only a parent's or guardian's opt-in counts.")
        return ALLOWED
    if status == "withdrawn":
        return Verdict(False, "consent_withdrawn", f"The subject withdrew consent to '{purpose.name}'.")
    if status != "granted":
        return Verdict(False, "consent_required", f"'{purpose.name}' rests on consent and the subject has not given it.")
    if minor and not state.guardian:
        return Verdict(False, "guardian_consent_required", "The subject is a minor: only a guardian's consent counts.")
    minors_sensitive = bool(policy.jurisdictions[jurisdiction].extra.get("minors_data_sensitive"))
    if (purpose.needs_separate_consent or (minor and minors_sensitive)) and not state.separate:
        return Verdict(False, "separate_consent_required", f"'{purpose.name}' needs separate consent, given on its own.")
    if state.notice_version in stale:
        return Verdict(False, "reconsent_required", f"The notice for '{purpose.name}' changed; the subject must consent again.")
    covers = covered_scope(policy, purpose, state)
    if wanted is not None:
        return not_covered(purpose, covers, *wanted) or ALLOWED
    return Verdict(True, covers=covers) if covers is not None else ALLOWED


def _stale(policy: Policy, purpose: str, now: datetime) -> frozenset[str]:
    notices = policy.notices.for_purpose(purpose) if policy.notices else None
    return notices.stale_versions(now) if notices else frozenset()


def _minor(session: Session, envelope: Envelope, policy: Policy, subject_id: uuid.UUID, jurisdiction: str, now: datetime) -> bool:
    born = subjects.birth_date(session=session, envelope=envelope, subject_id=subject_id)
    return is_minor(born, minors_age(policy, jurisdiction, subjects.member_state(session=session, subject_id=subject_id)), now.date())


def _sale_opt_in(policy: Policy, purpose: Purpose, jurisdiction: str) -> int | None:
    """The age under which this purpose needs an opt-in although it does not rest on consent (CCPA 1798.120(c))."""
    if not purpose.sale_or_share or purpose.basis_for(jurisdiction) == "consent":
        return None
    return policy.ages[jurisdiction].sale_opt_in_age


def _age_flags(
    session: Session, envelope: Envelope, policy: Policy, purpose: Purpose, subject_id: uuid.UUID, jurisdiction: str, state: Any, now: datetime,
) -> tuple[bool, bool]:
    """(minor, opt_in_minor) for evaluate: the date of birth is decrypted only when the decision depends on it."""
    opt_in_age = _sale_opt_in(policy, purpose, jurisdiction)
    if opt_in_age is None:
        return _needs_age(state) and _minor(session, envelope, policy, subject_id, jurisdiction, now), False
    born = subjects.birth_date(session=session, envelope=envelope, subject_id=subject_id)
    age = minors_age(policy, jurisdiction, subjects.member_state(session=session, subject_id=subject_id))
    return is_minor(born, age, now.date()), is_minor(born, opt_in_age, now.date())


def _needs_age(state: Any) -> bool:
    # A separate grant by a guardian holds at any age; every other grant depends on whether the subject is a minor.
    return state is not None and state.status == "granted" and not (state.guardian and state.separate)


def check(
    *, session: Session, policy: Policy, envelope: Envelope, subject_id: uuid.UUID, purpose: Purpose, jurisdiction: str,
    now: datetime | None = None,
) -> Verdict:
    """May this subject's data be used for `purpose` now? Read from the database every time: never cached."""
    if purpose.basis_for(jurisdiction) != "consent" and not purpose.sale_or_share:
        return ALLOWED
    now = now or utcnow()
    state = session.execute(
        select(ConsentState).where(ConsentState.subject_id == subject_id, ConsentState.purpose == purpose.name)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    minor, opt_in_minor = _age_flags(session, envelope, policy, purpose, subject_id, jurisdiction, state, now)
    return evaluate(
        policy=policy, purpose=purpose, jurisdiction=jurisdiction, state=state, minor=minor, stale=_stale(policy, purpose.name, now),
        opt_in_minor=opt_in_minor,
    )


def bulk_states(
    *, session: Session, policy: Policy, envelope: Envelope, purpose: str, ids: list[str], standings: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, date]]:
    """What the bulk check (govern/access: allowed_subjects) needs of the registry for these ids (canonical text):
    the purpose's state rows, and the dates of birth that must be decrypted — only where a grant's proof of age no
    longer fits the stored date, or was checked at a lower age."""
    states = _states(session, purpose, ids)
    to_read = [uuid.UUID(k) for k in _dates_to_read(policy, states, standings) | _opt_in_dates(policy, policy.purposes[purpose], standings)]
    born = {str(sid): day for sid, day in subjects.birth_dates(session=session, envelope=envelope, subject_ids=to_read).items()} if to_read else {}
    return states, born


def stale_versions(policy: Policy, purpose: str, now: datetime) -> frozenset[str]:
    """The notice versions of the purpose whose grants no longer count (a newer version needs fresh consent)."""
    return _stale(policy, purpose, now)


def _states(session: Session, purpose: str, ids: list[str]) -> dict[str, Any]:
    """id text -> (id, status, notice_version, separate, guardian, adult_at_age, adult_evidence, scope) of the purpose's
    states."""
    cols = (
        id_text(session, ConsentState.subject_id), ConsentState.status, ConsentState.notice_version, ConsentState.separate,
        ConsentState.guardian, ConsentState.adult_at_age, ConsentState.adult_evidence, ConsentState.scope,
    )
    out: dict[str, Any] = {}
    for clause in id_batches(session, ConsentState.subject_id, ids):
        for row in session.execute(select(*cols).where(ConsentState.purpose == purpose, clause)).all():
            out[stored_id_text(row[0])] = row
    return out


def _dates_to_read(policy: Policy, states: Mapping[str, Any], known: Mapping[str, Any]) -> set[str]:
    """The subjects whose date of birth must be decrypted: a grant that depends on age whose proof of age — the
    fingerprint of the stored date, and the minors' age it was checked against — no longer fits."""
    out = set()
    for key, state in states.items():
        standing = known.get(key)
        if standing is None or standing.birth_date_fingerprint is None or not _needs_age(state):
            continue
        at_age = state.adult_at_age
        if state.adult_evidence != standing.birth_date_fingerprint or at_age is None or at_age < minors_age(policy, standing.jurisdiction, standing.member_state):
            out.add(key)
    return out


def _opt_in_dates(policy: Policy, purpose: Purpose, known: Mapping[str, Any]) -> set[str]:
    """The subjects whose age decides a sale or share that needs an opt-in under an age (CCPA 1798.120(c))."""
    ages = {code: _sale_opt_in(policy, purpose, code) for code in policy.jurisdictions}
    if not any(ages.values()):
        return set()
    return {key for key, s in known.items() if ages.get(s.jurisdiction) and s.birth_date_fingerprint is not None}


def recipients_for_grant(
    *, session: Session, purpose: str, recipient_ids: Sequence[str], announced: frozenset[str] | None = None,
) -> list[RegisteredRecipient]:
    """The recipients a grant names: each must be registered (sharing's register, asked through consent/recipients.py),
    active, registered for this purpose and, where the notice shown names the kinds of data provided (`announced`,
    catalog categories), within them."""
    if not recipient_ids:
        raise validation_failed({"recipients": [f"'{purpose}' provides data to third parties: name the recipients shown to the subject"]})
    register = recipient_register()
    found: list[RegisteredRecipient] = []
    for raw in recipient_ids:
        try:
            recipient = register.find(session, uuid.UUID(str(raw)))
        except ValueError:
            recipient = None
        if recipient is None or recipient.disabled or recipient.purpose != purpose:
            raise validation_failed({"recipients": [f"{raw}: not an active recipient registered for '{purpose}'"]})
        wider = sorted(set(recipient.categories or ()) - announced) if announced is not None else []
        if wider:
            raise validation_failed({"recipients": [
                f"{raw}: receives {', '.join(wider)}, which the notice shown does not name among the data '{purpose}' provides (PIPL Art. 23)"
            ]})
        found.append(recipient)
    return found


# --- recording --------------------------------------------------------------------------------------------


def _lock_state(session: Session, subject_id: uuid.UUID, purpose: str) -> ConsentState:
    """The state row of (subject, purpose), created if missing and locked until the transaction ends.

    The lock orders concurrent writers of the same subject and purpose, so the last committed event is also the
    last event in sequence order and the state always equals it. (SQLite takes the database write lock up front.)
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ConsentState)
        .values(subject_id=subject_id, purpose=purpose, status="none", separate=False, guardian=False, recipients=[], updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["subject_id", "purpose"])
    )
    return session.execute(
        select(ConsentState).where(ConsentState.subject_id == subject_id, ConsentState.purpose == purpose)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def _notice_versions(notice_version: Any, names: list[str]) -> dict[str, str | None]:
    if notice_version is None or isinstance(notice_version, str):
        return {n: notice_version for n in names}
    if isinstance(notice_version, dict) and all(isinstance(v, str) for v in notice_version.values()):
        extra = sorted(set(notice_version) - set(names))
        if extra:
            raise validation_failed({"notice_version": [f"names purposes not in this request: {', '.join(extra)}"]})
        return {n: notice_version.get(n) for n in names}
    raise validation_failed({"notice_version": ["a version string, or an object purpose → version"]})


def _clean_guardian(guardian: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    out: dict[str, str] = {}
    if guardian.get("relationship") not in GUARDIAN_RELATIONSHIPS:
        errors["guardian.relationship"] = [f"one of {', '.join(GUARDIAN_RELATIONSHIPS)}"]
    for key, limit in (("name", 100), ("verification", 200), ("contact", 200), ("subject_id", 36)):
        value = guardian.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            errors[f"guardian.{key}"] = [f"1–{limit} characters"]
        else:
            out[key] = value.strip()
    if not (out.get("name") or out.get("subject_id")):
        errors.setdefault("guardian.name", ["identify the guardian: a name or the guardian's subject_id"])
    if not out.get("verification"):
        errors.setdefault("guardian.verification", ["say how the guardian's identity and relationship were checked"])
    if errors:
        raise validation_failed(errors)
    out["relationship"] = guardian["relationship"]
    return out


def record(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, action: str,
    purposes: Sequence[str] = (), channel: str, method: str = "explicit", notice_version: Any = None,
    notice_language: str | None = None, notice_sha256: str | None = None, evidence: str | None = None,
    captured_by: str | None = None, occurred_at: datetime | None = None, separate: bool = False,
    recipients: Sequence[str] = (), guardian: Mapping[str, Any] | None = None, occurred_reason: str | None = None,
    now: datetime | None = None,
) -> Recorded:
    """Records a grant or a withdrawal (one event per purpose, one receipt for the act); refuses anything invalid
    before storing anything. A GPC signal (method "gpc") is an opt-out of every sale/share purpose. A withdrawal
    received earlier (a letter, an e-mail) is entered with its real time (`occurred_at`) and why it is entered late
    (`occurred_reason`, on the receipt), audited: it takes effect from then, never before the grant it ends."""
    names = list(purposes)
    errors: dict[str, list[str]] = {}
    if action not in ACTIONS:
        errors["action"] = ["grant or withdraw"]
    if method not in METHODS:
        errors["method"] = [f"one of {', '.join(METHODS)}"]
    if channel not in CHANNELS:
        errors["channel"] = [f"one of {', '.join(CHANNELS)}"]
    if method == "gpc" and action != "withdraw":
        errors["method"] = ["a Global Privacy Control signal is an opt-out: action must be withdraw"]
    if method == "gpc" and not names:
        names = sorted(n for n, p in policy.purposes.items() if p.sale_or_share)
    if not names:
        errors["purpose"] = ["name the purpose"]
    if len(set(names)) != len(names):
        errors["purposes"] = ["a purpose is named twice"]
    unknown = [n for n in names if n not in policy.purposes]
    if unknown:
        errors["purpose"] = [f"unknown purpose(s): {', '.join(unknown)} (policies/purposes.yaml)"]
    if method == "gpc" and not unknown and any(not policy.purposes[n].sale_or_share for n in names):
        errors["purpose"] = ["a GPC signal opts out of sale/share purposes only"]
    for key, value, limit in (("evidence", evidence, 200), ("captured_by", captured_by, 100)):
        if value is not None and (not value.strip() or len(value) > limit or not value.isprintable()):
            errors[key] = [f"1–{limit} printable characters"]
    if action == "grant" and not evidence:
        errors["evidence"] = ["a grant needs an evidence reference (form id, recording id, signed paper scan id)"]
    if notice_language is not None and notice_language not in ("zh", "en"):
        errors["notice_language"] = ["zh or en"]
    now = now or utcnow()
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            errors["occurred_at"] = ["must carry a time zone offset"]
        elif as_utc(occurred_at) > now + CLOCK_SKEW:
            errors["occurred_at"] = ["must not be in the future"]
    late = _late_entry(action, occurred_at, occurred_reason, now, errors)
    if errors:
        raise validation_failed(errors)

    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    if action == "grant" and subject.status not in ("active", "restricted"):
        raise subjects.inactive(subject)
    jurisdiction = subject.jurisdiction
    chosen = [policy.purposes[n] for n in names]
    for p in chosen:
        if p.basis_for(jurisdiction) != "consent" and not p.sale_or_share:
            raise Conflict(
                "consent_not_applicable", "Consent does not apply",
                f"'{p.name}' rests on {p.basis_for(jurisdiction)} in {jurisdiction}, not on consent: there is no consent to "
                "give or withdraw (file an objection request instead).",
            )
    language = notice_language or subject.language
    versions = _notice_versions(notice_version, names)
    notices: dict[str, dict[str, str]] = {}
    for p in chosen:
        wanted = versions[p.name]
        if wanted is None:
            if action == "grant":
                raise validation_failed({"notice_version": [f"name the version of the notice shown for '{p.name}'"]})
            continue
        nset = policy.notices.for_purpose(p.name)
        found = nset.get(wanted) if nset else None
        if found is None or not found.is_published(now):
            raise validation_failed({"notice_version": [f"'{wanted}' is not a published notice version for '{p.name}'"]})
        if notice_sha256 is not None and len(names) == 1 and notice_sha256 != found.sha256[language]:
            raise validation_failed({"notice_sha256": [f"does not match the text of version {wanted} in {language}"]})
        if action == "grant":
            newer = nset.reconsent_after(wanted, now)
            if newer is not None:
                raise Conflict(
                    "notice_superseded", "Notice superseded",
                    f"Version {wanted} of the '{p.name}' notice was replaced by {newer.version}, which needs fresh consent: show it instead.",
                    extra={"current_version": nset.current(now).version},
                )
        notices[p.name] = {"version": found.version, "language": language, "sha256": found.sha256[language]}

    guardian_clean: dict[str, str] | None = None
    guardian_sensitive = False  # a guardian's consent for a child whose data is sensitive (PIPL Art. 28, 31)
    recipient_names: dict[str, list[dict[str, str]]] = {}
    adult_proof: tuple[int | None, bytes | None] = (None, None)  # see ConsentState.adult_evidence
    if action == "grant":
        born, fingerprint = subjects.birth_date_with_fingerprint(session=session, envelope=envelope, subject_id=subject.id)
        age = minors_age(policy, jurisdiction, subject.member_state)
        minor = is_minor(born, age, now.date())
        if fingerprint is not None and not minor:
            adult_proof = (age, fingerprint)
        minors_sensitive = minor and bool(policy.jurisdictions[jurisdiction].extra.get("minors_data_sensitive"))
        if minor and guardian is None:
            raise Unprocessable(
                "guardian_consent_required", "Guardian consent required",
                f"The subject is under {age} ({policy.ages[jurisdiction].source_for(subject.member_state)}): "
                "a grant is accepted only as a guardian's consent, with the guardian identified.",
                extra={"reason": "guardian_consent_required"},
            )
        for p in chosen:
            why = list(p.separate_consent_reasons) + (["minor"] if minors_sensitive else [])
            if not why:
                continue
            if len(chosen) > 1:
                raise _separate_refused(p, why, "it was bundled with other purposes in one grant; ask for it on its own")
            if not separate:
                raise _separate_refused(p, why, "the grant does not say it was given on its own (send \"separate\": true)")
        if guardian is not None:
            guardian_clean = _clean_guardian(guardian)
            guardian_sensitive = minors_sensitive
        for p in chosen:
            if p.has_recipients:
                nset = policy.notices.for_purpose(p.name)
                shown = nset.get(notices[p.name]["version"]) if nset and p.name in notices else None
                told = shown.scope.get("provision") if shown is not None and shown.scope is not None else p.provision
                found_recipients = recipients_for_grant(
                    session=session, purpose=p.name, recipient_ids=list(recipients),
                    announced=provision_categories(told.get("data"), policy.catalog) if told else None,
                )
                recipient_names[p.name] = [
                    {"id": str(r.id), "name": r.name, "contact": r.contact, "country": r.country, "categories": list(r.categories)}
                    for r in found_recipients
                ]
            elif recipients:
                raise validation_failed({"recipients": [f"'{p.name}' provides no data to third parties"]})
    elif guardian is not None or recipients:
        raise validation_failed({"guardian" if guardian is not None else "recipients": ["only a grant names these"]})

    # Validated: from here on, store.
    receipt_id = uuid.uuid4()
    locked = {p.name: _lock_state(session, subject.id, p.name) for p in sorted(chosen, key=lambda p: p.name)}
    scopes: dict[str, dict[str, Any]] = {}  # what each granted notice version announced, as first recorded
    if action == "grant":
        for p in chosen:
            nset = policy.notices.for_purpose(p.name)
            found = nset.get(notices[p.name]["version"]) if nset else None
            if found is not None and found.scope is not None:
                scopes[p.name] = notice_scope(session=session, purpose=p.name, version=found.version, scope=found.scope, now=now, suite=envelope.suite)
    recorded_at = utcnow()  # taken after the locks, so event times follow commit order
    when = as_utc(occurred_at) if occurred_at is not None else recorded_at
    todo: list[Purpose] = []
    for p in chosen:
        state = locked[p.name]
        if action == "withdraw" and state.status != "granted":
            # An opt-out (a GPC signal, or a purpose that does not rest on consent here) stands even with no grant
            # before it; a repeated GPC signal (browsers send one with every visit) changes nothing.
            opt_out = method == "gpc" or p.basis_for(jurisdiction) != "consent"
            if method == "gpc" and state.status == "withdrawn":
                continue
            if not (opt_out and state.status == "none"):
                raise Conflict("nothing_to_withdraw", "Nothing to withdraw", f"The subject has no active consent to '{p.name}'.")
        if state.occurred_at is not None and when < as_utc(state.occurred_at):
            raise Conflict(
                "out_of_order", "Event out of order",
                f"A later event for '{p.name}' is already recorded; an event may not be dated before it.",
            )
        todo.append(p)
    if not todo:
        return Recorded(receipt_id=receipt_id, receipt={}, events=[])
    guardian_public = {k: guardian_clean[k] for k in ("relationship", "verification")} if guardian_clean else None
    body = receipts.build(
        policy=policy, receipt_id=str(receipt_id), subject_id=str(subject.id), jurisdiction=jurisdiction, language=language,
        action=action, method=method, channel=channel, purposes=todo, notices={k: v for k, v in notices.items() if k in {p.name for p in todo}},
        occurred_at=when, recorded_at=recorded_at, recorded_by=actor.name, separate=bool(separate) and action == "grant",
        recipients=recipient_names, guardian=guardian_public, evidence=evidence, captured_by=captured_by,
        scopes=scopes, guardian_sensitive=guardian_sensitive, entered_because=late,
    )
    # The receipt is stored as issued, before the events that reference it; neither is ever updated.
    session.add(ConsentReceipt(id=receipt_id, subject_id=subject.id, issued_at=recorded_at, body=receipts.canonical(body)))
    session.flush()
    sealed = None
    if guardian_clean is not None:
        sealed = subjects.seal_for_subject(
            session=session, envelope=envelope, subject_id=subject.id, slot=f"consent-guardian:{receipt_id}",
            plaintext=json.dumps(guardian_clean, ensure_ascii=False).encode(),
        )
    events: list[ConsentEvent] = []
    audit_action = ConsentAction.GRANT if action == "grant" else ConsentAction.OPT_OUT if method == "gpc" else ConsentAction.WITHDRAW
    for p in todo:
        notice = notices.get(p.name, {})
        event = ConsentEvent(
            receipt_id=receipt_id, subject_id=subject.id, purpose=p.name, action=action, method=method, channel=channel,
            notice_version=notice.get("version"), notice_language=notice.get("language"), notice_sha256=notice.get("sha256"),
            separate=bool(separate) and action == "grant", recipients=[r["id"] for r in recipient_names.get(p.name, [])],
            guardian=guardian_clean is not None, guardian_relationship=(guardian_clean or {}).get("relationship"),
            guardian_sealed=sealed, evidence=evidence, captured_by=captured_by, scope=scopes.get(p.name), occurred_at=when, recorded_at=recorded_at,
            recorded_by=actor.principal_id, recorded_by_name=actor.name, request_id=actor.request_id,
        )
        session.add(event)
        events.append(event)
    session.flush()  # the sequence numbers go into the state rows
    for event in events:
        state = locked[event.purpose]
        granted = event.action == "grant"
        state.status = "granted" if granted else "withdrawn"
        state.last_event_seq, state.receipt_id, state.method = event.seq, receipt_id, event.method
        state.notice_version = event.notice_version if granted else state.notice_version
        state.separate, state.guardian = event.separate, event.guardian
        state.recipients = list(event.recipients) if granted else []
        state.scope = event.scope if granted else state.scope
        state.occurred_at, state.updated_at = when, recorded_at
        state.adult_at_age, state.adult_evidence = adult_proof
        audit.append(
            session=session, actor=actor, action=audit_action, subject_id=subject.id, purpose=event.purpose,
            resource=f"consent-receipt:{receipt_id}",
        )
        # Any entry dated back (a grant too: its evidence reference vouches for the time, but an insider dating a grant
        # back must leave a trace of its own) is audited as such; the free text stays on the receipt.
        if late or when < recorded_at - CLOCK_SKEW:
            audit.append(
                session=session, actor=actor, action=ConsentAction.BACKDATE, subject_id=subject.id, purpose=event.purpose,
                resource=f"consent-receipt:{receipt_id}", reason=f"{action}:{(recorded_at - when).days}d",
            )
    return Recorded(receipt_id=receipt_id, receipt=body, events=events)


def _late_entry(action: str, occurred_at: datetime | None, reason: str | None, now: datetime, errors: dict[str, list[str]]) -> str | None:
    """The reason a withdrawal is entered after it was received (more than the clock skew ago), or None for one entered
    as it happens. Required then, so the receipt says who entered it (recorded_by) and why; a grant's time is vouched
    for by its evidence reference instead."""
    reason = (reason or "").strip() or None
    if reason is not None and (len(reason) > 300 or not reason.isprintable() or validators.free_text_problem(reason)):
        errors["occurred_reason"] = ["at most 300 printable characters, no personal data"]
        return None
    if occurred_at is None or occurred_at.tzinfo is None or as_utc(occurred_at) >= now - CLOCK_SKEW:
        return None
    if action == "withdraw" and reason is None:
        errors["occurred_reason"] = ["required: why the withdrawal is entered after it was received (e.g. a letter opened late)"]
    return reason


def notice_scope(*, session: Session, purpose: str, version: str, scope: Mapping[str, Any], now: datetime, suite: Suite) -> dict[str, Any]:
    """The scope a notice version announced, as recorded when it was first used for a grant (recorded now if this is
    the first). A versions.yaml whose scope for a used version reads differently since is refused: an edited file
    must not widen (or narrow) what consents given under that version cover (PIPL Art. 14 ¶2).

    The recorded hash is govern's own integrity value: taken under `suite` (the one in force; SM3 is stored as `sm3:`
    and its first 240 bits) and compared under the algorithm it names, so a scope pinned before a suite migration
    still matches after it."""
    canonical = receipts.canonical(dict(scope)).encode()
    digest = suite.named_hash(canonical)
    row = session.get(NoticeScope, (purpose, version))
    if row is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(NoticeScope).values(purpose=purpose, version=version, scope=dict(scope), sha256=digest, first_used_at=now)
            .on_conflict_do_nothing(index_elements=["purpose", "version"])
        )
        row = session.get(NoticeScope, (purpose, version))
        assert row is not None
    if not suites.named_hash_matches(row.sha256, canonical):
        raise Conflict(
            "notice_scope_changed", "Notice scope changed",
            f"The scope of version {version} of the '{purpose}' notice in policies/notices/{purpose}/versions.yaml differs from "
            "what it announced when first used: a published version never changes; publish a new version instead.",
        )
    return dict(row.scope)


def notice_recipients(*, session: Session, policy: Policy, purpose: str, language: str) -> list[dict[str, Any]] | None:
    """The recipients a notice names for a purpose that provides, discloses or transfers data (PIPL Art. 23, 25, 39):
    every active registered recipient with its name, contact, country and kinds of data, and the purpose, method and
    (abroad) rights the notice states; None for any other purpose."""
    p = policy.purposes.get(purpose)
    if p is None or not p.provision:
        return None
    rows = recipient_register().in_force(session, purpose, utcnow().date())
    return [
        receipts.recipient_terms(
            {"name": r.name, "contact": r.contact, "country": r.country, "categories": list(r.categories)}, dict(p.provision), language,
            abroad=r.country != policy.controller.country,
        )
        for r in rows
    ]


def _separate_refused(purpose: Purpose, why: list[str], how: str) -> Unprocessable:
    words = {
        "sensitive_data": "it uses sensitive personal information (PIPL Art. 29)",
        "third_party": "it provides data to a third party (PIPL Art. 23)",
        "public_disclosure": "it discloses data publicly (PIPL Art. 25)",
        "cross_border": "it transfers data abroad (PIPL Art. 39)",
        "minor": "the subject is a minor, whose data is sensitive (PIPL Art. 28, 31)",
        "policy": "policies/purposes.yaml asks for it",
    }
    return Unprocessable(
        "separate_consent_required", "Separate consent required",
        f"'{purpose.name}' needs separate consent because {'; '.join(words[w] for w in why)}: {how}.",
        extra={"reason": "separate_consent_required", "purpose": purpose.name, "because": why},
    )


# --- reading ----------------------------------------------------------------------------------------------


def get_receipt(*, session: Session, policy: Policy, actor: Actor, receipt_id: uuid.UUID) -> dict[str, Any]:
    """A receipt exactly as it was issued; audited. For the principal that recorded it (to give the subject) and for
    staff who report on consent (consent:report:read); another service's receipt id answers 404 like a missing one."""
    row = session.get(ConsentReceipt, receipt_id)
    if row is None:
        raise not_found("receipt")
    if actor.kind not in ("operator", "system") and not has_permission(policy, actor, Permission.CONSENT_REPORT):
        recorded_by = session.scalar(select(ConsentEvent.recorded_by).where(ConsentEvent.receipt_id == row.id).limit(1))
        if actor.principal_id is None or recorded_by != actor.principal_id:
            raise not_found("receipt")
    audit.append(session=session, actor=actor, action=ConsentAction.RECEIPT_READ, subject_id=row.subject_id, resource=f"consent-receipt:{receipt_id}")
    return json.loads(row.body)


def event_view(e: ConsentEvent) -> dict[str, Any]:
    return {
        "seq": e.seq, "receipt_id": e.receipt_id, "purpose": e.purpose, "action": e.action, "method": e.method, "channel": e.channel,
        "notice_version": e.notice_version, "notice_language": e.notice_language, "notice_sha256": e.notice_sha256,
        "separate": e.separate, "recipients": list(e.recipients or []), "guardian": e.guardian,
        "guardian_relationship": e.guardian_relationship, "evidence": e.evidence, "captured_by": e.captured_by,
        "occurred_at": as_utc(e.occurred_at), "recorded_at": as_utc(e.recorded_at), "recorded_by": e.recorded_by_name,
    }


def events_of(*, session: Session, subject_id: uuid.UUID) -> list[ConsentEvent]:
    """Every consent event of a subject, oldest first (for the access package; the caller audits)."""
    return list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.seq)))


def history(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, now: datetime | None = None,
) -> dict[str, Any]:
    """The current state per purpose (with whether it counts for use now, and why not) and the full history; audited."""
    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    now = now or utcnow()
    states = {s.purpose: s for s in session.scalars(select(ConsentState).where(ConsentState.subject_id == subject.id))}
    current = []
    for name, purpose in sorted(policy.purposes.items()):
        state = states.get(name)
        if not needs_notice(purpose, {subject.jurisdiction: None}) and state is None:
            continue
        minor, opt_in_minor = _age_flags(session, envelope, policy, purpose, subject.id, subject.jurisdiction, state, now)
        verdict = evaluate(
            policy=policy, purpose=purpose, jurisdiction=subject.jurisdiction, state=state, minor=minor, stale=_stale(policy, name, now),
            opt_in_minor=opt_in_minor,
        )
        current.append({
            "purpose": name, "status": getattr(state, "status", "none") or "none", "usable": verdict.allowed, "reason": verdict.reason,
            "notice_version": getattr(state, "notice_version", None), "separate": bool(getattr(state, "separate", False)),
            "guardian": bool(getattr(state, "guardian", False)), "recipients": list(getattr(state, "recipients", None) or []),
            "receipt_id": getattr(state, "receipt_id", None),
            "updated_at": as_utc(state.updated_at) if state is not None and state.last_event_seq else None,
            "not_covered": sorted(purpose.fields - verdict.covers[0]) + sorted(f"record:{t}" for t in purpose.record_types - verdict.covers[1])
            if verdict.covers is not None else [],
        })
    events = [event_view(e) for e in events_of(session=session, subject_id=subject.id)]
    audit.append(session=session, actor=actor, action=ConsentAction.HISTORY_READ, subject_id=subject.id, resource=f"subject:{subject.id}/consents")
    return {"subject_id": subject.id, "jurisdiction": subject.jurisdiction, "current": current, "events": events}


def derive_state(events: Sequence[ConsentEvent]) -> dict[str, str]:
    """purpose -> status, recomputed from events alone (the projection must always agree)."""
    out: dict[str, str] = {}
    for e in sorted(events, key=lambda e: e.seq):
        out[e.purpose] = "granted" if e.action == "grant" else "withdrawn"
    return out


def verify_states(*, session: Session) -> dict[str, Any]:
    """Every state row against the events it is derived from (the projection must never disagree)."""
    latest = (
        select(ConsentEvent.subject_id, ConsentEvent.purpose, func.max(ConsentEvent.seq).label("seq"))
        .group_by(ConsentEvent.subject_id, ConsentEvent.purpose).subquery()
    )
    derived = {
        (sid, purpose): ("granted" if action == "grant" else "withdrawn", seq)
        for sid, purpose, action, seq in session.execute(
            select(ConsentEvent.subject_id, ConsentEvent.purpose, ConsentEvent.action, ConsentEvent.seq)
            .join(latest, (latest.c.seq == ConsentEvent.seq))
        )
    }
    mismatches = []
    checked = 0
    for s in session.scalars(select(ConsentState)):
        checked += 1
        want = derived.pop((s.subject_id, s.purpose), ("none", None))
        if (s.status, s.last_event_seq) != want:
            mismatches.append({"subject_id": s.subject_id, "purpose": s.purpose, "state": s.status, "events": want[0]})
    # Events of subjects since erased have no state row (it went with the subject): not a mismatch.
    return {"checked": checked, "mismatches": mismatches}


def current_state(*, session: Session, subject_id: uuid.UUID, purpose: str) -> ConsentState | None:
    """The derived state of one subject and purpose, read afresh (for sharing's recipient check)."""
    return session.execute(
        select(ConsentState).where(ConsentState.subject_id == subject_id, ConsentState.purpose == purpose)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
