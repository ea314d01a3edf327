"""Deceased subjects and their next of kin (PIPL Art. 49): staff mark a subject deceased with the date and the
reference of the evidence they saw; afterwards the subject's close relatives may, for their own lawful interests,
file access (and copy), correction and deletion requests about the deceased, unless the deceased arranged otherwise.
The relative is recorded by relationship (a code from policies/requests.yaml `next_of_kin`) and the reference of the
check that proved it — never by name or papers. Other request types by a relative are recorded and refused with the
reason; any request about a deceased subject without a relative's relationship is refused at once (409)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from sqlalchemy.orm import Session

from govern import validators
from govern.audit import service as audit
from govern.audit.tags import RequestAction
from govern.errors import Conflict, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subjects import facts as subjects
from govern.timeutil import as_utc, utcnow


@dataclass(frozen=True)
class Kin:
    relationship: str
    verification_ref: str
    refusal: str | None = None  # a refusal code when the law gives the relative no such right
    explanation: str | None = None


@dataclass(frozen=True)
class Deceased:
    subject_id: uuid.UUID
    deceased_on: date
    evidence_ref: str
    arranged_otherwise: bool


def _reference(value: Any, field: str, errors: dict[str, list[str]]) -> str:
    if not isinstance(value, str) or not (1 <= len(value.strip()) <= 100) or not value.isprintable():
        errors[field] = ["1–100 printable characters: the reference of the document or check (no personal data)"]
        return ""
    problem = validators.free_text_problem(value)
    if problem:
        errors[field] = [problem]
    return value.strip()


def mark(
    *, session: Session, policy: Policy, actor: Actor, subject_id: uuid.UUID, deceased_on: date, evidence_ref: str,
    arranged_otherwise: bool = False, now: datetime | None = None,
) -> Deceased:
    """Marks the subject deceased (or corrects the record: a will found later sets `arranged_otherwise`); audited with
    the date's presence and the arrangement, the evidence reference kept on the subject."""
    now = as_utc(now) if now else utcnow()
    errors: dict[str, list[str]] = {}
    if not isinstance(deceased_on, date) or isinstance(deceased_on, datetime):
        errors["deceased_on"] = ["a date"]
    elif deceased_on > (now + timedelta(days=1)).date():  # a day's slack for the time zones
        errors["deceased_on"] = ["must not be in the future"]
    ref = _reference(evidence_ref, "evidence_ref", errors)
    if not isinstance(arranged_otherwise, bool):
        errors["arranged_otherwise"] = ["true or false"]
    if errors:
        raise validation_failed(errors)
    subject = subjects.get_or_raise(session=session, subject_id=subject_id, for_update=True)
    again = subject.deceased_on is not None
    subject.deceased_on, subject.deceased_evidence, subject.deceased_arranged_otherwise = deceased_on, ref, arranged_otherwise
    subject.updated_at = now
    audit.append(session=session, actor=actor, action=RequestAction.DECEASED, subject_id=subject.id, resource=f"subject:{subject.id}",
                 reason=("corrected" if again else "marked") + (":arranged_otherwise" if arranged_otherwise else ""))
    session.flush()
    return Deceased(subject.id, deceased_on, ref, arranged_otherwise)


def kin_of(*, policy: Policy, subject: Any, type: str, next_of_kin: Mapping[str, Any] | None) -> Kin | None:
    """Who files for a deceased subject, and whether the law lets them: None for the subject's own request (a living
    subject); a 409 for a request about a deceased subject that names no relative, or a relative's for a living one."""
    settings = policy.requests
    if next_of_kin is None:
        if subject.deceased_on is not None:
            raise Conflict(
                "subject_deceased", "The subject is deceased",
                f"The subject died on {subject.deceased_on.isoformat()}: a close relative files with `next_of_kin` (relationship and the "
                f"reference of its check), {settings.next_of_kin_source}.",
            )
        return None
    errors: dict[str, list[str]] = {}
    if not isinstance(next_of_kin, Mapping):
        raise validation_failed({"next_of_kin": ["an object: relationship, verification_ref"]})
    unknown = sorted(set(next_of_kin) - {"relationship", "verification_ref"})
    if unknown:
        errors["next_of_kin"] = [f"unknown keys {', '.join(unknown)}: only relationship and verification_ref (no personal data)"]
    relationship = next_of_kin.get("relationship")
    if relationship not in settings.next_of_kin_relationships:
        errors["next_of_kin.relationship"] = [f"one of {', '.join(settings.next_of_kin_relationships)} (policies/requests.yaml)"]
    ref = _reference(next_of_kin.get("verification_ref"), "next_of_kin.verification_ref", errors)
    if errors:
        raise validation_failed(errors)
    if subject.deceased_on is None:
        raise Conflict(
            "subject_not_deceased", "The subject is not recorded as deceased",
            "A close relative acts for a subject only after staff recorded the death with its evidence (POST /api/v1/requests/deceased/{subject_id}).",
        )
    if subject.deceased_arranged_otherwise:
        return Kin(relationship, ref, "legal_exception", "The deceased arranged otherwise: close relatives cannot exercise these rights (PIPL Art. 49).")
    if type not in settings.next_of_kin_types:
        allowed = ", ".join(sorted(settings.next_of_kin_types))
        return Kin(relationship, ref, "not_applicable", f"A close relative may file only {allowed} requests about a deceased person (PIPL Art. 49).")
    return Kin(relationship, ref)
