"""Continuous sealing: the built-in scheduler's `audit_seal` job (govern/scheduler, policies/schedules.yaml) links new
events into the chain every few seconds and signs a checkpoint at least every minute (policies/audit.yaml `sealing`), so
the time an event spends where a database insider could change or cut it unnoticed is bounded. `tick` is one round; it
is safe on many hosts at once: the sealer's lock orders them, and a checkpoint is signed only when the newest trusted
one is older than the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from govern.audit import chain, checkpoints
from govern.audit.policy import AuditPolicy
from govern.config import Settings
from govern.db import Database
from govern.timeutil import utcnow


@dataclass
class Tick:
    sealed: int
    checkpoint: int | None  # the number of the checkpoint signed in this round, if one was due


def checkpoint_due(*, database: Database, settings: Settings, interval_seconds: int) -> bool:
    """True when no trusted checkpoint was signed in the last `interval_seconds` (by its signed time)."""
    with database.unit_of_work() as session:
        newest = next(checkpoints.trusted(session, settings), None)
    if newest is None:
        return True
    return checkpoints.issued_at(newest[1]) <= utcnow() - timedelta(seconds=interval_seconds)


def tick(*, database: Database, settings: Settings, policy: AuditPolicy) -> Tick:
    """One round: seal what has committed; sign a checkpoint if one is due."""
    sealed = chain.seal(database=database, window_seconds=settings.audit_seal_window_seconds).sealed
    if not checkpoint_due(database=database, settings=settings, interval_seconds=policy.checkpoint_interval_seconds):
        return Tick(sealed=sealed, checkpoint=None)
    issued = checkpoints.issue(database=database, settings=settings)
    return Tick(sealed=sealed + issued.sealed, checkpoint=issued.line["body"]["number"])
