"""Principals: CRM services holding API keys and staff accounts; keys are stored only as hashes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base
from govern.timeutil import utcnow


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # service | staff
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    key_prefix: Mapped[str | None] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Staff who sign in to the console (govern/identity/staff.py, migration 0006_console). Argon2id hash; null for
    # services. `failed_sign_ins` counts failures from every address since the last success: at the account-wide
    # ceiling of policies/console.yaml the account locks for everyone (`locked_until`); one address's own lockout is
    # a SignInFailure row. Both counters are only ever changed by a single UPDATE … SET n = n + 1 (staff.sign_in).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str | None] = mapped_column(String(8))  # the console's language for this person: zh | en
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name; dates in the console are shown in it


class ConsoleSession(Base):
    """A signed-in staff member's browser session. The cookie holds a random token; only its SHA-256 is kept, so a
    copy of this table signs nobody in. The CSRF token is per session and goes into every console form."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("principals.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_addr: Mapped[str | None] = mapped_column(String(64))


class SignInFailure(Base):
    """Failed sign-ins of one staff account from one address (an IPv4 address, an IPv6 /64, or "cli"): a guesser is
    locked out from where it guesses, while the account's owner still signs in from elsewhere until the account-wide
    ceiling. The row goes when the owner signs in from that address, or on unlock."""

    __tablename__ = "sign_in_failures"

    principal_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True)
    client_addr: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
