"""Who works an item of a staff queue (issue 19 item 1): a data-subject request, an incident, a purge plan or a
failed webhook delivery is assigned to one active staff account, or to nobody. The rules every queue shares live
here — whom one may assign, how a queue filters by assignee ("me", "none" or an account's id) and how an assignee
is named once the account is disabled or gone; each domain keeps its own column, audit tag and timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import validation_failed
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.identity.permissions import Permission
from govern.policy import Policy

FILTER_WORDS = ("me", "none")
FILTER_ERROR = "me, none or a staff member's id"


def _may_work(policy: Policy | None, permission: Permission | None, person: Principal) -> bool:
    # An item assigned to someone whose roles cannot act on it would sit in their queue untouched.
    if policy is None or permission is None:
        return True
    return any(permission in policy.roles[r].permissions for r in person.roles if r in policy.roles)


def assignable(*, session: Session, policy: Policy | None = None, permission: Permission | None = None) -> list[Principal]:
    """Active staff accounts, by name, whose roles grant `permission` (the one that works the queue): whom a
    queue's item can be assigned to."""
    people = session.scalars(select(Principal).where(Principal.kind == "staff", Principal.disabled_at.is_(None)).order_by(Principal.name))
    return [p for p in people if _may_work(policy, permission, p)]


def staff_to_assign(
    *, session: Session, principal_id: uuid.UUID | None, policy: Policy | None = None, permission: Permission | None = None,
) -> Principal | None:
    """The account an item is to be assigned to (None: unassign); refused unless it is an active staff account whose
    roles grant `permission`."""
    if principal_id is None:
        return None
    person = session.get(Principal, principal_id)
    if person is None or person.kind != "staff" or person.disabled_at is not None:
        raise validation_failed({"assignee": ["an active staff account"]})
    if not _may_work(policy, permission, person):
        raise validation_failed({"assignee": [f"a staff member whose roles grant {permission}"]})
    return person


@dataclass(frozen=True)
class Assignee:
    """Who an item is assigned to, as its page names them: `name` None only when the account no longer exists;
    `active` False when it can no longer be assigned (disabled, or gone)."""
    name: str | None
    active: bool


def assignee_of(*, session: Session, principal_id: uuid.UUID | None) -> Assignee | None:
    """The assignee, found whether or not the account is still active; None when the item is unassigned."""
    if principal_id is None:
        return None
    person = session.get(Principal, principal_id)
    if person is None:
        return Assignee(None, False)
    return Assignee(person.name, person.disabled_at is None and person.kind == "staff")


def filter_errors(value: str | None) -> list[str]:
    """Why a queue's assignee filter is refused (empty when it is None, "me", "none" or an id)."""
    if value is None or value in FILTER_WORDS:
        return []
    try:
        uuid.UUID(str(value))
    except ValueError:
        return [FILTER_ERROR]
    return []


def where_assigned(query, column, value: str | None, actor: Actor):
    """The query narrowed to the items the filter names: the actor's own ("me"), nobody's ("none"), or one
    account's; unchanged when the filter is None. The value must have passed filter_errors."""
    if value is None:
        return query
    if value == "me":
        return query.where(column == actor.principal_id)
    if value == "none":
        return query.where(column.is_(None))
    return query.where(column == uuid.UUID(str(value)))
