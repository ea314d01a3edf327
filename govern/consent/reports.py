"""Consent figures for the console (per purpose and notice version; grants and withdrawals per week for its charts)
and the CSV export of current preferences, so that opt-outs reach channels that never call govern (call centre
lists, printed mailings)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern import figures as over_time
from govern.audit import service as audit
from govern.audit.review_queries import allowed_reads_between
from govern.audit.tags import ConsentAction, SubjectAction
from govern.consent.models import ConsentEvent, ConsentState
from govern.consent.notices import needs_notice
from govern.consent.service import stale_versions
from govern.errors import validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow

# The reads a consent covers or not: a profile read, a record read and a lookup each name their purpose.
READ_ACTIONS = (SubjectAction.READ.value, SubjectAction.RECORD_READ.value, SubjectAction.LOOKUP.value)
EXPORT_COLUMNS = ("subject_id", "purpose", "preference", "notice_version", "method", "updated_at")


def figures(*, session: Session, policy: Policy, actor: Actor, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per purpose: subjects whose grant counts, who withdrew, and whose grant awaits re-consent; split by notice version."""
    now = now or utcnow()
    rows = session.execute(
        select(ConsentState.purpose, ConsentState.notice_version, ConsentState.status, func.count())
        .where(ConsentState.status != "none")
        .group_by(ConsentState.purpose, ConsentState.notice_version, ConsentState.status)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for name, purpose in sorted(policy.purposes.items()):
        if needs_notice(purpose, policy.jurisdictions):
            nset = policy.notices.for_purpose(name)
            current = nset.current(now) if nset else None
            out[name] = {
                "purpose": name, "label": dict(purpose.label), "current_version": current.version if current else None,
                "granted": 0, "withdrawn": 0, "pending_reconsent": 0, "versions": {},
            }
    for name, version, status, count in rows:
        entry = out.setdefault(name, {"purpose": name, "label": {}, "current_version": None, "granted": 0, "withdrawn": 0, "pending_reconsent": 0, "versions": {}})
        key = "withdrawn" if status == "withdrawn" else "pending_reconsent" if version in stale_versions(policy, name, now) else "granted"
        entry[key] += count
        per = entry["versions"].setdefault(version or "-", {"version": version, "granted": 0, "withdrawn": 0, "pending_reconsent": 0})
        per[key] += count
    audit.append(session=session, actor=actor, action=ConsentAction.FIGURES, resource="consent-figures")
    return [{**e, "versions": [e["versions"][k] for k in sorted(e["versions"])]} for e in out.values()]


def preferences(*, session: Session, policy: Policy, actor: Actor, purpose: str | None = None, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every subject's current preference per purpose (granted, withdrawn, reconsent_required), by subject id."""
    if purpose is not None and purpose not in policy.purposes:
        raise validation_failed({"purpose": ["unknown purpose (policies/purposes.yaml)"]})
    now = now or utcnow()
    query = select(ConsentState).where(ConsentState.status != "none")
    if purpose is not None:
        query = query.where(ConsentState.purpose == purpose)
    audit.append(session=session, actor=actor, action=ConsentAction.EXPORT, purpose=purpose, resource=f"consent-preferences:{purpose or 'all'}")
    stale = {name: stale_versions(policy, name, now) for name in policy.purposes}

    def rows() -> Iterator[dict[str, Any]]:
        for s in session.execute(query.order_by(ConsentState.purpose, ConsentState.subject_id).execution_options(yield_per=1000)).scalars():
            preference = "withdrawn" if s.status == "withdrawn" else "reconsent_required" if s.notice_version in stale.get(s.purpose, ()) else "granted"
            yield {
                "subject_id": str(s.subject_id), "purpose": s.purpose, "preference": preference, "notice_version": s.notice_version or "",
                "method": s.method or "", "updated_at": as_utc(s.updated_at).isoformat(),
            }

    return rows()


def to_csv(rows: Iterator[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def reads_after_withdrawal(*, session: Session, subject_id: uuid.UUID) -> list[dict[str, Any]]:
    """Per withdrawal of the subject: the allowed reads for its purpose from when it really took effect (occurred_at)
    until the next grant. A withdrawal entered when it arrives leaves none (later reads are refused); one received by
    letter and entered late counts the reads in between as not covered by consent. Read from the audit log, which is
    never rewritten: the back-dated withdrawal changes the report, not the history."""
    events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.seq)))
    out = []
    for i, e in enumerate(events):
        if e.action != "withdraw":
            continue
        later_grant = next((g for g in events[i + 1:] if g.purpose == e.purpose and g.action == "grant"), None)
        until = as_utc(later_grant.occurred_at) if later_grant is not None else None
        count, last = allowed_reads_between(
            session=session, subject_id=subject_id, purpose=e.purpose, actions=READ_ACTIONS, start=as_utc(e.occurred_at), end=until,
        )
        out.append({
            "purpose": e.purpose, "withdrawn_at": as_utc(e.occurred_at), "recorded_at": as_utc(e.recorded_at), "until": until,
            "reads": count, "last_read_at": as_utc(last) if last is not None else None,
        })
    return out


def trend(*, session: Session, since: date, until: date, zone: tzinfo = timezone.utc) -> dict[str, dict[date, dict[str, int]]]:
    """Grants and withdrawals per purpose per week (Monday first, days in `zone`: the console passes the policy's time
    zone) in [since, until], as the events were given (occurred_at): counts only, for the console's charts (issue 19 item 5)."""
    start, end = over_time.span(since, until, zone)
    day = over_time.local_day(session, ConsentEvent.occurred_at, zone, start=start, end=end)
    out: dict[str, dict[date, dict[str, int]]] = {}
    rows = session.execute(
        select(ConsentEvent.purpose, day, ConsentEvent.action, func.count())
        .where(ConsentEvent.occurred_at >= start, ConsentEvent.occurred_at < end).group_by(ConsentEvent.purpose, day, ConsentEvent.action)
    )
    for purpose, on, action, n in rows:
        weeks = out.setdefault(purpose, {w: {"grant": 0, "withdraw": 0} for w in over_time.weeks(since, until)})
        weeks[over_time.week_of(over_time.as_day(on))][action] = weeks[over_time.week_of(over_time.as_day(on))].get(action, 0) + n
    return dict(sorted(out.items()))
