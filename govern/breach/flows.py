"""Breach workflows that span domains: the affected subjects computed from the audit log (audit, subjects, identity,
sharing) into a frozen snapshot, containment actions executed through identity, and a step of the incident that
closes it with its report kept (service and letters)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit import breach_queries
from govern.audit import service as audit
from govern.audit.tags import AuditAction, BreachAction, RequestAction, SharingAction, SubjectAction
from govern.breach import letters, service
from govern.breach.models import AffectedSnapshot, AffectedSubject, Incident
from govern.crypto import suites
from govern.crypto.envelope import Envelope
from govern.crypto.suites import Suite
from govern.errors import Conflict, NotFound, SubjectErased, validation_failed
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subjects import facts as subjects
from govern.subjects import rights as subject_rights
from govern.timeutil import as_utc, utcnow

# Exports whose loss exposes subjects, by the audit action that recorded them.
EXPORT_ACTIONS = {
    AuditAction.EXPORT.value: "audit_export",  # ids and field names of every event in the range (the log holds no values)
    RequestAction.PACKAGE.value: "access_package",  # a subject's full access package
    SubjectAction.EXPORT.value: "subject_export",
}
DISCLOSE_ACTION = SharingAction.DISCLOSE.value


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _parse_range(resource: str | None) -> tuple[datetime | None, datetime | None]:
    """`export:<from|->..<to|->`, as audit and the console write it."""
    body = (resource or "").removeprefix("export:")
    start, _, end = body.partition("..")
    parse = lambda s: as_utc(datetime.fromisoformat(s)) if s and s != "-" else None  # noqa: E731
    try:
        return parse(start), parse(end)
    except ValueError:
        raise Conflict("export_unreadable", "Export range unreadable", "The export's audit event does not name a readable range.") from None


def _from_export(session: Session, export_id: int) -> tuple[dict[uuid.UUID, set[str]], dict[str, Any]]:
    ev = breach_queries.event(session=session, event_id=export_id)
    if ev is None or ev.action not in EXPORT_ACTIONS or ev.outcome != "allowed":
        raise validation_failed({"export_id": ["not the audit event of an export (audit export, access package or subject export)"]})
    kind = EXPORT_ACTIONS[ev.action]
    params: dict[str, Any] = {"export_id": export_id, "kind": kind, "exported_at": as_utc(ev.occurred_at).isoformat()}
    if kind == "audit_export":
        start, end = _parse_range(ev.resource)
        end = end or as_utc(ev.occurred_at)  # an open-ended export held what was logged until it was made
        params.update({"from": start.isoformat() if start else None, "to": end.isoformat()})
        touched = breach_queries.subjects_logged_between(session=session, time_from=start, time_to=end)
        # The export holds subject ids and field *names*: no value of any field. The names are kept as "log" entries.
        return {sid: {"audit_log_entry"} for sid in touched}, params
    assert ev.subject_id is not None
    names = set(ev.field_names)
    if not names:
        try:
            inv = subject_rights.inventory(session=session, subject_id=ev.subject_id)
            names = {n for n, _ in inv.fields} | {f"record:{t}" for _, t, _, _ in inv.records}
        except (NotFound, SubjectErased):  # gone since the event: its fields can no longer be named
            names = set()
    return {ev.subject_id: names}, params


def _categorise(policy: Policy, names: set[str]) -> tuple[list[str], bool]:
    cats, sensitive = set(), False
    for name in names:
        rule = policy.catalog.fields.get(name) or policy.catalog.record_types.get(name.removeprefix("record:"))
        if rule is None:
            continue
        cats.add(rule.category)
        sensitive = sensitive or rule.sensitive
    return sorted(cats), sensitive


def compute_scope(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, incident_id: uuid.UUID, data: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AffectedSnapshot:
    """Computes the affected subjects from the audit log and freezes them as the incident's next snapshot version.

    Principals and a window: every subject and field they read or changed in [from, to). A lost export: what it held.
    A recipient: every disclosure to it (in the window, if given). Counts by jurisdiction, category, sensitivity, minors."""
    now = now or utcnow()
    incident = service.get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident's scope is final.")
    given = dict(data or {})
    if not any(given.get(k) for k in service.SOURCE_KINDS):
        given = {**incident.source, **{k: v for k, v in given.items() if v is not None}}
    source = service._check_source(session, given)
    start = as_utc(datetime.fromisoformat(source["from"])) if source.get("from") else None
    end = as_utc(datetime.fromisoformat(source["to"])) if source.get("to") else None
    if start and end and end <= start:
        raise validation_failed({"to": ["must be later than from"]})
    if "principals" in source:
        method = "principals"
        if start is None:
            raise validation_failed({"from": ["give the start of the window in which the principals were compromised"]})
        ids = [uuid.UUID(p) for p in source["principals"]]
        found = breach_queries.touched_by_principals(session=session, principal_ids=ids, time_from=start, time_to=end or now)
        touched = {sid: t.fields for sid, t in found.items()}
        params = {"principals": source["principals"], "from": start.isoformat(), "to": (end or now).isoformat()}
    elif "export_id" in source:
        method = "export"
        touched, params = _from_export(session, source["export_id"])
    elif "recipient_id" in source:
        method = "recipient"
        found = breach_queries.sent_to_resource(
            session=session, action=DISCLOSE_ACTION, resource=f"recipient:{source['recipient_id']}", time_from=start, time_to=end,
        )
        touched = {sid: t.fields for sid, t in found.items()}
        params = {"recipient_id": source["recipient_id"], "from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    else:
        raise validation_failed({"source": [f"name one of {', '.join(service.SOURCE_KINDS)}"]})
    return _freeze(session, policy, envelope, actor, incident, method, params, touched, now)


def _freeze(
    session: Session, policy: Policy, envelope: Envelope, actor: Actor, incident, method: str, params: dict, touched: Mapping[uuid.UUID, set[str]],
    now: datetime,
) -> AffectedSnapshot:
    ids = sorted(touched)
    # Jurisdiction and date of birth through the subjects service (decrypted inside govern, for the minors' count only).
    facts = subjects.facts(session=session, subject_ids=ids, envelope=envelope, birth_dates_for=set(ids))
    aware_day = as_utc(incident.aware_at).date()
    version = (session.scalar(select(func.max(AffectedSnapshot.version)).where(AffectedSnapshot.incident_id == incident.id)) or 0) + 1
    snapshot = AffectedSnapshot(incident_id=incident.id, version=version, created_at=now, actor_name=actor.name, method=method, parameters=params, subjects=len(ids), counts={}, digest="")
    session.add(snapshot)
    session.flush()  # the rows below refer to its id
    by_jur: dict[str, int] = {}
    by_cat: dict[str, int] = {}
    by_field: dict[str, int] = {}
    sens = {"sensitive": 0, "not_sensitive": 0}
    minors = minors_unknown = records = 0
    listing = []
    rows = []
    for sid in ids:
        f = facts.get(sid)
        jur = f.jurisdiction if f else "unknown"  # erased since: still affected, jurisdiction no longer known
        names = sorted(touched[sid])
        cats, sensitive = _categorise(policy, set(names))
        minor = None
        if f and f.birth_date and jur in policy.jurisdictions:
            minor = _age(f.birth_date, aware_day) < policy.ages[jur].age(f.member_state)  # the law's age (GDPR Art. 8: per member state)
        if minor and policy.jurisdictions[jur].extra.get("minors_data_sensitive"):
            sensitive = True  # PIPL Art. 28: a minor's personal information is itself sensitive
        by_jur[jur] = by_jur.get(jur, 0) + 1
        for c in cats:
            by_cat[c] = by_cat.get(c, 0) + 1
        for n in names:
            by_field[n] = by_field.get(n, 0) + 1
        records += len(names)
        sens["sensitive" if sensitive else "not_sensitive"] += 1
        minors += minor is True
        minors_unknown += minor is None
        rows.append({"snapshot_id": snapshot.id, "subject_id": sid, "jurisdiction": jur, "fields": names, "categories": cats, "sensitive": sensitive, "minor": minor})
        listing.append([str(sid), jur, names])
    if rows:
        session.execute(AffectedSubject.__table__.insert(), rows)
    snapshot.counts = {
        "by_jurisdiction": dict(sorted(by_jur.items())), "by_category": dict(sorted(by_cat.items())), "by_field": dict(sorted(by_field.items())),
        "by_sensitivity": sens, "minors": minors, "minors_unknown": minors_unknown, "records": records,
    }
    snapshot.digest = digest(listing, envelope.suite)
    service.event(session=session, incident=incident, actor=actor, kind="scope", now=now, data={"version": version, "method": method, "subjects": len(ids)})
    audit.append(session=session, actor=actor, action=BreachAction.SCOPE, resource=f"incident:{incident.id}/scope:{version}", reason=f"subjects={len(ids)}")
    session.flush()
    service.refresh_notifications(session=session, policy=policy, incident=incident, now=now)
    return snapshot


def digest(listing: list, suite: Suite) -> str:
    # An unkeyed hash is right here: the listing is of random subject ids, jurisdiction codes and field names — nothing a
    # reader could guess, no value — and whoever reads the scope holds it and can check it against the report. It is
    # govern's own integrity value, so it follows the suite in force and names its algorithm (`sm3:`; none: SHA-256).
    return suite.named_hash(_listed(listing))


def _listed(listing: list) -> bytes:
    return json.dumps(listing, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def affected(*, session: Session, actor: Actor, incident_id: uuid.UUID, version: int | None = None) -> tuple[AffectedSnapshot, list[AffectedSubject], bool]:
    """A snapshot's subjects (ids, jurisdictions, field names), and whether they still hash to its digest. Audited."""
    incident = service.get_or_raise(session=session, incident_id=incident_id)
    query = select(AffectedSnapshot).where(AffectedSnapshot.incident_id == incident.id)
    query = query.where(AffectedSnapshot.version == version) if version else query.order_by(AffectedSnapshot.version.desc()).limit(1)
    snapshot = session.scalar(query)
    if snapshot is None:
        raise NotFound("scope version; compute the scope first")
    rows = list(session.scalars(select(AffectedSubject).where(AffectedSubject.snapshot_id == snapshot.id).order_by(AffectedSubject.subject_id)))
    intact = suites.named_hash_matches(snapshot.digest, _listed([[str(r.subject_id), r.jurisdiction, list(r.fields)] for r in rows]))
    audit.append(session=session, actor=actor, action=BreachAction.SCOPE_READ, resource=f"incident:{incident.id}/scope:{snapshot.version}", reason=f"subjects={len(rows)}")
    return snapshot, rows, intact


