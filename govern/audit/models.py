"""Audit events. Each row keeps the exact canonical bytes it was written as, so that a hash over the row never
depends on how a database re-renders JSON; the chain and checkpoints build on those bytes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
    roles: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    resource: Mapped[str | None] = mapped_column(String(200))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    field_names: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    purpose: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    canonical: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_subject", "subject_id", "occurred_at"),
        Index("ix_audit_events_actor", "actor_id", "occurred_at"),
        Index("ix_audit_events_request", "request_id"),
    )


class AuditChainEntry(Base):
    """One link of the hash chain, appended by the sealer (never at insert time, so appends never queue on a
    head-row lock). `seq` is seal order: an event committed late gets a later seq than a higher id sealed before it.

    leaf = SHA-256(0x00 || canonical UTF-8) (the RFC 9162 leaf hash); hash = SHA-256(prev || seq as 8 bytes
    big-endian || leaf). Hex in the columns. Rows are insert-only (triggers on PostgreSQL)."""

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, unique=True)
    leaf: Mapped[str] = mapped_column(String(64), nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    sealed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuditCheckpoint(Base):
    """A signed statement (tree size, chain head, Merkle root, time, key id), also appended to a file outside the
    database. `frontier` holds the roots of the perfect subtrees so the next checkpoint extends the tree cheaply."""

    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    merkle_root: Mapped[str] = mapped_column(String(64), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)  # the canonical JSON that was signed
    frontier: Mapped[str] = mapped_column(Text, nullable=False)


class AuditSealRun(Base):
    """One sealer run: the highest event id it could see. Any id at or below the value of a run older than the
    sealing window was inserted before that run, so a transaction still hiding it has outlived the window."""

    __tablename__ = "audit_seal_runs"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    max_event_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sealed: Mapped[int] = mapped_column(Integer, nullable=False)


class AuditPurge(Base):
    """A retention purge of event content up to a checkpoint's tree size; chain links stay, so the log still
    verifies from that checkpoint on."""

    __tablename__ = "audit_purges"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    through_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    checkpoint_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    events: Mapped[int] = mapped_column(BigInteger, nullable=False)
    actor_name: Mapped[str] = mapped_column(String(100), nullable=False)
