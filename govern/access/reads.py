"""The purpose-bound reads: a subject's fields, a look-up by blind index, a subject's records. Each asks the read rule
(govern/access/service.py) before anything is decrypted, shows only what the grant lets this role see, and is audited
before its values leave. Subjects hands over the rows (govern/subjects/facts.py); the rule lives here."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from govern import validators
from govern.access.service import authorise_purpose, authorise_read, refuse, subject_refusal
from govern.audit import service as audit
from govern.audit.tags import SubjectAction
from govern.crypto.envelope import Envelope
from govern.errors import NotFound, SubjectErased, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.refusals import Refusal
from govern.subjects import facts as subjects
from govern.subjects import masking
from govern.subjects.service import RecordView, SubjectHeader
from govern.timeutil import as_utc, parse_instant

# The reason of a refused look-up whose matches were refused for different reasons (one shared reason is given as is).
LOOKUP_MATCHES_REFUSED = "matches_refused"
# A look-up names at most this many subjects holding the value.
LOOKUP_MAX_MATCHES = 50


@dataclass(frozen=True)
class SubjectView:
    subject: SubjectHeader
    fields: dict[str, str]
    purpose: str


@dataclass(frozen=True)
class RecordPage:
    records: list[RecordView]
    next_cursor: str | None


def read(*, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, purpose: str | None) -> SubjectView:
    """The fields this purpose may use and this role may see, decrypted and masked per role; audited."""
    # Nothing is decrypted before the read is authorised, and then only the fields the grant shows; if it is refused,
    # the rows are dropped.
    found = subjects.read_rows(session=session, subject_id=subject_id)
    if not found or found[0].status == "erased":
        subjects.get_or_raise(session=session, subject_id=subject_id)  # 404, or 410 for an erased subject (rows not yet swept)
    first = found[0]
    subject = SubjectHeader(first.id, first.external_ref, first.jurisdiction, first.language, first.status, first.version, first.member_state)
    grant = authorise_read(
        policy=policy, actor=actor, purpose_name=purpose, action=SubjectAction.READ, subject_id=subject.id,
        jurisdiction=subject.jurisdiction, subject_status=subject.status, session=session, envelope=envelope,
    )
    wrapped = first.wrapped_key
    rows = [(row.name, row.ciphertext) for row in found if row.name in grant.visibility]
    values: dict[str, str] = {}
    if rows:
        if wrapped is None:
            raise SubjectErased()
        open_value = envelope.opener(envelope.unwrap(subject.id, wrapped), subject.id)  # one cipher and one AAD prefix per read
        catalog, visibility = policy.catalog.fields, grant.visibility
        for name, ciphertext in rows:
            plain = open_value(f"field:{name}", ciphertext).decode()
            values[name] = plain if visibility[name] == "full" else masking.mask(catalog[name].masking, plain)
    # Written before the values leave this function: if the log cannot take it, no data is returned.
    audit.append(session=session, actor=actor, action=SubjectAction.READ, subject_id=subject.id, field_names=values, purpose=grant.purpose.name, resource=f"subject:{subject.id}")
    return SubjectView(subject=subject, fields=dict(sorted(values.items())), purpose=grant.purpose.name)


def lookup(*, session: Session, policy: Policy, envelope: Envelope, actor: Actor, field: str, value: Any, purpose: str | None) -> list[uuid.UUID]:
    """Subjects whose `field` equals `value`, found by blind index, that the purpose may be used for now (the rule of a
    read); the purpose must be allowed to use the field."""
    rule = policy.catalog.fields.get(field)
    if rule is None or not rule.searchable:
        searchable = ", ".join(policy.catalog.searchable_fields)
        raise validation_failed({"field": [f"must be a searchable field: {searchable}"]})
    try:
        _, normal = validators.clean(rule.validator, rule.validator_options, value)
    except validators.FieldInvalid as exc:
        raise validation_failed({"value": [str(exc)]}) from None
    chosen = authorise_purpose(policy=policy, actor=actor, purpose_name=purpose, action=SubjectAction.LOOKUP)
    if field not in chosen.fields:
        raise refuse(
            "field_not_in_purpose", f"'{purpose}' may not use {field}.",
            Refusal(action=SubjectAction.LOOKUP, reason="field_not_in_purpose", purpose=purpose, field_names=(field,)),
        )
    matches = subjects.holders(session=session, field=field, blind_indexes=envelope.blind_indexes(field, normal), limit=LOOKUP_MAX_MATCHES)
    if not matches:
        # A miss still tells the caller something (that nobody holds this value): it is logged, as a 404.
        raise NotFound(
            detail="No subject has this value.",
            audit=Refusal(action=SubjectAction.LOOKUP, reason="no_match", purpose=chosen.name, field_names=(field,), outcome="allowed"),
        )
    # Each match obeys the rule of a read of it for this purpose (restriction, consent, objection, opt-out): an id the
    # purpose may not use is not handed out. A contract purpose on an active subject is decided without a query.
    ids: list[uuid.UUID] = []
    refusals: dict[str, str] = {}  # reason -> detail
    for sid, jurisdiction, status in matches:
        why = subject_refusal(
            policy=policy, purpose=chosen, subject_id=sid, jurisdiction=jurisdiction, subject_status=status, session=session, envelope=envelope,
        )
        if why is None:
            ids.append(sid)
        else:
            refusals.setdefault(why[0], why[1])  # the first detail of each reason
    if not ids:
        reason, detail = next(iter(refusals.items())) if len(refusals) == 1 else (
            LOOKUP_MATCHES_REFUSED, f"No subject holding this value may be used for '{chosen.name}' now ({', '.join(sorted(refusals))}).",
        )
        raise refuse(reason, detail, Refusal(action=SubjectAction.LOOKUP, reason=reason, purpose=chosen.name, field_names=(field,)))
    for sid in ids:
        audit.append(session=session, actor=actor, action=SubjectAction.LOOKUP, subject_id=sid, field_names=[field], purpose=chosen.name)
    return ids


def _encode_cursor(occurred_at: datetime, record_id: uuid.UUID) -> str:
    raw = json.dumps([as_utc(occurred_at).isoformat(), str(record_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, rid = json.loads(raw)
        return parse_instant(when), uuid.UUID(rid)
    except (ValueError, TypeError):
        raise validation_failed({"cursor": ["not a cursor this service issued"]}) from None


def list_records(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, purpose: str | None,
    type: str | None = None, cursor: str | None = None, limit: int = 50,
) -> RecordPage:
    """Newest first, the record types this purpose may use; cursor-paginated; audited with the types returned."""
    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    if type is not None and type not in policy.catalog.record_types:
        raise validation_failed({"type": [f"must be one of {', '.join(sorted(policy.catalog.record_types))}"]})
    after = _decode_cursor(cursor) if cursor else None
    grant = authorise_read(
        policy=policy, actor=actor, purpose_name=purpose, action=SubjectAction.RECORD_READ, subject_id=subject.id,
        jurisdiction=subject.jurisdiction, subject_status=subject.status, session=session, envelope=envelope,
    )
    types = grant.record_types if type is None else grant.record_types & {type}
    if type is not None and type in grant.not_covered_record_types:
        raise refuse(
            "not_covered_by_consent", f"The subject's consent to '{grant.purpose.name}' was given under a notice that did not announce "
            f"{type} records: the subject must consent again under the current notice (PIPL Art. 14 ¶2).",
            Refusal(action=SubjectAction.RECORD_READ, reason="not_covered_by_consent", subject_id=subject.id, purpose=grant.purpose.name, field_names=(f"record:{type}",)),
        )
    if type is not None and not types:
        raise refuse(
            "record_type_not_in_purpose", f"'{grant.purpose.name}' may not use {type} records.",
            Refusal(action=SubjectAction.RECORD_READ, reason="record_type_not_in_purpose", subject_id=subject.id, purpose=grant.purpose.name, field_names=(f"record:{type}",)),
        )
    rows = subjects.records_newest_first(session=session, subject_id=subject.id, types=types, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    views: list[RecordView] = []
    if page:
        dek = subjects.data_key(session=session, envelope=envelope, subject_id=subject.id)
        for row in page:
            payload = json.loads(envelope.open(dek, subject.id, f"record:{row.id}", row.ciphertext))
            views.append(RecordView(row.id, row.type, as_utc(row.occurred_at), as_utc(row.created_at), payload))
    audit.append(
        session=session, actor=actor, action=SubjectAction.RECORD_READ, subject_id=subject.id,
        field_names=sorted({f"record:{v.type}" for v in views}), purpose=grant.purpose.name, resource=f"subject:{subject.id}/records",
    )
    return RecordPage(views, _encode_cursor(page[-1].occurred_at, page[-1].id) if more else None)
