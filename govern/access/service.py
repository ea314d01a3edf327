"""Purpose-bound access: a read succeeds only if a role of the actor may use the purpose, the purpose may use
the fields (data minimisation), and the subject has a legal basis for it. Otherwise 403 with a reason code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from govern.errors import Problem
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy, Purpose

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
    visibility: dict[str, str]  # field name -> "full" | "masked"; hidden fields are absent
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

    if not purpose_name:
        raise no("purpose_required", "State the purpose of this read in the X-Purpose header.")
    purpose = policy.purposes.get(purpose_name)
    if purpose is None:
        raise no("purpose_unknown", f"'{purpose_name}' is not a purpose in policies/purposes.yaml.")
    if not any(purpose_name in policy.roles[r].purposes for r in actor.roles if r in policy.roles):
        raise no("purpose_not_permitted", f"No role of this principal may process data for '{purpose_name}'.")
    if subject_status == "restricted" and not purpose.allowed_when_restricted:
        raise no("subject_restricted", "Processing of this subject is restricted; only storage and legal claims are allowed.")
    if subject_status not in ("active", "restricted"):
        raise no("subject_inactive", f"The subject is {subject_status}.")
    if jurisdiction is not None and subject_id is not None and session is not None:
        from govern.consent import service as consent

        verdict = consent.check(
            session=session, policy=policy, envelope=envelope, subject_id=subject_id, purpose=purpose, jurisdiction=jurisdiction,
        )
        if not verdict.allowed:
            raise no(verdict.reason, verdict.detail)
    elif jurisdiction is not None and purpose.basis_for(jurisdiction) == "consent":
        # Fail closed: without the registry at hand a consent-based purpose cannot be shown to have consent.
        raise no("consent_required", f"'{purpose_name}' rests on consent and the subject has not given it.")
    return purpose


def field_visibility(*, policy: Policy, actor: Actor, purpose: Purpose, names: Iterable[str] | None = None) -> dict[str, str]:
    """For each field the purpose may use, the most open view any of the actor's roles has; hidden ones dropped."""
    wanted = purpose.fields if names is None else purpose.fields & set(names)
    out: dict[str, str] = {}
    for name in wanted:
        rule = policy.catalog.fields[name]
        best = max(
            (policy.roles[r].visibility(rule) for r in actor.roles if r in policy.roles and purpose.name in policy.roles[r].purposes),
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
