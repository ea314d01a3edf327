"""One row per run of a scheduled job (govern/scheduler): who ran it, when, how it ended and what it counted. No
personal data: the error is a class name and a message scrubbed of anything that could identify someone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from govern.db import Base, BigIntegerPK


class JobRun(Base):
    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64), nullable=False)
    host: Mapped[str] = mapped_column(String(100), nullable=False)  # host name:pid of the runner
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # schedule | manual
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # running | ok | failed | abandoned
    error_class: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(String(300))
    counts: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_job_runs_job_started_at", "job", "started_at"),)
