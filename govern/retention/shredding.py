"""Crypto-shredding a whole subject, as every workflow does it: its data key destroyed, its fields, records and row
deleted and its tombstone kept (govern/subjects/erasure.py), and its objections to processing forgotten
(govern/consent/objections.py) — in the caller's one transaction, so whatever fails (a missing tombstones ledger, a
lost connection, the caller's own checks) rolls both back.

Subjects knows nothing of consent; this flow, above both, is what an erasure request and an account closure
(govern/subject_requests/flows.py), a retention purge (purge.py), the purge ledger's replay (ledger.py) and the
tombstones' re-application after a restore (`reapply`) call.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import ErasureAction
from govern.consent import objections
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.ledgers import Ledger
from govern.subjects import erasure
from govern.subjects.erasure import ERASED, ShredResult, Tombstone
from govern.subjects.models import Subject


def shred(
    *, session: Session, envelope: Envelope, actor: Actor, subject_id: uuid.UUID, reason: str, reference: str | None = None,
    ledger: Ledger | None = None, inline_records: int | None = None, key_format: int | None = None,
) -> ShredResult:
    """`erasure.shred` (see there: key, fields, records, tombstone, the ledger line) with the subject's objections
    forgotten in the same transaction. Idempotent."""
    # First, so that the tombstone's ledger line, which `erasure.shred` stages last, counts for both.
    objections.forget_subject(session=session, subject_id=subject_id)
    return erasure.shred(
        session=session, envelope=envelope, actor=actor, subject_id=subject_id, reason=reason, reference=reference, ledger=ledger,
        inline_records=inline_records, key_format=key_format,
    )


def reapply(*, session: Session, envelope: Envelope, actor: Actor, ledger: Ledger) -> int:
    """Shreds again every subject the tombstone file says was erased but the database still holds (a restore
    from an older backup), objections included, and puts back tombstones the restored database lost. Returns the
    subjects shredded."""
    shredded = 0
    for entry in erasure.tombstones(ledger):
        sid = uuid.UUID(entry["subject_id"])
        subject = session.get(Subject, sid)
        # A row still marked erased (its records not yet swept) holds nothing readable: not a resurrection.
        resurrected = (subject is not None and subject.status != ERASED) or session.get(SubjectKey, sid) is not None
        if resurrected or session.get(Tombstone, sid) is None:
            shred(session=session, envelope=envelope, actor=actor, subject_id=sid, reason=entry["reason"], reference=entry.get("reference"),
                  key_format=entry.get("key_format"))
            shredded += int(resurrected)
    if shredded:
        audit.append(session=session, actor=actor, action=ErasureAction.REAPPLY, reason=f"reapplied={shredded}")
    return shredded
