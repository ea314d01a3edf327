"""The staff queue of data-subject requests as a DPO works it (the console's queue, issue 19): filters by state, type,
jurisdiction, assignee and date received, a search by request id or the subject's external reference, keyset paging
without a cap (a cursor, not an offset), the subject's external reference on every row; who works a request
(assign); and the preview of an erasure or account closure before it is carried out: what it would destroy, what
must be kept (retention's obligations: until when and under which law) and which recipients will be told.

Every rule stays the requests service's and flows': this module only reads (audited) and sets the assignee."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from govern import paging
from govern.audit import service as audit
from govern.audit.tags import RequestAction
from govern.errors import Conflict, SubjectErased, validation_failed
from govern.identity import assignees
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy
from govern.retention import keeping
from govern.subject_requests import propagation
from govern.subject_requests import service as requests
from govern.subject_requests.flows import ERASURE_TYPES
from govern.subject_requests.models import DataSubjectRequest
from govern.subject_requests.policy import REQUEST_TYPES
from govern.subjects import rights as subject_rights
from govern.subjects.models import Subject
from govern.timeutil import as_utc, utcnow

PAGE_SIZE = 50
WORKS_THE_QUEUE = Permission.CONSOLE_REQUESTS_MANAGE  # whom a request may be assigned to
STATE_GROUPS = {"open": requests.OPEN, "closed": requests.TERMINAL, "all": requests.STATES}


@dataclass(frozen=True)
class Filters:
    state: str = "open"  # a state, or open / closed / all
    type: str | None = None
    jurisdiction: str | None = None
    assignee: str | None = None  # "me", "none" or a principal id
    received_from: datetime | None = None
    received_before: datetime | None = None
    search: str | None = None  # a request id or a subject's external reference


@dataclass(frozen=True)
class Row:
    item: requests.QueueItem
    external_ref: str | None
    assignee: assignees.Assignee | None  # who works it, found whether or not the account is still active (None: nobody)
    days_left: int  # whole days to the deadline (negative: overdue)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None
    filters: Filters = field(default_factory=Filters)


def _query(policy: Policy, actor: Actor, f: Filters):
    errors: dict[str, list[str]] = {}
    if f.state not in STATE_GROUPS and f.state not in requests.STATES:
        errors["state"] = [f"one of {', '.join((*STATE_GROUPS, *requests.STATES))}"]
    if f.type is not None and f.type not in REQUEST_TYPES:
        errors["type"] = [f"one of {', '.join(REQUEST_TYPES)}"]
    if f.jurisdiction is not None and f.jurisdiction not in policy.request_terms:
        errors["jurisdiction"] = [f"one of {', '.join(sorted(policy.request_terms))}"]
    if assignee_errors := assignees.filter_errors(f.assignee):
        errors["assignee"] = assignee_errors
    if f.search is not None and len(f.search) > 200:
        errors["search"] = ["at most 200 characters"]
    if errors:
        raise validation_failed(errors)
    states = STATE_GROUPS.get(f.state, (f.state,))
    query = (
        select(DataSubjectRequest, Subject.external_ref)
        .outerjoin(Subject, Subject.id == DataSubjectRequest.subject_id)
        .where(DataSubjectRequest.state.in_(states))
    )
    if f.type is not None:
        query = query.where(DataSubjectRequest.type == f.type)
    if f.jurisdiction is not None:
        query = query.where(DataSubjectRequest.jurisdiction == f.jurisdiction)
    query = assignees.where_assigned(query, DataSubjectRequest.assignee_id, f.assignee, actor)
    query = paging.within(query, DataSubjectRequest.received_at, f.received_from, f.received_before)
    if f.search:
        text = f.search.strip()
        try:
            query = query.where(or_(DataSubjectRequest.id == uuid.UUID(text), Subject.external_ref == text))
        except ValueError:
            query = query.where(Subject.external_ref == text)
    if not requests.sees_every_request(policy, actor):
        query = query.where(DataSubjectRequest.filed_by_id == actor.principal_id)
    return query


def _rows(session: Session, policy: Policy, result, now: datetime) -> list[Row]:
    soon = timedelta(days=policy.requests.due_soon_days)
    rows = []
    for req, external_ref in result:
        due_at = as_utc(req.due_at)
        if req.paused and req.state in requests.OPEN:  # an open pause moves the deadline every day
            due_at = requests.compute_deadlines(policy=policy, req=req, events=requests.events_of(session=session, request_id=req.id), now=now).due_at
        is_open = req.state in requests.OPEN
        ack_late = is_open and req.acknowledged_at is None and req.acknowledge_by is not None and as_utc(req.acknowledge_by) < now
        item = requests.QueueItem(req, due_at, is_open and due_at < now, is_open and now <= due_at <= now + soon, ack_late)
        # As the request page and the other queues name them (a disabled account: former staff); one look-up per
        # assignee, not per row: the session's identity map answers the rest.
        assignee = assignees.assignee_of(session=session, principal_id=req.assignee_id)
        rows.append(Row(item, external_ref, assignee, (due_at - now).days if due_at >= now else -((now - due_at).days + 1)))
    return rows


def page(
    *, session: Session, policy: Policy, actor: Actor, filters: Filters, cursor: str | None = None, limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> Page:
    """One page of the queue, soonest due first (ties by id), and the cursor of the next page (None on the last);
    every page is audited as a queue read."""
    now = as_utc(now) if now else utcnow()
    query = _query(policy, actor, filters)
    if cursor:
        query = query.where(paging.after(DataSubjectRequest.due_at, DataSubjectRequest.id, cursor))
    result = session.execute(query.order_by(DataSubjectRequest.due_at, DataSubjectRequest.id).limit(limit + 1)).all()
    more = len(result) > limit
    result = result[:limit]
    rows = _rows(session, policy, result, now)
    audit.append(session=session, actor=actor, action=RequestAction.QUEUE, resource="requests", reason=f"rows={len(rows)}")
    return Page(rows, paging.cursor(result[-1][0].due_at, result[-1][0].id) if more and result else None, filters)


def every_row(*, session: Session, policy: Policy, actor: Actor, filters: Filters, now: datetime | None = None) -> Iterator[Row]:
    """Every row of the filtered queue, page after page (the CSV export of the console's view); each page audited."""

    def fetch(cursor: str | None) -> tuple[list[Row], str | None]:
        result = page(session=session, policy=policy, actor=actor, filters=filters, cursor=cursor, limit=500, now=now)
        return result.rows, result.next_cursor

    return paging.every(fetch)


def assign(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, assignee_id: uuid.UUID | None, now: datetime | None = None,
) -> DataSubjectRequest:
    """Sets (or clears, None) the staff member working a request: an active staff account; recorded on the timeline
    and audited."""
    now = as_utc(now) if now else utcnow()
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state not in requests.OPEN:
        raise Conflict("request_closed", "Request closed", f"The request is {req.state}: nobody works it any more.")
    person = assignees.staff_to_assign(session=session, principal_id=assignee_id, policy=policy, permission=WORKS_THE_QUEUE)
    name = person.name if person else None
    req.assignee_id = assignee_id
    session.add(requests.RequestEvent(
        request_id=req.id, kind="assigned", occurred_at=now, actor_name=actor.name, actor_id=actor.principal_id, reason=name,
        data={"assignee_id": str(assignee_id) if assignee_id else None},
    ))
    audit.append(session=session, actor=actor, action=RequestAction.ASSIGN, subject_id=req.subject_id, resource=requests._ref(req),
                 reason=str(assignee_id) if assignee_id else "unassigned")
    return req


@dataclass(frozen=True)
class Preview:
    request: DataSubjectRequest
    destroyed_fields: list[str]
    destroyed_records: dict[str, int]
    kept: list[dict[str, Any]]  # what, count, reason, legal_basis, until
    recipients: list[dict[str, Any]]  # as the certificate will name them; method None: not accounted for yet
    subject_already_erased: bool


def erasure_preview(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, now: datetime | None = None) -> Preview:
    """What completing this erasure or account closure would do, computed by the same rules the completion uses
    (retention's `what_must_be_kept`, the request's recipients): nothing is changed; the read is audited."""
    now = as_utc(now) if now else utcnow()
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    if req.type not in ERASURE_TYPES:
        raise Conflict("not_an_erasure", "Not an erasure", "Only an erasure or an account closure has a preview.")
    if req.state != "in_progress":
        raise requests._illegal(req, "previewed")
    recipients = propagation.view(propagation.owed(session=session, req=req))
    audit.append(session=session, actor=actor, action=RequestAction.ERASURE_PREVIEW, subject_id=req.subject_id, resource=requests._ref(req))
    try:
        inv = subject_rights.inventory(session=session, subject_id=req.subject_id)
    except SubjectErased:
        return Preview(req, [], {}, [], recipients, True)  # already shredded: nothing is left to destroy or keep
    scope_fields = set(req.details["fields"]) if req.details.get("fields") else None
    scope_types = set(req.details["record_types"]) if req.details.get("record_types") else None
    if scope_fields is not None or scope_types is not None:
        scope_fields, scope_types = scope_fields or set(), scope_types or set()
    keep_fields, keep_records = keeping.what_must_be_kept(session=session, policy=policy, subject_id=req.subject_id, now=now)
    if scope_fields is not None or scope_types is not None:
        keep_fields = {n: k for n, k in keep_fields.items() if scope_fields is None or n in scope_fields}
        keep_records = {r: k for r, k in keep_records.items() if scope_types is None or k.what.removeprefix("record:") in scope_types}
    destroyed_fields = sorted(n for n, _ in inv.fields if n not in keep_fields and (scope_fields is None or n in scope_fields))
    destroyed: dict[str, int] = {}
    for rid, rtype, *_ in inv.records:
        if rid not in keep_records and (scope_types is None or rtype in scope_types):
            destroyed[rtype] = destroyed.get(rtype, 0) + 1
    summary: dict[tuple[str, str, str, str | None], int] = {}
    for k in list(keep_fields.values()) + list(keep_records.values()):
        key = (k.what, k.reason, k.legal_basis, k.until)
        summary[key] = summary.get(key, 0) + 1
    kept = [
        {"what": what, "count": n, "reason": reason, "legal_basis": basis, "until": until}
        for (what, reason, basis, until), n in sorted(summary.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3] or ""))
    ]
    return Preview(req, destroyed_fields, dict(sorted(destroyed.items())), kept, recipients, False)
