"""Read models of incidents for the API, the console and the CLI: an incident with its clocks, the board, the open
clocks across incidents, figures (drills never count), the register of every breach (GDPR Art. 33(5)) and the staff
queue of incidents (the nearest deadline first; filters by state, assignee, date of awareness and search, keyset paging
without a cap) with who works each incident (`assign`, the one write here: the assignee, on the timeline and audited).

Console pages call `board`, `queue`, `open_clocks`, `figures` and `view` directly with the request's session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from govern import paging
from govern.audit import service as audit
from govern.audit.tags import BreachAction
from govern.breach import clocks
from govern.breach.models import AffectedSnapshot, Incident, Notification
from govern.breach.service import (
    STATES,
    TRANSITIONS,
    event,
    facts_of,
    get_or_raise,
    latest_assessment,
    latest_snapshot,
    notifications,
    timeline,
)
from govern.crypto import suites
from govern.errors import Conflict, validation_failed
from govern.identity import assignees
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow

# --- views for the API and the console ----------------------------------------------------------------------------


def notification_view(policy: Policy, n: Notification, now: datetime) -> dict[str, Any]:
    rule = policy.breach_terms[n.jurisdiction].notifications[n.key]
    c = clocks.clock(status=n.status, due_at=n.due_at, sent_at=n.sent_at, now=now)
    return {
        "id": n.id, "key": n.key, "jurisdiction": n.jurisdiction, "recipient": n.recipient, "label": dict(rule.label),
        "addressee": dict(rule.addressee), "status": n.status, "reason": n.reason, "people": n.people, "due_at": c.due_at,
        "due_rule": dict(rule.deadline.rule), "deadline_source": rule.deadline.source, "provisional": n.provisional,
        "seconds_left": c.seconds_left, "overdue": c.overdue, "sent_at": as_utc(n.sent_at) if n.sent_at else None, "sent_late": c.sent_late,
        "channel": n.channel, "late_reason": n.late_reason, "items": list(rule.items), "items_source": rule.items_source,
        "phased_allowed": rule.phased_allowed, "exemptions": dict(rule.exemptions),
    }


def ccpa_exposure(*, policy: Policy, people: int, assessment: dict[str, Any] | None) -> dict[str, Any] | None:
    """CCPA 1798.150 on an incident: whether non-encrypted, non-redacted personal information was exposed (and which
    kinds), the range of California consumers affected, and the statutory damages for that range (per consumer per
    incident, or actual damages if greater). None when the incident concerns no California consumer."""
    terms = policy.breach_terms.get("US-CA")
    action = terms.private_action if terms else None
    recorded = (assessment or {}).get("ccpa_exposure")
    if action is None or (not people and not recorded):
        return None
    recorded = recorded or {}
    exposed = recorded.get("nonencrypted_nonredacted")
    low = recorded.get("consumers_min")
    low = people if low is None else low
    high = recorded.get("consumers_max")
    high = max(low, people) if high is None else high
    status = "not_assessed" if exposed is None else "exposed" if exposed else "not_exposed"
    return {
        "status": status, "nonencrypted_nonredacted": exposed, "label": dict(action.label),
        "categories": [{"key": k, "label": dict(action.categories.get(k, {"zh": k, "en": k}))} for k in recorded.get("categories", [])],
        "consumers": {"min": low, "max": high},
        "per_consumer": {"min": action.damages_min, "max": action.damages_max},
        # Only an exposure founds the claim; while unknown, the range shows what is at stake if it is confirmed.
        "statutory_damages": None if status == "not_exposed" else {"min": low * action.damages_min, "max": high * action.damages_max},
        "currency": action.currency, "actual_if_greater": action.actual_if_greater, "source": action.source, "categories_source": action.categories_source,
    }


def view(*, session: Session, policy: Policy, incident: Incident, now: datetime | None = None, with_timeline: bool = True) -> dict[str, Any]:
    """An incident with its state, clocks per notification, counts and (optionally) timeline."""
    now = now or utcnow()
    snapshot = latest_snapshot(session=session, incident_id=incident.id)
    assessment = latest_assessment(session=session, incident_id=incident.id)
    notes = [notification_view(policy, n, now) for n in notifications(session=session, incident_id=incident.id)]
    a = assessment.data if assessment else None
    conflicts = [x["key"] for x in notes if a and a.get("notify") == "no" and x["status"] == "required"]
    out: dict[str, Any] = {
        "id": incident.id, "reference": incident.reference, "title": incident.title, "description": incident.description,
        "state": incident.state, "allowed_transitions": list(TRANSITIONS[incident.state]), "drill": incident.drill,
        "critical_infrastructure": incident.critical_infrastructure, "detected_at": as_utc(incident.detected_at),
        "aware_at": as_utc(incident.aware_at), "reported_by": incident.reported_by, "source": incident.source,
        "created_by": incident.created_by, "assignee_id": incident.assignee_id,
        "occurred_from": as_utc(incident.occurred_from) if incident.occurred_from else None,
        "occurred_to": as_utc(incident.occurred_to) if incident.occurred_to else None,
        **{f"{s}_at": as_utc(getattr(incident, f"{s}_at")) if getattr(incident, f"{s}_at") else None for s in STATES[1:]},
        "scope": snapshot_view(snapshot) if snapshot else None,
        "assessment": {"version": assessment.version, "at": as_utc(assessment.created_at), "by": assessment.actor_name, **assessment.data} if assessment else None,
        "notifications": notes,
        "overdue": any(x["overdue"] for x in notes),
        "decision_conflicts": conflicts,
        "review": incident.review,
        "ccpa_exposure": ccpa_exposure(policy=policy, people=facts_of(session=session, incident=incident).people.get("US-CA", 0), assessment=a),
    }
    if with_timeline:
        out["timeline"] = [
            {"kind": e.kind, "occurred_at": as_utc(e.occurred_at), "actor": e.actor_name, "from_state": e.from_state, "to_state": e.to_state,
             "note": e.note, "data": e.data}
            for e in timeline(session=session, incident_id=incident.id)
        ]
    return out


def snapshot_view(s: AffectedSnapshot) -> dict[str, Any]:
    return {
        "version": s.version, "computed_at": as_utc(s.created_at), "computed_by": s.actor_name, "method": s.method, "parameters": s.parameters,
        "subjects": s.subjects, "counts": s.counts, "digest": s.digest, "digest_algorithm": suites.of_digest(s.digest).hash_label,
    }


def _board_row(policy: Policy, incident: Incident, now: datetime, session: Session) -> dict[str, Any]:
    """An incident as the board and the queue show it: its pending notifications, how many are overdue, the next clock."""
    notes = [notification_view(policy, n, now) for n in notifications(session=session, incident_id=incident.id)]
    pending = [x for x in notes if x["status"] in ("required", "unknown") and x["sent_at"] is None]
    due = sorted((x for x in pending if x["due_at"]), key=lambda x: x["due_at"])
    return {
        "id": incident.id, "reference": incident.reference, "title": incident.title, "state": incident.state, "drill": incident.drill,
        "aware_at": as_utc(incident.aware_at), "pending": len(pending), "overdue": sum(1 for x in pending if x["overdue"]),
        "next_due": due[0] if due else None,
    }


def board(*, session: Session, policy: Policy, now: datetime | None = None, include_closed: bool = False, include_drills: bool = True) -> list[dict[str, Any]]:
    """Incidents for a console board: open first, each with its next due clock and whether anything is overdue."""
    now = now or utcnow()
    query = select(Incident)
    if not include_closed:
        query = query.where(Incident.state != "closed")
    if not include_drills:
        query = query.where(Incident.drill.is_(False))
    rows = [_board_row(policy, incident, now, session) for incident in session.scalars(query.order_by(Incident.aware_at.desc()))]
    rows.sort(key=lambda r: (r["overdue"] == 0, r["next_due"]["due_at"] if r["next_due"] else datetime.max.replace(tzinfo=now.tzinfo)))
    return rows


# --- the queue a DPO works from (issue 19 item 1) -------------------------------------------------------------------

STATE_GROUPS = {"open": tuple(s for s in STATES if s != "closed"), "closed": ("closed",), "all": tuple(STATES)}
PAGE_SIZE = 50
WORKS_THE_QUEUE = Permission.CONSOLE_INCIDENTS_MANAGE  # whom an incident may be assigned to


@dataclass(frozen=True)
class Filters:
    state: str = "open"  # an incident state, or open / closed / all
    assignee: str | None = None  # "me", "none" or a principal id
    aware_from: datetime | None = None
    aware_before: datetime | None = None
    search: str | None = None  # an incident id, its reference, or words of its title
    drills: bool = True


def _queue_query(f: Filters, actor: Actor | None):
    errors: dict[str, list[str]] = {}
    if f.state not in STATE_GROUPS and f.state not in STATES:
        errors["state"] = [f"one of {', '.join((*STATE_GROUPS, *STATES))}"]
    if assignee_errors := assignees.filter_errors(f.assignee):
        errors["assignee"] = assignee_errors
    elif f.assignee == "me" and (actor is None or actor.principal_id is None):
        errors["assignee"] = ["me: only for a signed-in staff member"]
    if f.search is not None and len(f.search) > 200:
        errors["search"] = ["at most 200 characters"]
    if errors:
        raise validation_failed(errors)
    query = select(Incident).where(Incident.state.in_(STATE_GROUPS.get(f.state, (f.state,))))
    if not f.drills:
        query = query.where(Incident.drill.is_(False))
    if f.assignee is not None:
        query = assignees.where_assigned(query, Incident.assignee_id, f.assignee, actor)
    query = paging.within(query, Incident.aware_at, f.aware_from, f.aware_before)
    if f.search:
        text = f.search.strip()
        matches = [Incident.reference == text, Incident.title.contains(text, autoescape=True)]
        try:
            matches.append(Incident.id == uuid.UUID(text))
        except ValueError:
            pass
        query = query.where(or_(*matches))
    return query


# The queue's order, most urgent first: open incidents with a notification clock running, the nearest due first
# (an overdue one is due before any still running), then open incidents with no clock, then closed ones; those two
# latest aware first. Due times do not move as time passes, so a cursor (rank, instant, id) pages the same order.
_RUNNING, _NO_CLOCK, _CLOSED = 0, 1, 2


def _next_due_query():
    """The nearest due time of each incident's notifications still owed (required or not yet assessed, not sent)."""
    return (
        select(Notification.incident_id, func.min(Notification.due_at).label("next_due"))
        .where(Notification.status.in_(("required", "unknown")), Notification.sent_at.is_(None), Notification.due_at.is_not(None))
        .group_by(Notification.incident_id).subquery()
    )