# --- steps -----------------------------------------------------------------------------------------------------------


def transition(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, to: str, note: str | None = None,
    review: Mapping[str, Any] | None = None, at: datetime | None = None, reason: str | None = None, now: datetime | None = None,
) -> Incident:
    """Moves the incident one step (service.transition: the state machine and its conditions); closing it also renders
    the report in both languages and keeps it as it was (GDPR Art. 33(5) documentation), in the same transaction."""
    now = now or utcnow()
    incident = service.transition(
        session=session, policy=policy, actor=actor, incident_id=incident_id, to=to, note=note, review=review, at=at, reason=reason, now=now,
    )
    if to == "closed":
        letters.freeze_report(session=session, policy=policy, actor=actor, incident=incident, now=now)
        session.flush()
    return incident


# --- containment --------------------------------------------------------------------------------------------------

CONTAINMENT_ACTIONS = ("disable_principal", "rotate_master_key", "other")


def _describe(data: Mapping[str, Any]) -> str:
    """A containment action govern executed or recorded, in words, for the register."""
    if data["action"] == "disable_principal":
        name = data.get("principal_name") or data.get("principal")
        return f"principal {name} disabled: its API key and console sessions stopped" + (" (simulated: drill)" if data.get("simulated") else "")
    if data.get("executed"):
        return f"master key rotated to version {data.get('key_version')}, {data.get('rewrapped')} data keys re-wrapped"
    return f"master key rotation pending: {data.get('pending', '')}"


