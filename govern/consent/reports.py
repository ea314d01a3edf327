"""Consent figures for the console (per purpose and notice version) and the CSV export of current preferences, so
that opt-outs reach channels that never call govern (call centre lists, printed mailings)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.consent.models import ConsentState
from govern.consent.notices import needs_notice
from govern.consent.service import ConsentAction, _stale
from govern.errors import validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow

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
        key = "withdrawn" if status == "withdrawn" else "pending_reconsent" if version in _stale(policy, name, now) else "granted"
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
    stale = {name: _stale(policy, name, now) for name in policy.purposes}

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
