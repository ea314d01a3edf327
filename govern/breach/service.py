"""Incidents: open, move through explicit states (timestamped, attributed, audited; illegal moves refused), record the
assessment, derive the required notifications and their clocks from policy, record filings, and the register."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import BreachAction
from govern.breach import clocks
from govern.breach.models import AffectedSnapshot, Assessment, Incident, IncidentEvent, Letter, Notification
from govern.errors import Conflict, NotFound, not_found, validation_failed
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.sharing import service as sharing
from govern.timeutil import as_utc, utcnow

STATES = ("detected", "assessing", "contained", "notifying", "notified", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "detected": ("assessing",),
    "assessing": ("contained", "closed"),  # closed: assessed as no breach after all, with a review
    "contained": ("notifying", "closed"),  # closed: nothing to notify
    "notifying": ("notified",),
    "notified": ("closed",),
    "closed": (),
}
OPEN_STATES = STATES[:-1]
SOURCE_KINDS = ("principals", "export_id", "recipient_id")
# Allowed clock skew for times a person types (detected, aware): a little ahead of the server, never days.
FUTURE_SKEW = timedelta(minutes=5)


def _ref(incident: Incident) -> str:
    return f"incident:{incident.id}"


def event(
    *, session: Session, incident: Incident, actor: Actor, kind: str, now: datetime, note: str | None = None, data: dict | None = None,
    from_state: str | None = None, to_state: str | None = None,
) -> IncidentEvent:
    ev = IncidentEvent(
        incident_id=incident.id, kind=kind, occurred_at=now, actor_name=actor.name, actor_id=actor.principal_id, from_state=from_state,
        to_state=to_state, note=note, data=data,
    )
    session.add(ev)
    return ev


# --- open and read ------------------------------------------------------------------------------------------------


def _check_source(session: Session, source: Mapping[str, Any]) -> dict[str, Any]:
    """The suspected source, resolved: principals by id (from names or ids), an export's audit event, a recipient."""
    given = [k for k in SOURCE_KINDS if source.get(k) not in (None, [], "")]
    if len(given) > 1:
        raise validation_failed({"source": [f"name one of {', '.join(SOURCE_KINDS)}"]})
    out: dict[str, Any] = {}
    if "principals" in given:
        ids = []
        for ref in source["principals"]:
            try:
                ids.append(str(identity.get_by_name_or_id(session=session, ref=str(ref)).id))
            except NotFound:
                raise validation_failed({"source.principals": ["no such principal"]}) from None
        out["principals"] = sorted(set(ids))
    elif "export_id" in given:
        out["export_id"] = int(source["export_id"])
    elif "recipient_id" in given:
        out["recipient_id"] = str(sharing.get_recipient(session=session, recipient_id=uuid.UUID(str(source["recipient_id"]))).id)
    for key in ("from", "to"):
        value = source.get(key)
        if value is not None:
            try:
                out[key] = as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value).isoformat()
            except ValueError:
                raise validation_failed({key: ["not a date-time"]}) from None
    if source.get("description"):
        out["description"] = str(source["description"])[:500]
    return out


