"""What each of a subject's consents covers, as the person was told it: the notice version, the fields, record types
and ways of processing it announced, the terms of provision and the recipients the grant named (PIPL Art. 14 ¶2, 17,
23, 39). Read from the receipt issued for the grant, so the access package and the console show what the person
received, not what the purpose says today. `agreed` does not audit (the access package audits its own build);
`of_subject`, for staff looking at a subject, does."""

from __future__ import annotations

import json
import uuid
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ConsentAction
from govern.consent.models import ConsentEvent, ConsentReceipt
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.timeutil import as_utc


def agreed(*, session: Session, policy: Policy, subject_id: uuid.UUID, language: str) -> list[dict[str, Any]]:
    """Per purpose the subject ever granted: its latest grant's scope, with whether it stands (granted) or was
    withdrawn since; purposes in name order."""
    events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.seq)))
    status = {e.purpose: ("granted" if e.action == "grant" else "withdrawn") for e in events}
    grants = {e.purpose: e for e in events if e.action == "grant"}
    return [_scope_of(session, policy, grants[name], status[name], language) for name in sorted(grants)]


def of_subject(*, session: Session, policy: Policy, actor: Actor, subject_id: uuid.UUID, language: str) -> list[dict[str, Any]]:
    """`agreed`, for staff looking at the subject (the console's request page); audited as a read of the consent history."""
    out = agreed(session=session, policy=policy, subject_id=subject_id, language=language)
    audit.append(session=session, actor=actor, action=ConsentAction.HISTORY_READ, subject_id=subject_id, resource=f"subject:{subject_id}/consents/scope")
    return out


def _scope_of(session: Session, policy: Policy, grant: ConsentEvent, status: str, language: str) -> dict[str, Any]:
    receipt = session.get(ConsentReceipt, grant.receipt_id)
    told = json.loads(receipt.body).get("govern", {}) if receipt is not None else {}
    scope = (told.get("scope") or {}).get(grant.purpose) or grant.scope or _file_scope(policy, grant) or {}
    purpose = policy.purposes.get(grant.purpose)
    return {
        "purpose": grant.purpose,
        "label": (purpose.label.get(language) or grant.purpose) if purpose is not None else grant.purpose,
        "status": status,
        "notice_version": grant.notice_version,
        "notice_language": grant.notice_language,
        "given_at": as_utc(grant.occurred_at).isoformat(),
        "receipt_id": str(grant.receipt_id),
        "separate": grant.separate,
        "guardian": grant.guardian,
        "fields": list(scope.get("fields") or []),
        "record_types": list(scope.get("record_types") or []),
        "method": list(scope.get("method") or []),
        "provision": _in_language(scope.get("provision"), language),
        # As the receipt named them: identity, contact, country, what they receive (and rights, abroad).
        "recipients": list((told.get("recipients") or {}).get(grant.purpose) or []),
    }


def _file_scope(policy: Policy, grant: ConsentEvent) -> Mapping[str, Any] | None:
    """A grant recorded before scopes were copied onto consents: its version's scope as the notice file states it."""
    nset = policy.notices.for_purpose(grant.purpose) if policy.notices else None
    found = nset.get(grant.notice_version) if nset and grant.notice_version else None
    return found.scope if found is not None else None


def _in_language(provision: Mapping[str, Any] | None, language: str) -> dict[str, Any] | None:
    if not provision:
        return None
    out: dict[str, Any] = {"data": list(provision.get("data") or [])}
    for key in ("purpose", "method", "rights"):
        text = provision.get(key)
        if isinstance(text, Mapping):
            out[key] = text.get(language) or text.get("en")
    return out
