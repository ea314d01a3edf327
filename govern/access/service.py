"""Purpose-bound access: a read succeeds only if a role of the actor may use the purpose, the purpose may use
the fields (data minimisation), and the subject has a legal basis for it — consent where the purpose rests on consent,
no standing objection where it rests on legitimate interest (GDPR Art. 21(1)). Otherwise 403 with a reason code."""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ConsentAction
from govern.consent import objections
from govern.consent import service as consent
from govern.crypto.envelope import Envelope
from govern.errors import AccessRefused, SubjectErased, validation_failed
from govern.identifiers import canonical_id
from govern.identity.actor import Actor
from govern.identity.permissions import has_permission
from govern.policy import Policy, Purpose
from govern.refusals import Refusal
from govern.subjects import facts as subjects
from govern.timeutil import utcnow

__all__ = ["Refusal", "has_permission"]  # kept here for the callers that ask access for them

LEGITIMATE_INTEREST = "legitimate_interest"



_RANK = {"hidden": 0, "masked": 1, "full": 2}


@dataclass(frozen=True)
class ReadGrant:
    purpose: Purpose
    visibility: Mapping[str, str]  # field name -> "full" | "masked"; hidden fields are absent
    record_types: frozenset[str]
    # Record types the purpose uses that the subject's consent does not cover: its notice did not announce them
    # (PIPL Art. 14 ¶2); reading them needs the subject's consent again.
    not_covered_record_types: frozenset[str] = frozenset()


def refuse(reason: str, detail: str, refusal: Refusal) -> AccessRefused:
    """The domain error of a refused access (403 access_denied naming `reason`); `refusal` is what the audit log keeps."""
    return AccessRefused(reason, detail, refusal)


def authorise_purpose(
    *, policy: Policy, actor: Actor, purpose_name: str | None, action: str, subject_id: uuid.UUID | None = None,
    jurisdiction: str | None = None, subject_status: str = "active", session: Session | None = None, envelope: Envelope | None = None,
    verdicts: list[consent.Verdict] | None = None,
) -> Purpose:
    """The purpose, if the actor may use it for this subject; otherwise a 403 naming the reason. `verdicts`, if given,
    receives the consent registry's verdict (what a consent covers, for `authorise_read`).

    With a subject, its jurisdiction and a session, the consent registry is asked afresh on every call (no cache):
    a withdrawal committed by another request takes effect on the very next read.
    """

    def no(reason: str, detail: str) -> AccessRefused:
        return refuse(reason, detail, Refusal(action=action, reason=reason, subject_id=subject_id, purpose=purpose_name))

    if subject_status == "erased":
        # Shredded, its rows not yet swept (govern/subjects/erasure.py): the same answer as once they are gone.
        raise SubjectErased()
    if not purpose_name:
        raise no("purpose_required", "State the purpose of this read in the X-Purpose header.")
    purpose = policy.purposes.get(purpose_name)
    if purpose is None:
        raise no("purpose_unknown", f"'{purpose_name}' is not a purpose in policies/purposes.yaml.")
    if not any(purpose_name in policy.roles[r].purposes for r in actor.roles if r in policy.roles):
        raise no("purpose_not_permitted", f"No role of this principal may process data for '{purpose_name}'.")
    why = subject_refusal(
        policy=policy, purpose=purpose, subject_id=subject_id, jurisdiction=jurisdiction, subject_status=subject_status,
        session=session, envelope=envelope, verdicts=verdicts,
    )
    if why is not None:
        raise no(*why)
    return purpose


def subject_refusal(
    *, policy: Policy, purpose: Purpose, subject_id: uuid.UUID | None = None, jurisdiction: str | None = None,
    subject_status: str = "active", session: Session | None = None, envelope: Envelope | None = None,
    verdicts: list[consent.Verdict] | None = None,
) -> tuple[str, str] | None:
    """Why this subject's data may not be used for the purpose now, as (reason, detail); None when it may. The
    per-subject half of `authorise_purpose`, also asked for each match of a look-up by blind index.

    A contract or legal-obligation purpose on an active subject is decided without a query."""
    if jurisdiction is not None and subject_id is not None and session is not None and envelope is not None:
        def verdict() -> consent.Verdict:
            given = consent.check(
                session=session, policy=policy, envelope=envelope, subject_id=subject_id, purpose=purpose, jurisdiction=jurisdiction,
            )
            if verdicts is not None:
                verdicts.append(given)
            return given

        def objected() -> bool:
            return objections.objection_standing(session=session, subject_id=subject_id, purpose=purpose.name)
    else:
        def verdict() -> consent.Verdict:
            # Fail closed: without the registry at hand a consent-based purpose cannot be shown to have consent.
            if jurisdiction is not None and purpose.basis_for(jurisdiction) == "consent":
                return consent.Verdict(False, "consent_required", f"'{purpose.name}' rests on consent and the subject has not given it.")
            return consent.ALLOWED

        def objected() -> bool:
            return False
    return refusal(purpose=purpose, status=subject_status, jurisdiction=jurisdiction, verdict=verdict, objected=objected)


