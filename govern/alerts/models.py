"""The alerts' state and record: which conditions are raised now (one row per subject of alert and level), and every
notice sent or tried. No personal data: subjects of alert are ids of requests, notifications, endpoints, jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base


class AlertState(Base):
    """A condition raised and not yet back to normal. The primary key (subject, level) is what makes a change of state
    alert once across hosts: the check that inserts the row tells people; a second check finds it there and does not.
    Back to normal, the row is deleted (audited), so the same condition later alerts again."""

    __tablename__ = "alert_states"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. request:<uuid>, audit:unsealed
    level: Mapped[str] = mapped_column(String(16), primary_key=True)  # due_soon | overdue | clock_50 | … | failed
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # request | incident | webhook | audit | job
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # ids, types, counts and times the message names


class AlertNotice(Base):
    """One message to one recipient over one channel about one raised state: pending until sent, retried by later
    checks up to alerts.yaml delivery.max_attempts, then failed. The recipient is its name in policies/alerts.yaml."""

    __tablename__ = "alert_notices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    recipient: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # email | webhook
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a sender holds it until then
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)  # the message as sent, in the recipient's language
    body: Mapped[str] = mapped_column(Text, nullable=False)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_alert_notices_state", "state", "created_at"),)
