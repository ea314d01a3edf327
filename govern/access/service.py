"""Purpose-bound access: a read succeeds only if a role of the actor may use the purpose, the purpose may use
the fields (data minimisation), and the subject has a legal basis for it — consent where the purpose rests on consent,
no standing objection where it rests on legitimate interest (GDPR Art. 21(1)). Otherwise 403 with a reason code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govern.access.models import ProcessingObjection
from govern.errors import Problem
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy, Purpose
from govern.timeutil import utcnow

LEGITIMATE_INTEREST = "legitimate_interest"


class AccessAction(StrEnum):
    OBJECTION_RECORD = "access:objection:record"
    OBJECTION_LIFT = "access:objection:lift"

_RANK = {"hidden": 0, "masked": 1, "full": 2}


@dataclass(frozen=True)
class Refusal:
    """What the audit log keeps of a refused access (the request's own transaction is rolled back)."""

    action: str
    reason: str
    subject_id: object = None
    purpose: str | None = None
    field_names: tuple[str, ...] = ()
    outcome: str = "denied"


@dataclass(frozen=True)
class ReadGrant:
    purpose: Purpose
    visibility: Mapping[str, str]  # field name -> "full" | "masked"; hidden fields are absent
    record_types: frozenset[str]


def refuse(reason: str, detail: str, refusal: Refusal) -> Problem:
    return Problem(403, "access_denied", "Access denied", detail, extra={"reason": reason}, audit=refusal)


def has_permission(policy: Policy, actor: Actor, permission: Permission) -> bool:
    return any(permission in policy.roles[r].permissions for r in actor.roles if r in policy.roles)


def authorise_purpose(
    *, policy: Policy, actor: Actor, purpose_name: str | None, action: str, subject_id=None, jurisdiction: str | None = None,
    subject_status: str = "active", session=None, envelope=None,
) -> Purpose:
    """The purpose, if the actor may use it for this subject; otherwise a 403 naming the reason.

    With a subject, its jurisdiction and a session, the consent registry is asked afresh on every call (no cache):
    a withdrawal committed by another request takes effect on the very next read.
    """

    def no(reason: str, detail: str) -> Problem:
        return refuse(reason, detail, Refusal(action=action, reason=reason, subject_id=subject_id, purpose=purpose_name))

    if subject_status == "erased":
        # Shredded, its rows not yet swept (govern/subjects/erasure.py): the same answer as once they are gone.
        raise Problem(410, "subject_erased", "Subject erased", "This subject's data has been erased.")
    if not purpose_name:
        raise no("purpose_required", "State the purpose of this read in the X-Purpose header.")
    purpose = policy.purposes.get(purpose_name)
    if purpose is None:
        raise no("purpose_unknown", f"'{purpose_name}' is not a purpose in policies/purposes.yaml.")
    if not any(purpose_name in policy.roles[r].purposes for r in actor.roles if r in policy.roles):
        raise no("purpose_not_permitted", f"No role of this principal may process data for '{purpose_name}'.")
    why = subject_refusal(
        policy=policy, purpose=purpose, subject_id=subject_id, jurisdiction=jurisdiction, subject_status=subject_status,
        session=session, envelope=envelope,
    )
    if why is not None:
        raise no(*why)
    return purpose


def subject_refusal(
    *, policy: Policy, purpose: Purpose, subject_id=None, jurisdiction: str | None = None, subject_status: str = "active",
    session=None, envelope=None,
) -> tuple[str, str] | None:
    """Why this subject's data may not be used for the purpose now, as (reason, detail); None when it may. The
    per-subject half of `authorise_purpose`, also asked for each match of a look-up by blind index.

    A contract or legal-obligation purpose on an active subject is decided without a query."""
    if subject_status == "restricted" and not purpose.allowed_when_restricted:
        return "subject_restricted", "Processing of this subject is restricted; only storage and legal claims are allowed."
    if subject_status not in ("active", "restricted"):
        return "subject_inactive", f"The subject is {subject_status}."
    if jurisdiction is not None and subject_id is not None and session is not None:
        from govern.consent import service as consent

        verdict = consent.check(
            session=session, policy=policy, envelope=envelope, subject_id=subject_id, purpose=purpose, jurisdiction=jurisdiction,
        )
        if not verdict.allowed:
            return verdict.reason, verdict.detail
        # Only a legitimate-interest purpose asks (one indexed probe); every other read pays nothing for objections.
        if purpose.basis_for(jurisdiction) == LEGITIMATE_INTEREST and objection_standing(session=session, subject_id=subject_id, purpose=purpose.name):
            return "objection_recorded", f"The subject objected to '{purpose.name}' (GDPR Art. 21(1)); staff have not lifted the objection."
    elif jurisdiction is not None and purpose.basis_for(jurisdiction) == "consent":
        # Fail closed: without the registry at hand a consent-based purpose cannot be shown to have consent.
        return "consent_required", f"'{purpose.name}' rests on consent and the subject has not given it."
    return None


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
    *, policy: Policy, actor: Actor, purpose_name: str | None, action: str, subject_id, jurisdiction: str, subject_status: str,
    session=None, envelope=None,
) -> ReadGrant:
    purpose = authorise_purpose(
        policy=policy, actor=actor, purpose_name=purpose_name, action=action, subject_id=subject_id,
        jurisdiction=jurisdiction, subject_status=subject_status, session=session, envelope=envelope,
    )
    return ReadGrant(purpose=purpose, visibility=field_visibility(policy=policy, actor=actor, purpose=purpose), record_types=purpose.record_types)


