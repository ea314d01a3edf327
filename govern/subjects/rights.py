"""What data-subject requests (govern/subject_requests) and the duties that answer for a subject's whole data (breach
notices, retention, de-identified exports) do to a subject: status changes (restriction, account closure), the full
decrypted export, an inventory without values, and partial erasure by crypto-shredding."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import SubjectAction
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.errors import SubjectErased, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subjects import erasure
from govern.subjects.facts import data_key, get_or_raise
from govern.subjects.models import ProfileField, Record, Subject
from govern.subjects.service import RecordView
from govern.timeutil import as_utc, utcnow

STATUSES = ("active", "restricted", "closed")


def set_status(
    *, session: Session, actor: Actor, subject_id: uuid.UUID, status: str, reason: str, reference: str | None = None,
    close_account: bool = False,
) -> Subject:
    """Restricts, lifts a restriction or closes an account (recording closed_at); audited. Idempotent."""
    if status not in STATUSES:
        raise validation_failed({"status": [f"one of {', '.join(STATUSES)}"]})
    subject = get_or_raise(session=session, subject_id=subject_id, for_update=True)
    now = utcnow()
    changed = subject.status != status or (close_account and subject.closed_at is None)
    if close_account and subject.closed_at is None:
        subject.closed_at = now
    if changed:
        subject.status = status
        subject.updated_at = now
        session.flush()
        audit.append(session=session, actor=actor, action=SubjectAction.STATUS, subject_id=subject.id, reason=reason, resource=reference or f"subject:{subject.id}")
    return subject


@dataclass(frozen=True)
class FieldExport:
    name: str
    value: str
    collected_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SubjectExport:
    subject: Subject
    fields: list[FieldExport]
    records: list[RecordView]


def export_all(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, purpose: str = "legal_compliance",
    reference: str | None = None, field_names: list[str] | None = None, record_types: list[str] | None = None,
) -> SubjectExport:
    """Every field and record of the subject, decrypted and unmasked, for a verified access or portability request.

    The caller (govern/subject_requests) has checked the request and the requester's identity; this read is audited here as a
    read for `purpose` (legal_compliance: answering the request is a legal obligation) with the names of what left.
    """
    subject = get_or_raise(session=session, subject_id=subject_id)
    if purpose not in policy.purposes:
        raise validation_failed({"purpose": ["unknown purpose"]})
    query = select(ProfileField).where(ProfileField.subject_id == subject.id)
    if field_names is not None:
        query = query.where(ProfileField.name.in_(field_names))
    rows = session.scalars(query.order_by(ProfileField.name)).all()
    rquery = select(Record).where(Record.subject_id == subject.id)
    if record_types is not None:
        rquery = rquery.where(Record.type.in_(record_types))
    record_rows = session.scalars(rquery.order_by(Record.occurred_at, Record.id)).all()
    fields_out: list[FieldExport] = []
    records_out: list[RecordView] = []
    if rows or record_rows:
        dek = data_key(session=session, envelope=envelope, subject_id=subject.id)
        for row in rows:
            value = envelope.open(dek, subject.id, f"field:{row.name}", row.ciphertext).decode()
            fields_out.append(FieldExport(row.name, value, as_utc(row.collected_at), as_utc(row.updated_at)))
        for r in record_rows:
            payload = json.loads(envelope.open(dek, subject.id, f"record:{r.id}", r.ciphertext))
            records_out.append(RecordView(r.id, r.type, as_utc(r.occurred_at), as_utc(r.created_at), payload))
    audit.append(
        session=session, actor=actor, action=SubjectAction.EXPORT, subject_id=subject.id,
        field_names=[f.name for f in fields_out] + sorted({f"record:{r.type}" for r in records_out}), purpose=purpose,
        resource=reference or f"subject:{subject.id}",
    )
    return SubjectExport(subject=subject, fields=fields_out, records=records_out)


@dataclass(frozen=True)
class Inventory:
    """What a subject holds, without any value: field names with collection times, records with type and times."""

    fields: list[tuple[str, datetime]]
    records: list[tuple[uuid.UUID, str, datetime, datetime]]  # id, type, occurred_at, created_at


def inventory(*, session: Session, subject_id: uuid.UUID) -> Inventory:
    subject = get_or_raise(session=session, subject_id=subject_id)
    fields_ = [(n, as_utc(c)) for n, c in session.execute(select(ProfileField.name, ProfileField.collected_at).where(ProfileField.subject_id == subject.id))]
    records_ = [
        (rid, rtype, as_utc(occ), as_utc(created))
        for rid, rtype, occ, created in session.execute(
            select(Record.id, Record.type, Record.occurred_at, Record.created_at).where(Record.subject_id == subject.id)
        )
    ]
    return Inventory(fields=fields_, records=records_)


@dataclass(frozen=True)
class PartialErasure:
    fields_erased: list[str]
    records_erased: int
    record_types_erased: list[str]
    fields_kept: list[str]
    records_kept: int


def erase_except(
    *, session: Session, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, keep_fields: set[str], keep_record_ids: set[uuid.UUID],
    erase_fields: set[str] | None = None, erase_record_types: set[str] | None = None, reason: str, reference: str | None = None,
    batch_size: int = 1000, created_before: datetime | None = None,
) -> PartialErasure:
    """Crypto-shreds everything of the subject except what must be kept (PIPL Art. 47 ¶2, GDPR Art. 17(3)).

    The kept values are sealed again under a new data key and the old key is destroyed first, so everything not
    kept is unreadable at once, in every copy; the rows are then deleted in batches. Kept fields lose their blind
    index (a guessed e-mail or phone can no longer be confirmed). `erase_fields`/`erase_record_types` narrow an
    erasure the subject limited to some data (None: everything). `created_before` (a re-application after a restore)
    leaves alone what was collected after the erasure."""
    subject = get_or_raise(session=session, subject_id=subject_id)
    key = session.get(SubjectKey, subject.id)
    if key is None:
        raise SubjectErased()
    inv = inventory(session=session, subject_id=subject.id)
    cutoff = as_utc(created_before) if created_before is not None else None
    in_scope_fields = {n for n, c in inv.fields if (erase_fields is None or n in erase_fields) and (cutoff is None or c <= cutoff)}
    drop_fields = sorted(in_scope_fields - keep_fields)
    drop_records = [
        rid for rid, rtype, _, created in inv.records
        if rid not in keep_record_ids and (erase_record_types is None or rtype in erase_record_types) and (cutoff is None or created <= cutoff)
    ]
    drop_set = set(drop_records)
    dropped_field_set = set(drop_fields)
    old_dek = envelope.unwrap(subject.id, key.wrapped_key)
    new_dek, wrapped, version = envelope.new_data_key(subject.id)
    # Everything that survives (kept, or outside the erasure's scope) moves to the new key; the rest stays under the
    # old one, which is destroyed below.
    for row in session.scalars(select(ProfileField).where(ProfileField.subject_id == subject.id)):
        if row.name in dropped_field_set:
            continue
        plain = envelope.open(old_dek, subject.id, f"field:{row.name}", row.ciphertext)
        row.ciphertext = envelope.seal(new_dek, subject.id, f"field:{row.name}", plain)
        if row.name in keep_fields:
            row.blind_index = None
    for rid, _, _, _ in inv.records:
        if rid in drop_set:
            continue
        row = session.get(Record, rid)
        plain = envelope.open(old_dek, subject.id, f"record:{rid}", row.ciphertext)
        row.ciphertext = envelope.seal(new_dek, subject.id, f"record:{rid}", plain)
    envelope.cache.forget(key.wrapped_key)
    key.wrapped_key, key.master_key_version, key.rewrapped_at = wrapped, version, utcnow()
    session.flush()  # the old key is gone from here on: what was not re-sealed is unreadable
    audit.append(session=session, actor=actor, action=SubjectAction.REKEY, subject_id=subject.id, reason=reason, resource=reference)
    erased_names = erasure.erase_fields(session=session, actor=actor, subject_id=subject.id, names=drop_fields, reason=reason, reference=reference)
    erased = 0
    for start in range(0, len(drop_records), batch_size):
        erased += erasure.erase_records(
            session=session, actor=actor, subject_id=subject.id, record_ids=drop_records[start:start + batch_size], reason=reason, reference=reference,
        )
    kept_records = sum(1 for rid, *_ in inv.records if rid in keep_record_ids)
    return PartialErasure(
        fields_erased=erased_names, records_erased=erased,
        record_types_erased=sorted({rtype for rid, rtype, _, _ in inv.records if rid in drop_set}),
        fields_kept=sorted(keep_fields & {n for n, _ in inv.fields}), records_kept=kept_records,
    )


# --- for de-identified exports and aggregates (govern/deidentified): ids, attributes and record times, no values ------


def live_subject_ids(*, session: Session, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """The next `limit` subjects not erased, in id order after `after` (a keyset page)."""
    query = select(Subject.id).where(Subject.status != "erased").order_by(Subject.id).limit(limit)
    if after is not None:
        query = query.where(Subject.id > after)
    return list(session.scalars(query))


def attributes(*, session: Session, subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str]]:
    """Jurisdiction and language of each subject (plain columns, never personal values)."""
    rows = session.execute(select(Subject.id, Subject.jurisdiction, Subject.language).where(Subject.id.in_(subject_ids)))
    return {sid: (jurisdiction, language) for sid, jurisdiction, language in rows}


def record_times(*, session: Session, subject_ids: list[uuid.UUID], record_types: list[str]) -> list[tuple[uuid.UUID, str, datetime]]:
    """(subject, record type, occurred at, UTC) of the subjects' records of those types: no payload."""
    rows = session.execute(select(Record.subject_id, Record.type, Record.occurred_at).where(Record.subject_id.in_(subject_ids), Record.type.in_(record_types)))
    return [(sid, rtype, as_utc(occurred)) for sid, rtype, occurred in rows]