def create(*, session: Session, policy: Policy, actor: Actor, data: Mapping[str, Any], now: datetime | None = None) -> Incident:
    """Opens an incident (or a drill) in state `detected`; the clocks run from `aware_at`."""
    now = now or utcnow()
    detected, aware = as_utc(data["detected_at"]), as_utc(data.get("aware_at") or data["detected_at"])
    errors: dict[str, list[str]] = {}
    if aware < detected:
        errors["aware_at"] = ["cannot be earlier than detected_at"]
    for key, value in (("detected_at", detected), ("aware_at", aware)):
        if value > now + FUTURE_SKEW:
            errors[key] = ["lies in the future"]
    occurred_from, occurred_to = (as_utc(data[k]) if data.get(k) else None for k in ("occurred_from", "occurred_to"))
    for key, value in (("occurred_from", occurred_from), ("occurred_to", occurred_to)):
        if value and value > now + FUTURE_SKEW:
            errors[key] = ["lies in the future"]
    if occurred_from and detected < occurred_from:
        errors["detected_at"] = ["cannot be earlier than the incident began (occurred_from)"]
    if occurred_from and occurred_to and occurred_to < occurred_from:
        errors["occurred_to"] = ["cannot be earlier than occurred_from"]
    if not (data.get("title") or "").strip():
        errors["title"] = ["required"]
    if errors:
        raise validation_failed(errors)
    incident_id = uuid.uuid4()
    drill = bool(data.get("drill"))
    incident = Incident(
        id=incident_id, reference=f"{'DRILL' if drill else 'INC'}-{aware.strftime('%Y%m%d')}-{incident_id.hex[:6].upper()}",
        title=data["title"].strip()[:200], description=data.get("description"), state="detected", drill=drill,
        critical_infrastructure=bool(data.get("critical_infrastructure")), detected_at=detected, aware_at=aware,
        occurred_from=data.get("occurred_from"), occurred_to=data.get("occurred_to"), reported_by=(data.get("reported_by") or actor.name)[:200],
        source=_check_source(session, data.get("source") or {}), created_at=now, created_by=actor.name, created_by_id=actor.principal_id,
    )
    session.add(incident)
    session.flush()  # the timeline row refers to it
    event(session=session, incident=incident, actor=actor, kind="opened", now=now, to_state="detected", data={"drill": drill})
    audit.append(session=session, actor=actor, action=BreachAction.CREATE, resource=_ref(incident), reason="drill" if drill else None)
    refresh_notifications(session=session, policy=policy, incident=incident, now=now)
    return incident


def get_or_raise(*, session: Session, incident_id: uuid.UUID, for_update: bool = False) -> Incident:
    # for_update, PostgreSQL: one change to an incident at a time, the next waits and reads the new version instead of
    # failing on it (the version check); SQLite's BEGIN IMMEDIATE serialises writers anyway. Every service function
    # that changes an incident (its steps, times, assessment, scope, containment, letters, filings, assignee) reads it
    # so; populate_existing: a copy already in the session is replaced by the row as it stands once locked.
    incident = session.get(Incident, incident_id, with_for_update=True if for_update else None, populate_existing=for_update)
    if incident is None:
        raise not_found("incident")
    return incident


def timeline(*, session: Session, incident_id: uuid.UUID) -> list[IncidentEvent]:
    return list(session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id)))


def latest_snapshot(*, session: Session, incident_id: uuid.UUID) -> AffectedSnapshot | None:
    return session.scalar(select(AffectedSnapshot).where(AffectedSnapshot.incident_id == incident_id).order_by(AffectedSnapshot.version.desc()).limit(1))


def latest_assessment(*, session: Session, incident_id: uuid.UUID) -> Assessment | None:
    return session.scalar(select(Assessment).where(Assessment.incident_id == incident_id).order_by(Assessment.version.desc()).limit(1))


def notifications(*, session: Session, incident_id: uuid.UUID) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.incident_id == incident_id).order_by(Notification.jurisdiction, Notification.key)))