# --- objections to legitimate-interest processing (GDPR Art. 21(1)) -------------------------------------------------


def objection_standing(*, session: Session, subject_id: uuid.UUID, purpose: str) -> bool:
    """Whether the subject has an objection to `purpose` that staff have not lifted."""
    return session.execute(
        select(ProcessingObjection.id).where(
            ProcessingObjection.subject_id == subject_id, ProcessingObjection.purpose == purpose, ProcessingObjection.lifted_at.is_(None),
        ).limit(1)
    ).first() is not None


def objected_subjects(*, session: Session, purpose: str, subject_ids: Sequence[uuid.UUID | str]) -> set[str]:
    """Of these subjects, those with a standing objection to `purpose`, as canonical id text (for a bulk check over
    thousands of ids)."""
    from govern.identifiers import stored_id_text
    from govern.subjects.service import id_batches, id_text

    out: set[str] = set()
    for clause in id_batches(session, ProcessingObjection.subject_id, list(subject_ids)):
        out.update(map(stored_id_text, session.scalars(select(id_text(session, ProcessingObjection.subject_id)).where(
            ProcessingObjection.purpose == purpose, ProcessingObjection.lifted_at.is_(None), clause,
        ))))
    return out


def record_objections(
    *, session: Session, actor: Actor, subject_id: uuid.UUID, purposes: Iterable[str], request_id: uuid.UUID | None, now: datetime | None = None,
) -> list[str]:
    """Records the subject's objection to each purpose (one standing at a time per purpose; a standing one is left as it
    is). Returns the purposes now objected to; each new objection is audited."""
    from govern.audit import service as audit

    now = now or utcnow()
    out = []
    for name in sorted(set(purposes)):
        if not objection_standing(session=session, subject_id=subject_id, purpose=name):
            session.add(ProcessingObjection(
                id=uuid.uuid4(), subject_id=subject_id, purpose=name, request_id=request_id, recorded_at=now, recorded_by=actor.name,
            ))
            audit.record(session=session, actor=actor, action=AccessAction.OBJECTION_RECORD, subject_id=subject_id, purpose=name,
                         resource=f"request:{request_id}" if request_id else f"subject:{subject_id}")
        out.append(name)
    session.flush()  # the next read in this transaction must see it
    return out


def lift_objection(
    *, session: Session, actor: Actor, subject_id: uuid.UUID, purpose: str, grounds: str, reference: str | None = None, now: datetime | None = None,
) -> ProcessingObjection:
    """Lifts a standing objection because the controller demonstrated compelling legitimate grounds that override the
    subject's interests (GDPR Art. 21(1)). The objection is kept, with who lifted it, when and on what grounds; the lift
    is audited (the grounds stay in the table: free text is not copied into the audit log)."""
    from govern.audit import service as audit

    row = session.scalars(
        select(ProcessingObjection).where(
            ProcessingObjection.subject_id == subject_id, ProcessingObjection.purpose == purpose, ProcessingObjection.lifted_at.is_(None),
        ).with_for_update()
    ).first()
    if row is None:
        raise Problem(409, "no_objection", "No objection to lift", f"The subject has no standing objection to '{purpose}'.")
    row.lifted_at, row.lifted_reason, row.lifted_by = now or utcnow(), grounds, actor.name
    audit.record(session=session, actor=actor, action=AccessAction.OBJECTION_LIFT, subject_id=subject_id, purpose=purpose,
                 reason="compelling_legitimate_grounds", resource=reference or f"subject:{subject_id}")
    return row


def objections_of(*, session: Session, subject_id: uuid.UUID) -> list[ProcessingObjection]:
    """Every objection of the subject, standing and lifted, oldest first."""
    return list(session.scalars(
        select(ProcessingObjection).where(ProcessingObjection.subject_id == subject_id).order_by(ProcessingObjection.recorded_at, ProcessingObjection.id)
    ))


def forget_subject(*, session: Session, subject_id: uuid.UUID) -> None:
    """An erased subject's objections go with the rest of its data (the tombstone and the request log remain)."""
    session.execute(delete(ProcessingObjection).where(ProcessingObjection.subject_id == subject_id))
