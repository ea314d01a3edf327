"""Facts about subjects for other domains, without an audited read: standings, dates of birth, values for a disclosure,
sealing under a subject's key, and the rows the purpose-bound reads are decided on (govern/access/reads.py). These
decrypt inside govern only; the caller audits what it does with them (an age check for a consent decision returns
nothing to anyone; a disclosure is audited by sharing, a read by access). Below the read rule (govern/access):
consent and access ask these, and nothing here asks access."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple, Sequence

from sqlalchemy import Row, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.db import HotStatement
from govern.errors import Conflict, SubjectErased, not_found
from govern.identifiers import id_batches, id_text, stored_id_text
from govern.subjects.erasure import is_erased
from govern.subjects.models import ProfileField, Record, Subject


def get_or_raise(*, session: Session, subject_id: uuid.UUID, for_update: bool = False) -> Subject:
    # for_update, PostgreSQL: a change to the subject's row waits for another one in progress and then reads the row
    # as it stands (populate_existing), instead of failing on its version; SQLite serialises writers anyway.
    subject = session.get(Subject, subject_id, with_for_update=True if for_update else None, populate_existing=for_update)
    if subject is None or subject.status == "erased":  # erased: shredded, its records not yet swept (subjects/erasure.py)
        if subject is not None or is_erased(session=session, subject_id=subject_id):
            raise SubjectErased()
        raise not_found("subject")
    return subject


def inactive(subject: Subject) -> Conflict:
    """409: the subject is closed or otherwise not active: nothing new is written about it."""
    return Conflict("subject_inactive", "Subject inactive", f"The subject is {subject.status}.")


def data_key(*, session: Session, envelope: Envelope, subject_id: uuid.UUID) -> bytes:
    """The subject's data key, unwrapped, to seal or open its fields and records; 410 once it is crypto-shredded."""
    row = session.get(SubjectKey, subject_id)
    if row is None:
        # The key is gone: the subject was crypto-shredded and nothing of it can be read again.
        raise SubjectErased()
    return envelope.unwrap(subject_id, row.wrapped_key)


@dataclass(frozen=True)
class SubjectFacts:
    jurisdiction: str
    status: str
    birth_date: date | None = None
    member_state: str | None = None  # an EU subject's member state: its age of digital consent follows it


class SubjectStanding(NamedTuple):
    """What a bulk decision needs of a subject, without decrypting anything (a tuple: built ten thousand at a time)."""

    jurisdiction: str
    status: str
    birth_date_fingerprint: bytes | None  # None: no date of birth is stored
    member_state: str | None = None  # an EU subject's member state: the age of digital consent follows it (GDPR Art. 8(1))


def birth_date_fingerprint(ciphertext: bytes) -> bytes:
    """Names one stored version of a subject's date of birth, not the date: every write seals it with a fresh nonce,
    so a rectified date has another fingerprint, and the fingerprint reveals nothing of the value. (The database
    computes the same SHA-256 in `standings`: PostgreSQL's own sha256(), the one govern.db registers in SQLite.)"""
    return hashlib.sha256(ciphertext).digest()


def standings(*, session: Session, subject_ids: Sequence[uuid.UUID | str]) -> dict[str, SubjectStanding]:
    """Jurisdiction, status and date-of-birth fingerprint of the subjects that exist, keyed by canonical id text:
    one query for ten thousand ids on PostgreSQL, no decryption."""
    query = select(
        id_text(session, Subject.id), Subject.jurisdiction, Subject.status, func.sha256(ProfileField.ciphertext), Subject.member_state,
    ).outerjoin(ProfileField, and_(ProfileField.subject_id == Subject.id, ProfileField.name == "birth_date"))
    out: dict[str, SubjectStanding] = {}
    for clause in id_batches(session, Subject.id, subject_ids):
        for sid, jurisdiction, status, fingerprint, member_state in session.execute(query.where(clause)).all():
            out[stored_id_text(sid)] = SubjectStanding(jurisdiction, status, fingerprint, member_state)
    return out


def facts(
    *, session: Session, subject_ids: list[uuid.UUID], envelope: Envelope | None = None, birth_dates_for: set[uuid.UUID] | None = None,
) -> dict[uuid.UUID, SubjectFacts]:
    """Jurisdiction and status of the subjects that exist (for up to tens of thousands of ids, in one query on
    PostgreSQL), with the date of birth decrypted for the ids in `birth_dates_for`."""
    out = {sid: SubjectFacts(jurisdiction, status, None, state) for sid, jurisdiction, status, state in _headers(session, subject_ids)}
    if birth_dates_for and envelope is not None:
        for sid, born in birth_dates(session=session, envelope=envelope, subject_ids=[s for s in birth_dates_for if s in out]).items():
            out[sid] = SubjectFacts(out[sid].jurisdiction, out[sid].status, born, out[sid].member_state)
    return out


def _headers(session: Session, subject_ids: list[uuid.UUID]):
    for clause in id_batches(session, Subject.id, subject_ids):
        yield from session.execute(select(Subject.id, Subject.jurisdiction, Subject.status, Subject.member_state).where(clause))


def member_state(*, session: Session, subject_id: uuid.UUID) -> str | None:
    """An EU subject's member state (None when not known, or outside the EU)."""
    return session.scalar(select(Subject.member_state).where(Subject.id == subject_id))