def contain(
    *, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, action: str, principal: str | None = None, note: str | None = None,
    executed_elsewhere: dict | None = None, now: datetime | None = None,
) -> dict[str, Any]:
    """Records a containment action and, where it is govern's own, executes it: disabling a principal stops its API key
    (a principal's only key) and its console sessions at once. Rotating the master key runs from the command line
    (`govern breach contain … --rotate-master-key`), which records it here when done; through the API it is recorded
    as pending with that instruction."""
    now = now or utcnow()
    incident = service.get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident takes no more actions.")
    if action not in CONTAINMENT_ACTIONS:
        raise validation_failed({"action": [f"one of {', '.join(CONTAINMENT_ACTIONS)}"]})
    data: dict[str, Any] = {"action": action, "executed": False}
    if action == "disable_principal":
        if not principal:
            raise validation_failed({"principal": ["name the principal to disable"]})
        if incident.drill:
            data.update({"principal": principal, "simulated": True})
        else:
            disabled = identity.disable(session=session, actor=actor, ref=principal)
            data.update({"principal": str(disabled.id), "principal_name": disabled.name, "executed": True})
    elif action == "rotate_master_key":
        if executed_elsewhere:
            data.update({"executed": True, **executed_elsewhere})
        else:
            data["pending"] = "run `govern breach contain <incident> --rotate-master-key` (or `govern keys rotate`) on an operator host"
    elif not (note or "").strip():
        raise validation_failed({"note": ["say what was done"]})
    # The register keeps the remedy in words (GDPR Art. 33(5)): what staff wrote, or what govern itself did.
    data["description"] = (note or "").strip() or _describe(data)
    service.event(session=session, incident=incident, actor=actor, kind="containment", now=now, note=note, data=data)
    audit.append(session=session, actor=actor, action=BreachAction.CONTAIN, resource=f"incident:{incident.id}", reason=action)
    session.flush()
    return data