def refusal(
    *, purpose: Purpose, status: str, jurisdiction: str | None, verdict: Callable[[], consent.Verdict], objected: Callable[[], bool],
) -> tuple[str, str] | None:
    """THE rule "may this subject's data be used for this purpose now", in one order for every caller — a read, a
    look-up's matches, a record list, a disclosure (through `subject_refusal`) and the bulk check (`allowed_subjects`,
    once per combination of the facts it depends on): the subject's standing, then its consent (or opt-out), then a
    standing objection where the purpose rests on legitimate interest (GDPR Art. 21(1)). `verdict` and `objected` are
    asked only when the step before allowed, so a refused standing costs no query."""
    if status == "restricted" and not purpose.allowed_when_restricted:
        return "subject_restricted", "Processing of this subject is restricted; only storage and legal claims are allowed."
    if status not in ("active", "restricted"):
        return "subject_inactive", f"The subject is {status}."
    if jurisdiction is None:
        return None
    given = verdict()
    if not given.allowed:
        return given.reason, given.detail  # type: ignore[return-value]  # a refusing Verdict always names its reason
    # Only a legitimate-interest purpose asks (one indexed probe); every other read pays nothing for objections.
    if objection_applies(purpose, jurisdiction) and objected():
        return "objection_recorded", f"The subject objected to '{purpose.name}' (GDPR Art. 21(1)); staff have not lifted the objection."
    return None


def objection_applies(purpose: Purpose, jurisdiction: str) -> bool:
    """Whether a standing objection stops this purpose: one resting on legitimate interest (GDPR Art. 21(1)), and
    direct marketing on any basis (Art. 21(3)); direct marketing on consent stops with the consent the objection
    withdrew (a later consent is the subject's own new choice)."""
    basis = purpose.basis_for(jurisdiction)
    return basis == LEGITIMATE_INTEREST or (purpose.direct_marketing and basis != "consent")


def allowed_subjects(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, purpose_name: str | None, subject_ids: Sequence[uuid.UUID | str],
    now: datetime | None = None, fields: Sequence[str] | None = None, record_types: Sequence[str] | None = None,
) -> list[uuid.UUID | str]:
    """Of these subject ids (UUIDs or their text), the ones whose data may be used for the purpose now (`refusal`,
    the rule of a read), in the order and form given; audited once. `fields` and `record_types` name the data the
    caller will use (default: all the purpose uses now); a consent whose notice did not announce them does not count."""
    purpose = authorise_purpose(policy=policy, actor=actor, purpose_name=purpose_name, action=ConsentAction.CHECK)
    if len(subject_ids) > consent.MAX_CHECK_IDS:
        raise validation_failed({"subject_ids": [f"at most {consent.MAX_CHECK_IDS} per call"]})
    for key, asked, used in (("fields", fields, purpose.fields), ("record_types", record_types, purpose.record_types)):
        outside = sorted(set(asked or ()) - used)
        if outside:
            raise validation_failed({key: [f"not used by '{purpose.name}': {', '.join(outside)}"]})
    now = now or utcnow()
    # Keyed by canonical id text: ten thousand UUID objects built, hashed and compared cost more than the queries.
    given = {canonical_id(sid): sid for sid in subject_ids}
    ids = list(given)
    known = subjects.standings(session=session, subject_ids=ids)
    states, born = consent.bulk_states(session=session, policy=policy, envelope=envelope, purpose=purpose.name, ids=ids, standings=known)
    # Objections (GDPR Art. 21(1)) matter only where the purpose rests on legitimate interest: one more query then.
    objected = (
        objections.objected_subjects(session=session, purpose=purpose.name, subject_ids=ids)
        if any(objection_applies(purpose, j) for j in policy.jurisdictions) else set()
    )
    stale = consent.stale_versions(policy, purpose.name, now)
    today = now.date()
    decided: dict[tuple[object, ...], bool] = {}  # the rule depends on these few facts only: decided once per combination
    allowed = []
    for key in ids:
        standing = known.get(key)
        if standing is None:
            continue
        jurisdiction = standing.jurisdiction
        state = states.get(key)
        minor = key in born and consent.is_minor(born[key], consent.minors_age(policy, jurisdiction, standing.member_state), today)
        opt_in_age = policy.ages[jurisdiction].sale_opt_in_age if purpose.sale_or_share else None
        opt_in_minor = bool(opt_in_age) and key in born and consent.is_minor(born[key], opt_in_age or 0, today)
        combination = (
            standing.status, jurisdiction, key in objected, minor, opt_in_minor,
            None if state is None else (*state[1:5], consent.scope_key(state.scope)),
        )
        verdict = decided.get(combination)
        if verdict is None:
            verdict = decided[combination] = refusal(
                purpose=purpose, status=standing.status, jurisdiction=jurisdiction, objected=partial(operator.contains, objected, key),
                verdict=partial(
                    consent.evaluate, policy=policy, purpose=purpose, jurisdiction=jurisdiction, state=state, minor=minor, stale=stale,
                    opt_in_minor=opt_in_minor, wanted=(fields, record_types),
                ),
            ) is None
        if verdict:
            allowed.append(given[key])
    audit.append(
        session=session, actor=actor, action=ConsentAction.CHECK, purpose=purpose.name,
        resource=f"consent-check:asked={len(ids)},allowed={len(allowed)}",
    )
    return allowed