def _cursor(rank: int, moment: datetime, ident: uuid.UUID) -> str:
    return f"{rank}.{paging.cursor(moment, ident)}"


def _after(rank_of, next_due, text: str):
    """The rows that follow the cursor's row in the queue's order."""
    head, _, rest = text.partition(".")
    if head not in ("0", "1", "2") or not rest:
        raise validation_failed({"cursor": ["not a cursor of this queue"]})
    rank = int(head)
    moment, ident = paging.read_cursor(rest)
    if rank == _RUNNING:
        within = or_(next_due > moment, and_(next_due == moment, Incident.id > ident))
    else:
        within = or_(Incident.aware_at < moment, and_(Incident.aware_at == moment, Incident.id > ident))
    return or_(rank_of > rank, and_(rank_of == rank, within))


def queue(
    *, session: Session, policy: Policy, filters: Filters, cursor: str | None = None, limit: int = PAGE_SIZE, now: datetime | None = None,
    actor: Actor | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of incidents, the most urgent first: open ones by their nearest notification clock (overdue first, then
    the least time left), open ones with no clock running, then closed ones (latest aware first); each with its next
    clock, the seconds left on it and its assignee (assignees.Assignee, None when unassigned), and the cursor of the
    next page (None on the last). `actor` is whom the assignee filter's "me" means. Incidents name no subject: the
    read is not audited, as the board's."""
    now = now or utcnow()
    due = _next_due_query()
    rank_of = case((Incident.state == "closed", _CLOSED), (due.c.next_due.is_(None), _NO_CLOCK), else_=_RUNNING)
    query = _queue_query(filters, actor).outerjoin(due, due.c.incident_id == Incident.id).add_columns(rank_of, due.c.next_due)
    if cursor:
        query = query.where(_after(rank_of, due.c.next_due, cursor))
    # Within a rank only one of the two instants is set, so NULL ordering (which SQLite and PostgreSQL differ on) never matters.
    query = query.order_by(rank_of, case((rank_of == _RUNNING, due.c.next_due)), case((rank_of != _RUNNING, Incident.aware_at)).desc(), Incident.id)
    found = session.execute(query.limit(limit + 1)).all()
    more, found = len(found) > limit, found[:limit]
    rows = []
    for incident, _, _ in found:
        row = _board_row(policy, incident, now, session)
        row["seconds_left"] = row["next_due"]["seconds_left"] if row["next_due"] and row["state"] != "closed" else None
        row["assignee"] = assignees.assignee_of(session=session, principal_id=incident.assignee_id)
        rows.append(row)
    next_cursor = None
    if more:
        last, rank, next_due = found[-1]
        next_cursor = _cursor(rank, next_due if rank == _RUNNING else last.aware_at, last.id)
    return rows, next_cursor


def assign(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, assignee_id: uuid.UUID | None, now: datetime | None = None,
) -> Incident:
    """Sets (or clears, None) the staff member working an incident: an active staff account whose roles may manage
    incidents; a closed incident is nobody's work any more (409). Recorded on the incident's timeline (the name as it
    was, and the id) and audited."""
    now = now or utcnow()
    incident = get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "The incident is closed: nobody works it any more.")
    person = assignees.staff_to_assign(session=session, principal_id=assignee_id, policy=policy, permission=WORKS_THE_QUEUE)
    incident.assignee_id = assignee_id
    event(session=session, incident=incident, actor=actor, kind="assigned", now=now, note=person.name if person else None,
          data={"assignee_id": str(assignee_id) if assignee_id else None})
    audit.append(session=session, actor=actor, action=BreachAction.ASSIGN, resource=f"incident:{incident.id}",
                 reason=str(assignee_id) if assignee_id else "unassigned")
    return incident


