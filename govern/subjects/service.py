"""The rules for subjects: create with validated, encrypted fields; updates guarded by version; encrypted typed
records. The purpose-bound reads of them (a read, a look-up, a record list) are access's (govern/access/reads.py)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from govern import validators
from govern.audit import service as audit
from govern.audit.tags import SubjectAction
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.errors import Conflict, Forbidden, if_match_required, stale, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subjects.facts import data_key, get_or_raise, inactive
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import as_utc, utcnow

MAX_RECORD_PAYLOAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class SubjectHeader:
    """What a read returns about the subject itself: identifiers and lifecycle, no personal data."""

    id: uuid.UUID
    external_ref: str | None
    jurisdiction: str
    language: str
    status: str
    version: int
    member_state: str | None = None


@dataclass(frozen=True)
class RecordView:
    id: uuid.UUID
    type: str
    occurred_at: datetime
    created_at: datetime
    payload: Any


# --- validation -----------------------------------------------------------------------------------


def _clean_fields(policy: Policy, values: Mapping[str, Any], *, allow_null: bool) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Validates every field against the catalog; collects all errors (names and rules, never values)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, tuple[str, str]] = {}
    removed: list[str] = []
    for name, value in values.items():
        rule = policy.catalog.fields.get(name)
        if rule is None:
            errors[f"fields.{name}"] = ["unknown field: not in policies/catalog.yaml"]
            continue
        if value is None:
            if not allow_null:
                errors[f"fields.{name}"] = ["must not be null"]
            elif rule.required:
                errors[f"fields.{name}"] = ["required: cannot be removed"]
            else:
                removed.append(name)
            continue
        try:
            cleaned[name] = validators.clean(rule.validator, rule.validator_options, value)
        except validators.FieldInvalid as exc:
            errors[f"fields.{name}"] = [str(exc)]
    if errors:
        raise validation_failed(errors)
    return cleaned, removed


def _check_subject_attrs(policy: Policy, jurisdiction: str, language: str, member_state: str | None = None) -> None:
    errors: dict[str, list[str]] = {}
    if jurisdiction not in policy.jurisdictions:
        errors["jurisdiction"] = [f"must be one of {', '.join(sorted(policy.jurisdictions))} (policies/jurisdictions.yaml)"]
    elif member_state is not None:
        states = policy.ages[jurisdiction].by_member_state
        if not states:
            errors["member_state"] = [f"only a jurisdiction of member states takes one; {jurisdiction} does not"]
        elif member_state not in states:
            errors["member_state"] = [f"an ISO 3166-1 alpha-2 code of a member state: one of {', '.join(sorted(states))}"]
    if language not in ("zh", "en"):
        errors["language"] = ["must be zh or en"]
    if errors:
        raise validation_failed(errors)


# --- the basis of a collection ----------------------------------------------------------------------


class CollectionRule(Protocol):
    """A port: decides and records the lawful basis of the fields a write stores (govern/consent/collection.py), in the
    write's transaction, after they are stored, and audits it; raises to refuse (the transaction then leaves nothing
    written). Every write path hands one to create and update."""

    def __call__(
        self, *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject: Subject, written: list[str],
        held: frozenset[str], action: SubjectAction,
    ) -> None: ...


def _collect(
    collection: CollectionRule | None, *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject: Subject,
    written: list[str], held: frozenset[str], action: SubjectAction,
) -> None:
    if collection is None:
        # Fail closed: a write path that names no rule may not store a field the catalog marks sensitive.
        sensitive = sorted(n for n in written if policy.catalog.fields[n].sensitive)
        if sensitive:
            raise Forbidden(
                "sensitive_basis_missing", "No lawful basis to collect these fields",
                f"No basis for {', '.join(sensitive)}: this write path records no basis for sensitive fields.",
                extra={"reason": "sensitive_basis_missing", "fields": sensitive},
            )
        return
    collection(session=session, policy=policy, envelope=envelope, actor=actor, subject=subject, written=written, held=held, action=action)


# --- keys and sealing -----------------------------------------------------------------------------


def _store_fields(session: Session, envelope: Envelope, policy: Policy, subject_id: uuid.UUID, dek: bytes, cleaned: Mapping[str, tuple[str, str]]) -> None:
    now = utcnow()
    for name, (value, normal) in cleaned.items():
        blob = envelope.seal(dek, subject_id, f"field:{name}", value.encode())
        index = envelope.subject_blind_index(dek, name, normal) if policy.catalog.fields[name].searchable else None
        row = session.get(ProfileField, (subject_id, name))
        if row is None:
            session.add(ProfileField(subject_id=subject_id, name=name, ciphertext=blob, blind_index=index, collected_at=now, updated_at=now))
        else:
            row.ciphertext, row.blind_index, row.updated_at = blob, index, now


# --- subjects -------------------------------------------------------------------------------------


def _external_ref_exists() -> Conflict:
    return Conflict("external_ref_exists", "Subject exists", "A subject with this external_ref already exists.")


def create(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, jurisdiction: str, fields: Mapping[str, Any],
    external_ref: str | None = None, language: str = "zh", purpose: str | None = None, member_state: str | None = None,
    collection: CollectionRule | None = None,
) -> Subject:
    """Creates a subject with its fields sealed under a new data key; audited with field names only (and the basis
    each sensitive field was collected on: `collection`, without which no sensitive field is stored)."""
    _check_subject_attrs(policy, jurisdiction, language, member_state)
    cleaned, _ = _clean_fields(policy, fields, allow_null=False)
    missing = [n for n, r in policy.catalog.fields.items() if r.required and n not in cleaned]
    if missing:
        raise validation_failed({f"fields.{n}": ["required"] for n in missing})
    if purpose is not None and purpose not in policy.purposes:
        raise validation_failed({"purpose": ["unknown purpose"]})
    if external_ref is not None and (problem := validators.external_ref_problem(external_ref)):
        raise validation_failed({"external_ref": [problem]})
    if external_ref is not None and session.scalar(select(Subject.id).where(Subject.external_ref == external_ref)):
        raise _external_ref_exists()
    subject = Subject(
        id=uuid.uuid4(), external_ref=external_ref, jurisdiction=jurisdiction, language=language, created_by=actor.principal_id, member_state=member_state,
    )
    session.add(subject)
    try:
        session.flush()  # the subject row must exist before its key and fields reference it
    except IntegrityError:
        # A concurrent create with the same external_ref passed the check above too; the unique index decides.
        raise _external_ref_exists() from None
    dek, wrapped, version = envelope.new_data_key(subject.id)
    session.add(SubjectKey(subject_id=subject.id, wrapped_key=wrapped, master_key_version=version))
    _store_fields(session, envelope, policy, subject.id, dek, cleaned)
    audit.append(session=session, actor=actor, action=SubjectAction.CREATE, subject_id=subject.id, field_names=cleaned, purpose=purpose, resource=f"subject:{subject.id}")
    _collect(
        collection, session=session, policy=policy, envelope=envelope, actor=actor, subject=subject, written=list(cleaned), held=frozenset(),
        action=SubjectAction.CREATE,
    )
    return subject


def update(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, expected_version: int | None,
    fields: Mapping[str, Any], purpose: str | None = None, collection: CollectionRule | None = None, member_state: str | None = None,
) -> Subject:
    """Changes fields (null removes an optional one) if the caller holds the current version; audited. A sensitive
    field is stored only on a basis `collection` finds in force now (see `create`). `member_state` sets an EU subject's
    member state (GDPR Art. 8(1): its age of digital consent follows it)."""
    subject = get_or_raise(session=session, subject_id=subject_id, for_update=True)
    if expected_version is None:
        raise if_match_required()
    if subject.version != expected_version:
        raise stale("subject", headers={"ETag": etag(subject)})
    if subject.status not in ("active", "restricted"):
        raise inactive(subject)
    cleaned, removed = _clean_fields(policy, fields, allow_null=True)
    if member_state is not None:
        _check_subject_attrs(policy, subject.jurisdiction, subject.language, member_state)
        subject.member_state = member_state
    if not cleaned and not removed and member_state is None:
        raise validation_failed({"fields": ["name at least one field to change"]})
    held = frozenset(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == subject.id)))
    if cleaned:
        _store_fields(session, envelope, policy, subject.id, data_key(session=session, envelope=envelope, subject_id=subject.id), cleaned)
    for name in removed:
        row = session.get(ProfileField, (subject.id, name))
        if row is not None:
            session.delete(row)
    subject.updated_at = utcnow()  # bumps the version: the ETag changes with any field
    try:
        session.flush()  # the versioned UPDATE runs here, so a concurrent writer loses with 412, not later
    except StaleDataError:
        raise stale("subject") from None
    changed = [*cleaned, *removed, *(["member_state"] if member_state is not None else [])]
    audit.append(session=session, actor=actor, action=SubjectAction.UPDATE, subject_id=subject.id, field_names=changed, purpose=purpose, resource=f"subject:{subject.id}")
    if cleaned:
        _collect(
            collection, session=session, policy=policy, envelope=envelope, actor=actor, subject=subject, written=list(cleaned), held=held,
            action=SubjectAction.UPDATE,
        )
    return subject


def etag(subject: Subject | SubjectHeader) -> str:
    return f'"{subject.id.hex[:8]}-{subject.version}"'


def parse_if_match(header: str | None, subject_id: uuid.UUID) -> int | None:
    """The version named by an If-Match header, or None when absent; a foreign or malformed tag matches nothing."""
    if not header:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    prefix, _, version = tag.partition("-")
    if prefix != subject_id.hex[:8] or not version.isdigit():
        return -1
    return int(version)


# --- records --------------------------------------------------------------------------------------


def add_record(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, type: str,
    occurred_at: datetime, payload: Any, purpose: str | None = None,
) -> Record:
    """Stores a typed record, its payload sealed under the subject's data key and bound to the record's id."""
    subject = get_or_raise(session=session, subject_id=subject_id)
    errors: dict[str, list[str]] = {}
    if type not in policy.catalog.record_types:
        errors["type"] = [f"must be one of {', '.join(sorted(policy.catalog.record_types))} (policies/catalog.yaml)"]
    if occurred_at.tzinfo is None:
        errors["occurred_at"] = ["must carry a time zone offset"]
    elif as_utc(occurred_at) > utcnow():
        errors["occurred_at"] = ["must not be in the future"]
    encoded = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if not isinstance(payload, dict):
        errors["payload"] = ["must be a JSON object"]
    elif len(encoded) > MAX_RECORD_PAYLOAD_BYTES:
        errors["payload"] = [f"at most {MAX_RECORD_PAYLOAD_BYTES} bytes"]
    if errors:
        raise validation_failed(errors)
    if subject.status not in ("active", "restricted"):
        raise inactive(subject)
    record = Record(id=uuid.uuid4(), subject_id=subject.id, type=type, occurred_at=as_utc(occurred_at), created_by=actor.principal_id, created_at=utcnow())
    record.ciphertext = envelope.seal(data_key(session=session, envelope=envelope, subject_id=subject.id), subject.id, f"record:{record.id}", encoded)
    session.add(record)
    audit.append(session=session, actor=actor, action=SubjectAction.RECORD_CREATE, subject_id=subject.id, field_names=[f"record:{type}"], purpose=purpose, resource=f"record:{record.id}")
    return record


def count_subjects(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Subject)) or 0
