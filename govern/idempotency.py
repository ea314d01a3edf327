"""Idempotency-Key on creating POSTs: a retried request gets the first answer instead of a second resource.

The stored answer is the status and the response body of a create (ids only, never values) with a fingerprint of
the request, so a key reused for a different request is refused rather than silently replayed. The fingerprint is
keyed (Envelope.keyed_digest): a request body holds personal data (a new subject's mobile, ID number, name), and a bare
hash of it in the table would let anyone holding a copy confirm a guessed value offline. Fingerprints stored before
they were keyed were dropped by migration 0015: a retry sent across that upgrade is a new request. A stored
fingerprint records its algorithm (HMAC-SHA256, or `sm3:` HMAC-SM3 under the commercial_cn suite) and a retry is
compared under that algorithm, so a retry sent across `govern keys migrate-suite` is still recognised.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from govern.crypto.envelope import Envelope, KeyedDigest
from govern.db import Base
from govern.errors import Problem, validation_failed
from govern.timeutil import utcnow


class IdempotentResponse(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    headers: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any
    headers: dict[str, str]


def fingerprint(envelope: Envelope, method: str, path: str, payload: Any) -> KeyedDigest:
    """A keyed digest of the request: the stored row holds no trace of its values, and no guess can be tried against it."""
    raw = json.dumps([method, path, payload], sort_keys=True, ensure_ascii=False, default=str)
    return envelope.keyed_digest("idempotency-fingerprint", raw)


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not (1 <= len(key) <= 100) or not key.isprintable():
        raise validation_failed({"Idempotency-Key": ["1–100 printable characters"]})
    return key


def replay(*, session: Session, principal_id: uuid.UUID, key: str, request_fingerprint: KeyedDigest) -> Replay | None:
    stored = session.get(IdempotentResponse, (principal_id, key))
    if stored is None:
        return None
    if not request_fingerprint.matches(stored.fingerprint):
        raise Problem(422, "idempotency_key_reused", "Idempotency key reused", "This Idempotency-Key was used for a different request.")
    return Replay(stored.status, json.loads(stored.body), json.loads(stored.headers))


def remember(*, session: Session, principal_id: uuid.UUID, key: str, request_fingerprint: str, status: int, body: Any, headers: dict[str, str]) -> None:
    """Stored in the same transaction as the create: both happen or neither does."""
    session.add(IdempotentResponse(
        principal_id=principal_id, key=key, fingerprint=request_fingerprint, status=status,
        body=json.dumps(body), headers=json.dumps(headers),
    ))
    session.flush()
