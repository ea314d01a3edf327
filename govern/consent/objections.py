"""Objections to processing that rests on legitimate interest (GDPR Art. 21(1)): recorded by a completed objection
request, lifted by staff on compelling legitimate grounds. An objection to a purpose purposes.yaml tags
`direct_marketing` is absolute (GDPR Art. 21(3)): recorded whatever the purpose's legal basis, never lifted — there are
no compelling grounds against it. The read rule (govern/access/service.py) asks whether one stands; this module keeps
them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ObjectionAction
from govern.consent.models import ProcessingObjection
from govern.errors import Conflict
from govern.identifiers import id_batches, id_text, stored_id_text
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.refusals import Refusal
from govern.timeutil import utcnow


def absolute(purpose: str, subject_id: uuid.UUID | None = None) -> Conflict:
    """409: an objection to direct marketing is never lifted (GDPR Art. 21(3)); the refused attempt is audited."""
    return Conflict(
        "objection_absolute", "An objection to direct marketing cannot be lifted",
        f"'{purpose}' is direct marketing: once the subject objects, the data is no longer processed for it, whatever its legal "
        "basis; no compelling legitimate grounds override that objection (GDPR Art. 21(3)).",
        extra={"reason": "objection_absolute", "purpose": purpose},
        audit=Refusal(action=ObjectionAction.OBJECTION_LIFT, reason="objection_absolute", subject_id=subject_id, purpose=purpose),
    )


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
    now = now or utcnow()
    out = []
    for name in sorted(set(purposes)):
        if not objection_standing(session=session, subject_id=subject_id, purpose=name):
            session.add(ProcessingObjection(
                id=uuid.uuid4(), subject_id=subject_id, purpose=name, request_id=request_id, recorded_at=now, recorded_by=actor.name,
            ))
            audit.append(session=session, actor=actor, action=ObjectionAction.OBJECTION_RECORD, subject_id=subject_id, purpose=name,
                         resource=f"request:{request_id}" if request_id else f"subject:{subject_id}")
        out.append(name)
    session.flush()  # the next read in this transaction must see it
    return out


def lift_objection(
    *, session: Session, policy: Policy, actor: Actor, subject_id: uuid.UUID, purpose: str, grounds: str, reference: str | None = None,
    now: datetime | None = None,
) -> ProcessingObjection:
    """Lifts a standing objection because the controller demonstrated compelling legitimate grounds that override the
    subject's interests (GDPR Art. 21(1)). The objection is kept, with who lifted it, when and on what grounds; the lift
    is audited (the grounds stay in the table: free text is not copied into the audit log). An objection to a
    direct-marketing purpose is never lifted (409 objection_absolute, GDPR Art. 21(3))."""
    known = policy.purposes.get(purpose)
    if known is not None and known.direct_marketing:
        raise absolute(purpose, subject_id)
    row = session.scalars(
        select(ProcessingObjection).where(
            ProcessingObjection.subject_id == subject_id, ProcessingObjection.purpose == purpose, ProcessingObjection.lifted_at.is_(None),
        ).with_for_update()
    ).first()
    if row is None:
        raise Conflict("no_objection", "No objection to lift", f"The subject has no standing objection to '{purpose}'.")
    row.lifted_at, row.lifted_reason, row.lifted_by = now or utcnow(), grounds, actor.name
    audit.append(session=session, actor=actor, action=ObjectionAction.OBJECTION_LIFT, subject_id=subject_id, purpose=purpose,
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