def field_visibility(*, policy: Policy, actor: Actor, purpose: Purpose, names: Iterable[str] | None = None) -> Mapping[str, str]:
    """For each field the purpose may use, the most open view any of the actor's roles has; hidden ones dropped."""
    if names is not None:
        return _visibility(policy, tuple(actor.roles), purpose, purpose.fields & set(names))
    # Every read asks this; the answer depends only on the loaded policy, the roles and the purpose.
    key = (id(policy), tuple(actor.roles), purpose.name)
    cached = _VISIBILITY.get(key)
    if cached is None or cached[0] is not policy:
        if len(_VISIBILITY) > 4096:
            _VISIBILITY.clear()
        cached = _VISIBILITY[key] = (policy, MappingProxyType(_visibility(policy, key[1], purpose, purpose.fields)))
    return cached[1]


_VISIBILITY: dict[tuple[int, tuple[str, ...], str], tuple[Policy, Mapping[str, str]]] = {}


def role_visibility(*, policy: Policy, actor: Actor, field: str) -> str:
    """How the actor's roles show `field` outside a purpose-bound read (a breach letter naming its recipient, say): the
    most open view any of its roles has — "full", "masked" or "hidden"."""
    rule = policy.catalog.fields.get(field)
    if rule is None:
        return "hidden"
    return max((policy.roles[r].visibility(rule) for r in actor.roles if r in policy.roles), key=_RANK.__getitem__, default="hidden")


def _visibility(policy: Policy, roles: tuple[str, ...], purpose: Purpose, wanted: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in wanted:
        rule = policy.catalog.fields[name]
        best = max(
            (policy.roles[r].visibility(rule) for r in roles if r in policy.roles and purpose.name in policy.roles[r].purposes),
            key=_RANK.__getitem__,
            default="hidden",
        )
        if best != "hidden":
            out[name] = best
    return out


def authorise_read(
    *, policy: Policy, actor: Actor, purpose_name: str | None, action: str, subject_id: uuid.UUID, jurisdiction: str, subject_status: str,
    session: Session | None = None, envelope: Envelope | None = None,
) -> ReadGrant:
    seen: list[consent.Verdict] = []
    purpose = authorise_purpose(
        policy=policy, actor=actor, purpose_name=purpose_name, action=action, subject_id=subject_id,
        jurisdiction=jurisdiction, subject_status=subject_status, session=session, envelope=envelope, verdicts=seen,
    )
    visibility = field_visibility(policy=policy, actor=actor, purpose=purpose)
    covers = seen[-1].covers if seen else None
    if covers is None:
        return ReadGrant(purpose=purpose, visibility=visibility, record_types=purpose.record_types)
    # A consent given under a notice that announced less covers only that (PIPL Art. 14 ¶2): nothing else is shown.
    return ReadGrant(
        purpose=purpose, visibility={k: v for k, v in visibility.items() if k in covers[0]}, record_types=purpose.record_types & covers[1],
        not_covered_record_types=purpose.record_types - covers[1],
    )