def get_notification(*, session: Session, incident_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    n = session.get(Notification, notification_id)
    if n is None or n.incident_id != incident_id:
        raise not_found("notification")
    return n


# --- state machine ------------------------------------------------------------------------------------------------


def _unsent_required(session: Session, incident: Incident) -> list[Notification]:
    return [n for n in notifications(session=session, incident_id=incident.id) if n.status in ("required", "unknown") and n.sent_at is None]


def transition(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, to: str, note: str | None = None,
    review: Mapping[str, Any] | None = None, at: datetime | None = None, reason: str | None = None, now: datetime | None = None,
) -> Incident:
    """Moves the incident one step; refuses a move the state machine does not allow, or whose conditions are unmet.
    Routes and pages call flows.transition, which also keeps the report as it was at closing (letters build on this module).

    `at` is when the step really happened, when it is recorded afterwards (contained yesterday, entered today): a past
    time, with `reason` saying why it is entered late; the clocks follow it (GDPR Art. 33(5), PIPL Art. 57)."""
    now = now or utcnow()
    incident = get_or_raise(session=session, incident_id=incident_id, for_update=True)
    allowed = TRANSITIONS[incident.state]
    if to not in allowed:
        raise Conflict(
            "illegal_transition", "Transition not allowed",
            f"An incident in state '{incident.state}' can move to: {', '.join(allowed) or 'nothing (it is closed)'}; not '{to}'.",
            extra={"state": incident.state, "allowed": list(allowed)},
        )
    kinds = {e.kind for e in timeline(session=session, incident_id=incident.id)}
    if to == "contained" and "containment" not in kinds:
        raise Conflict("containment_missing", "No containment recorded", "Record at least one containment action before marking the incident contained.")
    if to in ("notifying", "closed") and latest_assessment(session=session, incident_id=incident.id) is None:
        raise Conflict("assessment_missing", "No assessment", "Record the assessment first.")
    if to in ("notified", "closed"):
        refresh_notifications(session=session, policy=policy, incident=incident, now=now)
        unsent = _unsent_required(session, incident)
        if unsent:
            raise Conflict(
                "notifications_outstanding", "Notifications outstanding",
                f"Still required and not sent: {', '.join(n.key for n in unsent)} (an 'unknown' one needs a re-assessment).",
                extra={"outstanding": [n.key for n in unsent]},
            )
    if to == "closed":
        errors = {k: ["required"] for k in ("cause", "lessons") if not (review or {}).get(k)}
        if not isinstance((review or {}).get("actions"), list):
            errors["actions"] = ["a list of follow-up actions (may be empty)"]
        if errors:
            raise validation_failed({f"review.{k}": v for k, v in errors.items()})
        incident.review = {"cause": review["cause"], "lessons": review["lessons"], "actions": list(review["actions"]), "by": actor.name, "at": now.isoformat()}
    when = _step_time(session, incident, to, at, reason, now)
    before = incident.state
    incident.state = to
    setattr(incident, f"{to}_at", when)
    late = {"recorded_at": now.isoformat(), "reason": reason.strip()} if at is not None else None
    event(session=session, incident=incident, actor=actor, kind="transition", now=when, from_state=before, to_state=to, note=note, data=late)
    audit.append(session=session, actor=actor, action=BreachAction.TRANSITION, resource=_ref(incident), reason=f"{before}->{to}")
    if at is not None:
        audit.append(session=session, actor=actor, action=BreachAction.TIMES, resource=_ref(incident), reason=f"{to}_at")
    if to == "contained":
        refresh_notifications(session=session, policy=policy, incident=incident, now=now)  # a summary may count from here
    session.flush()
    return incident


# --- times recorded after the fact ------------------------------------------------------------------------------------

# The times staff may enter or correct afterwards, with who and why; the clocks are derived again from them.
RECORDED_TIMES = ("occurred_from", "occurred_to", "detected_at", "aware_at", "contained_at")
_TIMES = (*RECORDED_TIMES, "closed_at")


def _past(value: datetime, now: datetime, key: str) -> datetime:
    value = as_utc(value)
    if value > now + FUTURE_SKEW:
        raise validation_failed({key: ["lies in the future"]})
    return value


def _check_order(incident: Incident, times: Mapping[str, datetime | None], sent: list[datetime]) -> None:
    """What the recorded times must respect, whoever enters them: the incident happens, then is detected, then the
    company is aware of it; it is contained no earlier than detected; nothing is filed before it was detected; it is
    closed after awareness, containment and every filing. Never before the incident began, where that is known."""
    errors: dict[str, list[str]] = {}
    begun, ended, detected, aware, contained, closed = (times.get(k) for k in ("occurred_from", "occurred_to", "detected_at", "aware_at", "contained_at", "closed_at"))
    if begun and detected and detected < begun:
        errors["detected_at"] = ["cannot be earlier than the incident began (occurred_from)"]
    if begun and ended and ended < begun:
        errors["occurred_to"] = ["cannot be earlier than occurred_from"]
    if detected and aware and aware < detected:
        errors["aware_at"] = ["cannot be earlier than detected_at"]
    if detected and sent and min(sent) < detected:
        errors["detected_at"] = [f"cannot be later than the first filing ({min(sent).isoformat()})"]
    if contained and detected and contained < detected:
        errors["contained_at"] = ["cannot be earlier than detected_at"]
    if closed:
        floor = max([t for t in (aware, contained, *sent) if t], default=None)
        if floor and closed < floor:
            errors["closed_at"] = [f"cannot be earlier than {floor.isoformat()} (awareness, containment or a filing)"]
    if errors:
        raise validation_failed(errors)


def _current_times(incident: Incident) -> dict[str, datetime | None]:
    return {k: as_utc(getattr(incident, k)) if getattr(incident, k) else None for k in _TIMES}


def _step_time(session: Session, incident: Incident, to: str, at: datetime | None, reason: str | None, now: datetime) -> datetime:
    """When a step happened: now, or the past time staff give (with a reason), checked against the other times."""
    if at is None:
        return now
    if not (reason or "").strip():
        raise validation_failed({"reason": ["say why the step is recorded with an earlier time"]})
    when = _past(at, now, "at")
    times = {**_current_times(incident), f"{to}_at": when}
    detected = times["detected_at"]
    if detected and when < detected:
        raise validation_failed({"at": ["cannot be earlier than detected_at"]})
    sent = [as_utc(n.sent_at) for n in notifications(session=session, incident_id=incident.id) if n.sent_at]
    _check_order(incident, times, sent)
    return when


def record_times(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, times: Mapping[str, datetime | None], reason: str,
    now: datetime | None = None,
) -> Incident:
    """Enters or corrects when the incident began and ended, when it was really detected, when the company became aware
    of it, or when it was contained: past times only, consistent with each other, with who and why (timeline and audit). Every clock is
    derived again from them (72 h, CAC 4 h / 1 h, 30 days, California 30 days)."""
    now = now or utcnow()
    incident = get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident's times are final: its report was frozen with them.")
    given = {k: v for k, v in times.items() if k in RECORDED_TIMES and v is not None}
    if not given:
        raise validation_failed({"times": [f"give at least one of {', '.join(RECORDED_TIMES)}"]})
    if not (reason or "").strip():
        raise validation_failed({"reason": ["say why these times are entered or corrected"]})
    if "contained_at" in given and incident.contained_at is None:
        raise Conflict("not_contained", "Not contained yet", "Record the containment step first (transition to contained, with `at` for a past time).")
    new = {k: _past(v, now, k) for k, v in given.items()}
    before = _current_times(incident)
    sent = [as_utc(n.sent_at) for n in notifications(session=session, incident_id=incident.id) if n.sent_at]
    _check_order(incident, {**before, **new}, sent)
    changed = {k: {"from": before[k].isoformat() if before[k] else None, "to": v.isoformat()} for k, v in new.items() if before[k] != v}
    if not changed:
        return incident
    for k, v in new.items():
        setattr(incident, k, v)
    event(session=session, incident=incident, actor=actor, kind="times", now=now, note=reason.strip(), data={"changed": changed})
    audit.append(session=session, actor=actor, action=BreachAction.TIMES, resource=_ref(incident), reason=",".join(sorted(changed)))
    session.flush()
    refresh_notifications(session=session, policy=policy, incident=incident, now=now)
    return incident


# --- assessment ---------------------------------------------------------------------------------------------------

# `cause` is an item of its own: PIPL Art. 57 ¶1(1) asks for the cause (原因) beside what happened.
TEXT_ITEMS = ("what_happened", "cause", "consequences", "measures", "what_you_can_do")


def assess(*, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, data: Mapping[str, Any], now: datetime | None = None) -> Assessment:
    """Records a (re-)assessment: a new version, never an edit; the required notifications are derived again from it."""
    now = now or utcnow()
    incident = get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident is not re-assessed.")
    errors: dict[str, list[str]] = {}
    unknown_cats = sorted(set(data.get("categories") or []) - set(policy.catalog.categories))
    if unknown_cats:
        errors["categories"] = [f"unknown categories: {', '.join(unknown_cats)}"]
    unknown_jur = sorted(set(data.get("people") or {}) - set(policy.jurisdictions))
    if unknown_jur:
        errors["people"] = [f"unknown jurisdictions: {', '.join(unknown_jur)}"]
    if not (data.get("rationale") or "").strip():
        errors["rationale"] = ["say why (notify yes, no or unknown)"]
    exposure = _ccpa_exposure(policy, data, errors)
    if errors:
        raise validation_failed(errors)
    snapshot = latest_snapshot(session=session, incident_id=incident.id)
    counts = snapshot.counts if snapshot else {}
    record = {
        "categories": sorted(set(data.get("categories") or counts.get("by_category", {}))),
        "sensitive": data.get("sensitive") if data.get("sensitive") is not None else bool(counts.get("by_sensitivity", {}).get("sensitive")),
        "minors": data.get("minors") if data.get("minors") is not None else (bool(counts.get("minors")) if snapshot else None),
        "encrypted": bool(data.get("encrypted")),
        "key_compromised": data.get("key_compromised"),
        "people": dict(data.get("people") or {}),
        "records": data.get("records"),
        "risk": data.get("risk") or "unknown",
        "notify": data.get("notify") or "unknown",
        "rationale": data["rationale"].strip(),
        "measures_avoid_harm": bool(data.get("measures_avoid_harm")),
        "disproportionate_effort": bool(data.get("disproportionate_effort")),
        "texts": {k: dict(v) for k, v in (data.get("texts") or {}).items() if k in TEXT_ITEMS},
        "ccpa_exposure": exposure,
    }
    version = (session.scalar(select(func.max(Assessment.version)).where(Assessment.incident_id == incident.id)) or 0) + 1
    row = Assessment(
        incident_id=incident.id, version=version, created_at=now, actor_name=actor.name, snapshot_version=snapshot.version if snapshot else None,
        data=record,
    )
    session.add(row)
    event(session=session, incident=incident, actor=actor, kind="assessment", now=now, data={"version": version, "risk": record["risk"], "notify": record["notify"]})
    audit.append(session=session, actor=actor, action=BreachAction.ASSESS, resource=f"{_ref(incident)}/assessment:{version}", reason=f"notify={record['notify']}")
    session.flush()
    refresh_notifications(session=session, policy=policy, incident=incident, now=now)
    return row


def _ccpa_exposure(policy: Policy, data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any] | None:
    """The CCPA 1798.150 facts of an assessment: exposed or not (or not known), which kinds, how many consumers (a range)."""
    given = data.get("ccpa_exposure")
    if given is None:
        return None
    terms = policy.breach_terms.get("US-CA")
    action = terms.private_action if terms else None
    if action is None:
        errors["ccpa_exposure"] = ["the policy has no US-CA breach.private_action"]
        return None
    exposed = given.get("nonencrypted_nonredacted")
    cats = list(dict.fromkeys(given.get("categories") or []))
    unknown = sorted(set(cats) - set(action.categories))
    if unknown:
        errors["ccpa_exposure.categories"] = [f"unknown: {', '.join(unknown)}; one of {', '.join(action.categories)}"]
    if exposed and not cats:
        errors["ccpa_exposure.categories"] = ["name the kinds of personal information exposed"]
    if exposed and data.get("encrypted") and data.get("key_compromised") is False:
        errors["ccpa_exposure.nonencrypted_nonredacted"] = ["the assessment says the data was encrypted and the key is safe"]
    low, high = given.get("consumers_min"), given.get("consumers_max")
    if low is not None and high is not None and high < low:
        errors["ccpa_exposure.consumers_max"] = ["lower than consumers_min"]
    return {"nonencrypted_nonredacted": exposed, "categories": cats, "consumers_min": low, "consumers_max": high}


def exemptions_of(assessment: Mapping[str, Any] | None) -> frozenset[str]:
    if not assessment:
        return frozenset()
    out = set()
    if assessment.get("encrypted") and assessment.get("key_compromised") is False:
        out.add("encrypted_key_safe")  # encrypted, and the key is known to be safe (not merely "not known to be lost")
    if assessment.get("measures_avoid_harm"):
        out.add("measures_avoid_harm")
    if assessment.get("disproportionate_effort"):
        out.add("disproportionate_effort")
    return frozenset(out)


def facts_of(*, session: Session, incident: Incident) -> clocks.Facts:
    snapshot = latest_snapshot(session=session, incident_id=incident.id)
    assessment = latest_assessment(session=session, incident_id=incident.id)
    people = dict((snapshot.counts.get("by_jurisdiction") if snapshot else None) or {})
    a = assessment.data if assessment else None
    if a:
        people.update({k: int(v) for k, v in a.get("people", {}).items()})
    sent = {n.key: as_utc(n.sent_at) for n in notifications(session=session, incident_id=incident.id) if n.sent_at}
    return clocks.Facts(
        aware_at=as_utc(incident.aware_at), detected_at=as_utc(incident.detected_at),
        contained_at=as_utc(incident.contained_at) if incident.contained_at else None, critical_infrastructure=incident.critical_infrastructure,
        people=people, risk=(a or {}).get("risk", "unknown"), exemptions=exemptions_of(a), sent=sent,
    )


def refresh_notifications(*, session: Session, policy: Policy, incident: Incident, now: datetime | None = None) -> list[Notification]:
    """Derives the notifications again from the current facts; a sent one keeps its record of sending."""
    now = now or utcnow()
    derived = clocks.derive(policy=policy, facts=facts_of(session=session, incident=incident))
    existing = {n.key: n for n in notifications(session=session, incident_id=incident.id)}
    wanted = {d.key for d in derived}
    for d in derived:
        n = existing.get(d.key)
        if n is None:
            n = Notification(id=uuid.uuid4(), incident_id=incident.id, key=d.key, jurisdiction=d.jurisdiction, recipient=d.recipient)
            session.add(n)
            existing[d.key] = n
        n.status, n.reason, n.people, n.due_at, n.provisional, n.updated_at = d.status, d.reason[:500], d.people, d.due_at, d.provisional, now
    for key, n in existing.items():
        if key not in wanted and n.sent_at is None:
            # The jurisdiction has no affected people any more (a narrower scope): nothing is owed.
            n.status, n.reason, n.people, n.due_at, n.provisional = "not_required", "no affected people in this jurisdiction", 0, None, False
    session.flush()
    return sorted(existing.values(), key=lambda n: (n.jurisdiction, n.key))


# --- sending ------------------------------------------------------------------------------------------------------


def mark_sent(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, notification_id: uuid.UUID, channel: str,
    reference: str | None = None, sent_at: datetime | None = None, late_reason: str | None = None, letter_ids: list[uuid.UUID] | None = None,
    now: datetime | None = None,
) -> Notification:
    """Records that letters went out (govern does not send them itself): when, through which channel. A filing after
    its due time needs the reasons for the delay where the law asks for them (GDPR Art. 33(1)). A drill is recorded
    as simulated: nothing is sent for a drill."""
    now = now or utcnow()
    sent_at = as_utc(sent_at) if sent_at else now
    incident = get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident takes no more filings.")
    if sent_at > now + FUTURE_SKEW:
        raise validation_failed({"sent_at": ["lies in the future"]})
    if sent_at < as_utc(incident.detected_at):
        raise validation_failed({"sent_at": ["cannot be earlier than the incident was detected"]})
    n = get_notification(session=session, incident_id=incident.id, notification_id=notification_id)
    rule = policy.breach_terms[n.jurisdiction].notifications[n.key]
    query = select(Letter).where(Letter.notification_id == n.id, Letter.sent_at.is_(None))
    if letter_ids:
        query = query.where(Letter.id.in_(letter_ids))
    unsent = list(session.scalars(query))
    if not unsent:
        raise Conflict("no_letters", "Nothing to send", "Generate the letters (or the report) first; every one generated has been marked sent.")
    due = as_utc(n.due_at) if n.due_at else None
    if n.sent_at is None and due is not None and sent_at > due and rule.late_reasons_required and not (late_reason or "").strip():
        raise Conflict(
            "late_reasons_required", "Reasons for the delay required",
            f"This notification was due at {due.isoformat()}; a late one states the reasons for the delay ({rule.late_reasons_source}).",
        )
    for letter in unsent:
        letter.sent_at, letter.channel = sent_at, channel
    session.flush()
    left = session.scalar(select(func.count()).select_from(Letter).where(Letter.notification_id == n.id, Letter.sent_at.is_(None)))
    if n.sent_at is None and not left:
        # The clock stops when the last letter of the batch has gone (for an authority: the first filing; later phases
        # are supplements, GDPR Art. 33(4)).
        n.sent_at, n.channel, n.sent_reference = sent_at, channel, reference
        if late_reason:
            n.late_reason = late_reason
    data = {"notification": n.key, "letters": len(unsent), "channel": channel, "simulated": incident.drill, "remaining": left}
    event(session=session, incident=incident, actor=actor, kind="sent", now=now, data=data, note=late_reason)
    audit.append(session=session, actor=actor, action=BreachAction.SENT, resource=f"{_ref(incident)}/notification:{n.key}", reason="drill" if incident.drill else channel[:64])
    refresh_notifications(session=session, policy=policy, incident=incident, now=now)  # a clock may count from this sending
    return n