def birth_dates(*, session: Session, envelope: Envelope, subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, date]:
    """subject id -> date of birth (the encrypted `birth_date` field), for the subjects that have one."""
    out: dict[uuid.UUID, date] = {}
    for clause in id_batches(session, ProfileField.subject_id, subject_ids):
        rows = session.execute(
            select(ProfileField.subject_id, ProfileField.ciphertext, SubjectKey.wrapped_key)
            .join(SubjectKey, SubjectKey.subject_id == ProfileField.subject_id)
            .where(ProfileField.name == "birth_date", clause)
        )
        for sid, blob, wrapped in rows:
            dek = envelope.unwrap(sid, wrapped)
            out[sid] = date.fromisoformat(envelope.open(dek, sid, "field:birth_date", blob).decode())
    return out


def birth_date(*, session: Session, envelope: Envelope, subject_id: uuid.UUID) -> date | None:
    """The subject's date of birth, or None when it is not known."""
    return birth_dates(session=session, envelope=envelope, subject_ids=[subject_id]).get(subject_id)


def birth_date_with_fingerprint(*, session: Session, envelope: Envelope, subject_id: uuid.UUID) -> tuple[date | None, bytes | None]:
    """The subject's date of birth and the fingerprint of its stored version, or (None, None) when it is not known."""
    row = session.execute(
        select(ProfileField.ciphertext, SubjectKey.wrapped_key).join(SubjectKey, SubjectKey.subject_id == ProfileField.subject_id)
        .where(ProfileField.subject_id == subject_id, ProfileField.name == "birth_date")
    ).first()
    if row is None:
        return None, None
    dek = envelope.unwrap(subject_id, row.wrapped_key)
    return date.fromisoformat(envelope.open(dek, subject_id, "field:birth_date", row.ciphertext).decode()), birth_date_fingerprint(row.ciphertext)


def field_values(*, session: Session, envelope: Envelope, subject_id: uuid.UUID, names: list[str]) -> dict[str, str]:
    """The plaintext of the named fields the subject has (for a checked, recorded and audited disclosure)."""
    rows = session.scalars(select(ProfileField).where(ProfileField.subject_id == subject_id, ProfileField.name.in_(names))).all()
    if not rows:
        return {}
    dek = data_key(session=session, envelope=envelope, subject_id=subject_id)
    return {row.name: envelope.open(dek, subject_id, f"field:{row.name}", row.ciphertext).decode() for row in rows}


def seal_for_subject(*, session: Session, envelope: Envelope, subject_id: uuid.UUID, slot: str, plaintext: bytes) -> bytes:
    """Seals a value of another domain under the subject's data key (so crypto-shredding the subject erases it too)."""
    return envelope.seal(data_key(session=session, envelope=envelope, subject_id=subject_id), subject_id, slot, plaintext)


def open_for_subject(*, session: Session, envelope: Envelope, subject_id: uuid.UUID, slot: str, blob: bytes) -> bytes:
    return envelope.open(data_key(session=session, envelope=envelope, subject_id=subject_id), subject_id, slot, blob)


# --- the rows a purpose-bound read is decided on (govern/access/reads.py, which authorises, decrypts and audits) -------

# Plain rows, not ORM entities: this statement runs on every read, and entity loading cost more than the query.
_READ_ROWS = HotStatement(
    select(
        Subject.id, Subject.external_ref, Subject.jurisdiction, Subject.language, Subject.status, Subject.version,
        Subject.member_state, SubjectKey.wrapped_key, ProfileField.name, ProfileField.ciphertext,
    )
    .select_from(Subject)
    .outerjoin(SubjectKey, SubjectKey.subject_id == Subject.id)
    .outerjoin(ProfileField, ProfileField.subject_id == Subject.id)
    .where(Subject.id == bindparam("subject_id"))
)


def read_rows(*, session: Session, subject_id: uuid.UUID) -> list[Any]:
    """The hot path of a read, one round trip: the subject's header, its wrapped key and its fields' ciphertexts, one
    row per field (a dozen at most; an IN list of the fields a purpose could show cost more to render than it saved);
    no row when the subject does not exist. Nothing is decrypted here."""
    return _READ_ROWS.rows(session, {"subject_id": subject_id})


def holders(*, session: Session, field: str, blind_indexes: Sequence[str], limit: int) -> Sequence[Row[uuid.UUID, str, str]]:
    """(id, jurisdiction, status) of the active or restricted subjects whose `field` has one of these blind indexes,
    in id order, at most `limit`: the matches of a look-up, before the read rule is asked of each."""
    return session.execute(
        select(ProfileField.subject_id, Subject.jurisdiction, Subject.status)
        .join(Subject, Subject.id == ProfileField.subject_id)
        .where(ProfileField.name == field, ProfileField.blind_index.in_(blind_indexes), Subject.status.in_(("active", "restricted")))
        .order_by(ProfileField.subject_id)
        .limit(limit)
    ).all()


def records_newest_first(
    *, session: Session, subject_id: uuid.UUID, types: frozenset[str], after: tuple[datetime, uuid.UUID] | None, limit: int,
) -> Sequence[Record]:
    """The subject's records of these types, newest first (ties by id), after the (occurred_at, id) of a page's last
    record if given, at most `limit`; still sealed."""
    query = select(Record).where(Record.subject_id == subject_id, Record.type.in_(types))
    if after:
        query = query.where(or_(Record.occurred_at < after[0], and_(Record.occurred_at == after[0], Record.id < after[1])))
    return session.scalars(query.order_by(Record.occurred_at.desc(), Record.id.desc()).limit(limit)).all()
