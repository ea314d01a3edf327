"""Continuous sealing: `govern serve` links new events into the chain every few seconds and signs a checkpoint at least
every minute (policies/audit.yaml `sealing`), so the time an event spends where a database insider could change or cut
it unnoticed is bounded. `tick` is one round (any scheduler may call it; it is safe on many hosts at once: the sealer's
lock orders them, and a checkpoint is signed only when the newest trusted one is older than the interval);
`start_background` runs it in a process of its own beside gunicorn's workers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from dataclasses import dataclass
from datetime import timedelta

from govern.audit import chain, checkpoints
from govern.audit.policy import AuditPolicy
from govern.audit.verifier import parse_time
from govern.config import Settings
from govern.db import Database
from govern.logging import get_logger
from govern.timeutil import utcnow

log = get_logger("govern.audit.sealer")


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
    return parse_time(newest[1]["issued_at"]) <= utcnow() - timedelta(seconds=interval_seconds)


def tick(*, database: Database, settings: Settings, policy: AuditPolicy) -> Tick:
    """One round: seal what has committed; sign a checkpoint if one is due."""
    sealed = chain.seal(database=database, window_seconds=settings.audit_seal_window_seconds).sealed
    if not checkpoint_due(database=database, settings=settings, interval_seconds=policy.checkpoint_interval_seconds):
        return Tick(sealed=sealed, checkpoint=None)
    issued = checkpoints.issue(database=database, settings=settings)
    return Tick(sealed=sealed + issued.sealed, checkpoint=issued.line["body"]["number"])


def run(*, settings: Settings, policy: AuditPolicy, stop: threading.Event, parent_pid: int | None = None) -> None:
    """Ticks every `policy.seal_interval_seconds` until `stop` is set (or the parent process is gone). A failing round is
    logged and retried at the next one: the job never dies quietly, and /readyz shows the unsealed age meanwhile."""
    database = Database(settings.database_url)
    try:
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                return  # `govern serve` is gone: do not outlive it
            try:
                done = tick(database=database, settings=settings, policy=policy)
                if done.checkpoint is not None:
                    log.info("audit_sealed", sealed=done.sealed, checkpoint=done.checkpoint)
            except checkpoints.AuditIntegrityError as exc:
                log.error("audit_sealer_refused", problem=str(exc))
            except Exception as exc:  # noqa: BLE001 — a background job reports and goes on
                log.error("audit_sealer_failed", error=type(exc).__name__, detail=str(exc).splitlines()[0][:200] if str(exc) else "")
            stop.wait(policy.seal_interval_seconds)
    finally:
        database.dispose()


def _main(settings: Settings, policy: AuditPolicy, parent_pid: int) -> None:
    from govern.logging import STDERR, configure_logging

    configure_logging(settings.log_level, stream=STDERR)
    run(settings=settings, policy=policy, stop=threading.Event(), parent_pid=parent_pid)


def start_background(*, settings: Settings, policy: AuditPolicy) -> multiprocessing.Process:
    """The sealer in a process of its own (spawned, not forked: nothing of the server's state is shared), ended with
    `govern serve` (a daemon process; it also stops by itself when its parent is gone)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_main, args=(settings, policy, os.getpid()), name="govern-audit-sealer", daemon=True,
    )
    process.start()
    return process
