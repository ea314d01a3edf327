"""Continuous sealing: `govern serve` links new events into the chain every few seconds and signs a checkpoint at least
every minute (policies/audit.yaml `sealing`), so the time an event spends where a database insider could change or cut
it unnoticed is bounded. `tick` is one round (any scheduler may call it; it is safe on many hosts at once: the sealer's
lock orders them, and a checkpoint is signed only when the newest trusted one is older than the interval);
`start_background` runs it in a process of its own beside gunicorn's workers.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta

from govern.audit import chain, checkpoints
from govern.audit.policy import AuditPolicy
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
    return checkpoints.issued_at(newest[1]) <= utcnow() - timedelta(seconds=interval_seconds)


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


def main() -> None:
    """The sealer process: settings and policies from the environment, as `govern serve` has them."""
    from govern.config import Settings
    from govern.logging import STDERR, configure_logging
    from govern.policy import load_policy

    settings = Settings.from_env()
    configure_logging(settings.log_level, stream=STDERR)
    parent = int(os.environ.get("GOVERN_SEALER_PARENT", "0")) or None
    run(settings=settings, policy=load_policy(settings.policies_dir).audit, stop=threading.Event(), parent_pid=parent)


def start_background() -> subprocess.Popen[bytes]:
    """The sealer in a process of its own (a fresh interpreter: nothing of the server's state is shared), with the
    environment `govern serve` has; it is ended when `govern serve` exits, and stops by itself if its parent is gone."""
    env = {**os.environ, "GOVERN_SEALER_PARENT": str(os.getpid())}
    process = subprocess.Popen([sys.executable, "-c", "from govern.audit.sealing import main; main()"], env=env)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    atexit.register(stop)
    return process
