"""What the access decision reads besides policy and consent: the objections subjects made to processing that rests on
legitimate interest (GDPR Art. 21(1)). No personal data: ids, purpose names, times, staff names and the grounds staff
gave for lifting one."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base


class ProcessingObjection(Base):
    """A subject's objection to one legitimate-interest purpose, recorded by a completed objection request. It stops
    reads for that purpose until staff lift it on compelling legitimate grounds; a lifted objection stays, with who
    lifted it, when and why. No foreign key to the subject: erasure deletes these rows with the subject's other data."""

    __tablename__ = "processing_objections"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(100), nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_reason: Mapped[str | None] = mapped_column(String(1000))
    lifted_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_processing_objections_subject", "subject_id", "purpose", "lifted_at"),)