def open_clocks(*, session: Session, policy: Policy, now: datetime | None = None, include_drills: bool = False) -> list[dict[str, Any]]:
    """Every required notification not yet sent, across open incidents, overdue first then soonest due."""
    now = now or utcnow()
    query = (
        select(Notification, Incident).join(Incident, Incident.id == Notification.incident_id)
        .where(Incident.state != "closed", Notification.status.in_(("required", "unknown")), Notification.sent_at.is_(None))
    )
    if not include_drills:
        query = query.where(Incident.drill.is_(False))
    out = []
    for n, incident in session.execute(query):
        v = notification_view(policy, n, now)
        out.append({**v, "incident_id": incident.id, "reference": incident.reference, "title": incident.title, "drill": incident.drill})
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda x: (not x["overdue"], x["due_at"] or far))
    return out


def figures(*, session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Counts for dashboards and metrics. Drills never count as incidents; they are reported on their own."""
    now = now or utcnow()
    by_state = dict(session.execute(select(Incident.state, func.count()).where(Incident.drill.is_(False)).group_by(Incident.state)).all())
    drills = session.scalar(select(func.count()).select_from(Incident).where(Incident.drill.is_(True))) or 0
    overdue = session.scalar(
        select(func.count()).select_from(Notification).join(Incident, Incident.id == Notification.incident_id).where(
            Incident.drill.is_(False), Incident.state != "closed", Notification.status.in_(("required", "unknown")),
            Notification.sent_at.is_(None), Notification.due_at.is_not(None), Notification.due_at < now,
        )
    ) or 0
    return {
        "incidents": sum(by_state.values()), "open": sum(v for k, v in by_state.items() if k != "closed"), "by_state": by_state,
        "overdue_notifications": overdue, "drills": drills,
    }


def register(*, session: Session, policy: Policy, actor: Actor, include_drills: bool = False) -> list[dict[str, Any]]:
    """The register of every breach, notified or not (GDPR Art. 33(5)): facts, effects, remedial action. Audited."""
    query = select(Incident).order_by(Incident.aware_at)
    if not include_drills:
        query = query.where(Incident.drill.is_(False))
    out = []
    for incident in session.scalars(query):
        snapshot = latest_snapshot(session=session, incident_id=incident.id)
        a = latest_assessment(session=session, incident_id=incident.id)
        events = timeline(session=session, incident_id=incident.id)
        texts = (a.data.get("texts") or {}) if a else {}
        out.append({
            "reference": incident.reference, "id": incident.id, "drill": incident.drill, "state": incident.state,
            "facts": {
                "title": incident.title, "description": incident.description, "detected_at": as_utc(incident.detected_at),
                "aware_at": as_utc(incident.aware_at), "source": sorted(incident.source), "reported_by": incident.reported_by,
                "occurred_from": as_utc(incident.occurred_from) if incident.occurred_from else None,
                "occurred_to": as_utc(incident.occurred_to) if incident.occurred_to else None,
                "what_happened": texts.get("what_happened"), "cause": texts.get("cause"),
                "times_recorded": [{"at": as_utc(e.occurred_at), "by": e.actor_name, "reason": e.note, **(e.data or {})} for e in events if e.kind == "times"],
            },
            "effects": {
                "people": (snapshot.subjects if snapshot else None), "counts": snapshot.counts if snapshot else None,
                # Everyone concerned and every record, as the report states them: the scope, or what staff assessed beyond it.
                "people_total": facts_of(session=session, incident=incident).people_total,
                "records": a.data.get("records") if a and a.data.get("records") is not None else (snapshot.counts.get("records") if snapshot else None),
                "assessed": {k: a.data.get(k) for k in ("categories", "sensitive", "minors", "people", "records", "risk", "notify", "rationale")} if a else None,
                "consequences": texts.get("consequences"),
                "ccpa_exposure": ccpa_exposure(policy=policy, people=facts_of(session=session, incident=incident).people.get("US-CA", 0), assessment=a.data if a else None),
            },
            "remedy": {
                # In words: what staff wrote, or what govern did (an entry from before descriptions were kept: its note).
                "containment": [
                    {"at": as_utc(e.occurred_at), "by": e.actor_name, **(e.data or {}), "description": (e.data or {}).get("description") or e.note or ""}
                    for e in events if e.kind == "containment"
                ],
                "measures": texts.get("measures"),
                "contained_at": as_utc(incident.contained_at) if incident.contained_at else None,
            },
            "notifications": [
                {"key": n.key, "status": n.status, "due_at": as_utc(n.due_at) if n.due_at else None, "sent_at": as_utc(n.sent_at) if n.sent_at else None,
                 "late_reason": n.late_reason}
                for n in notifications(session=session, incident_id=incident.id)
            ],
            "closed_at": as_utc(incident.closed_at) if incident.closed_at else None, "review": incident.review,
        })
    audit.append(session=session, actor=actor, action=BreachAction.REGISTER, resource="breach-register", reason="with_drills" if include_drills else None)
    return out


def running_clocks(*, session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every notification clock still running on a real incident (required or not yet assessed, not sent, with a due
    time): its id, kind (the policy key), jurisdiction, when the clock started (the incident's awareness), when it runs
    out and the seconds left (negative once expired). Read-only and not audited: ids and times, no facts of the incident.
    For /metrics and the alerts (govern/alerts)."""
    now = as_utc(now or utcnow())
    rows = session.execute(
        select(Notification.id, Notification.key, Notification.jurisdiction, Incident.aware_at, Notification.due_at, Incident.reference)
        .join(Incident, Incident.id == Notification.incident_id)
        .where(Incident.drill.is_(False), Incident.state != "closed", Notification.status.in_(("required", "unknown")),
               Notification.sent_at.is_(None), Notification.due_at.is_not(None))
        .order_by(Notification.due_at)
    ).all()
    return [
        {"id": nid, "kind": key, "jurisdiction": jurisdiction, "started_at": as_utc(aware), "due_at": as_utc(due),
         "incident": reference, "seconds_left": (as_utc(due) - now).total_seconds(), "used": _used(as_utc(aware), as_utc(due), now)}
        for nid, key, jurisdiction, aware, due, reference in rows
    ]


def _used(started: datetime, due: datetime, now: datetime) -> float:
    """The share of a clock already used: 0 at awareness, 1 when it runs out, above 1 once expired."""
    length = (due - started).total_seconds()
    return (now - started).total_seconds() / length if length > 0 else 1.0
