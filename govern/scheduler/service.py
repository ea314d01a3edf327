"""The built-in scheduler: every job of policies/schedules.yaml on its schedule, each run once across any number of
hosts, every run recorded in `job_runs`.

Leadership is per job and per run. When a job's firing comes (APScheduler triggers: interval jobs fire on one grid on
every host, crontab lines in UTC), the host takes the job's lock without waiting — PostgreSQL: a session advisory lock
on a connection of its own, held for the whole run; SQLite (one host): an exclusive file lock beside the database —
then, under the lock, reads the job's last run: if a run started since the job was last due, another host did it and
this one does nothing. So a job runs once per due time however many hosts fire, and a host that dies mid-run drops its
connection (SIGKILL: at once; a vanished host: within the TCP keepalive set on the lock connection, ~30 s): the lock is
free and the next host to fire takes the job over, marking the dead run `abandoned`. The bound on a takeover is one
period of the job plus that minute (Schedule.overdue_after_seconds adds the lease, for a leader that hangs).

`govern serve` runs this in a process of its own beside gunicorn (start_background); `govern worker` runs it alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, desc, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from govern.alerts import service as alerts
from govern.db import Database
from govern.jobs import database_lock, host_lock
from govern.logging import get_logger
from govern.scheduler.models import JobRun
from govern.scheduler.policy import EPOCH, Schedule, SchedulePolicy
from govern.scheduler.registry import JOBS
from govern.timeutil import utcnow

if TYPE_CHECKING:
    from govern.policy import Policy
    from govern.runtime import Runtime

log = get_logger("govern.scheduler")
OWN_JOBS = ("job_runs_prune",)  # jobs of the scheduler itself
PARENT_ENV = "GOVERN_SCHEDULER_PARENT"


class JobBusy(Exception):
    """Another host (or process) holds this job now."""


class UnknownJob(LookupError):
    """No such job in policies/schedules.yaml and the registry."""


def host_name() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def lock_id(job: str) -> int:
    """The job's advisory-lock key: a signed 64-bit number from its name (stable across hosts and releases)."""
    return int.from_bytes(hashlib.sha256(b"govern.job:" + job.encode()).digest()[:8], "big", signed=True)


def check(policy: Policy) -> None:
    """Refuses to start when schedules.yaml and the registry disagree, or when the sealing job would break the bound of
    policies/audit.yaml (it must run at least as often as sealing.interval_seconds)."""
    known = set(JOBS) | set(OWN_JOBS)
    planned = set(policy.schedules.jobs)
    if planned - known:
        raise ValueError(f"schedules.yaml: jobs.{sorted(planned - known)[0]}: no such job (known: {', '.join(sorted(known))})")
    if known - planned:
        raise ValueError(f"schedules.yaml: jobs: {sorted(known - planned)[0]} has no schedule (give it one, enabled: false to keep it off)")
    seal = policy.schedules.jobs["audit_seal"]
    if seal.every_seconds is None or seal.every_seconds > policy.audit.seal_interval_seconds:
        raise ValueError(f"schedules.yaml: jobs.audit_seal.every: at most audit.yaml sealing.interval_seconds ({policy.audit.seal_interval_seconds})")


# --- leadership and one run ------------------------------------------------------------------------


def _lock_path(database: Database, job: str, fallback: Path) -> Path:
    name = make_url(str(database.engine.url)).database
    base = Path(name) if name and name != ":memory:" else fallback / "govern.db"
    return base.with_name(f"{base.name}.job-{job}.lock")


@contextmanager
def leadership(database: Database, job: str, home: Path) -> Iterator[None]:
    """The job's lock for this run, or JobBusy at once."""
    if database.dialect == "postgresql":
        with database_lock(database, lock_id(job), JobBusy) as conn:
            # A host that vanishes (no FIN) is noticed by the server within ~10 + 5×4 s, and its lock released.
            conn.exec_driver_sql("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4")
            conn.commit()
            yield
    else:
        with host_lock(_lock_path(database, job, home), JobBusy):
            yield


_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_DIGITS = re.compile(r"\d{6,}")


def scrub(exc: BaseException) -> tuple[str, str]:
    """The error's class and a message that cannot carry personal data: a database error is named by its driver's
    class only (its text may quote values); others keep their first line, e-mail addresses and long numbers removed."""
    if isinstance(exc, DBAPIError):
        return type(exc).__name__, f"database error ({type(exc.orig).__name__ if exc.orig else 'no detail'})"
    text = (getattr(exc, "detail", None) or str(exc) or "").splitlines()
    message = _DIGITS.sub("<n>", _EMAIL.sub("<email>", text[0] if text else ""))[:300]
    return type(exc).__name__[:100], message


def _last_run(session: Session, job: str) -> JobRun | None:
    return session.scalars(select(JobRun).where(JobRun.job == job).order_by(desc(JobRun.started_at), desc(JobRun.id)).limit(1)).first()


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def run_job(rt: Runtime, name: str, *, manual: bool = False) -> JobRun | None:
    """One run of `name` if it is due (always when `manual`) and no other host holds it; None when it was not run.
    JobBusy when `manual` and another host holds it. A failing job is recorded (outcome failed) and never raised."""
    schedule = rt.policy.schedules.jobs.get(name)
    if schedule is None or (name not in JOBS and name not in OWN_JOBS):
        raise UnknownJob(f"no job {name!r} (known: {', '.join(sorted(rt.policy.schedules.jobs))})")
    try:
        with leadership(rt.database, name, rt.settings.home):
            return _run_led(rt, schedule, manual=manual)
    except JobBusy:
        if manual:
            raise
        return None


def _run_led(rt: Runtime, schedule: Schedule, *, manual: bool) -> JobRun | None:
    now = utcnow()
    # A firing a little early for the recorded start (the start is written a few ms after the firing) still counts;
    # a host that fires after another already ran this due time does not.
    tolerance_seconds = min(1.0, schedule.period_seconds / 4)
    with rt.database.unit_of_work() as session:
        last = _last_run(session, schedule.name)
        if last is not None and last.outcome == "running":
            # We hold the job's lock, so whoever started that run is gone (killed, host lost): it ended unfinished.
            last.outcome, last.finished_at, last.error_class = "abandoned", now, "RunnerLost"
            log.warning("job_run_abandoned", job=schedule.name, host=last.host, started_at=str(last.started_at))
        if not manual and last is not None and schedule.next_due(_aware(last.started_at), now) > now + timedelta(seconds=tolerance_seconds):
            return None  # another host ran it since it was last due
        run = JobRun(job=schedule.name, host=host_name()[:100], trigger="manual" if manual else "schedule", started_at=now, outcome="running")
        session.add(run)
        session.flush()
        run_id = run.id
    outcome, counts, error = "ok", None, (None, None)
    try:
        counts = JOBS[schedule.name](rt) if schedule.name in JOBS else _own(rt, schedule.name)
    except Exception as exc:  # noqa: BLE001 — a job's failure is recorded and reported; the others go on
        outcome, error = "failed", scrub(exc)
        log.error("job_failed", job=schedule.name, error=error[0], detail=error[1])
    with rt.database.unit_of_work() as session:
        run = session.get(JobRun, run_id)
        assert run is not None
        run.finished_at, run.outcome, run.error_class, run.error_message = utcnow(), outcome, error[0], error[1]
        run.counts = _jsonable(counts)
        session.flush()
        session.expunge(run)
    return run


def _jsonable(counts: dict[str, Any] | None) -> dict[str, Any] | None:
    if counts is None:
        return None
    return {str(k): v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in counts.items()}


def _own(rt: Runtime, name: str) -> dict[str, Any]:
    if name == "job_runs_prune":
        with rt.database.unit_of_work() as session:
            return {"deleted": prune(session=session, keep_days=rt.policy.schedules.keep_days)}
    raise UnknownJob(name)


def prune(*, session: Session, keep_days: int, now: datetime | None = None) -> int:
    cut = (now or utcnow()) - timedelta(days=keep_days)
    return session.execute(delete(JobRun).where(JobRun.started_at < cut, JobRun.outcome != "running")).rowcount or 0


# --- what is reported ------------------------------------------------------------------------------


@dataclass
class JobStatus:
    name: str
    schedule: str
    enabled: bool
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_outcome: str | None = None
    last_success: datetime | None = None
    last_error: str | None = None  # class: message of the newest failed run
    failures: int = 0  # failed runs kept in job_runs
    running: bool = False
    overrunning: bool = False  # running for longer than max_run_seconds
    next_due: datetime | None = None
    lag_seconds: float = 0.0  # how late against its schedule (0 when on time)
    overdue: bool = False  # enabled, has run before, and later than Schedule.overdue_after_seconds
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        out["lag_seconds"] = round(self.lag_seconds, 3)
        return out


def status(*, session: Session, schedules: SchedulePolicy, now: datetime | None = None) -> list[JobStatus]:
    """Every scheduled job's last run, lag and last error, read from job_runs (the same answer on every host)."""
    now = now or utcnow()
    out = []
    for s in schedules.jobs.values():
        st = JobStatus(name=s.name, schedule=s.describe(), enabled=s.enabled)
        last = _last_run(session, s.name)
        if last is not None:
            st.last_started, st.last_finished, st.last_outcome = _aware(last.started_at), _aware(last.finished_at), last.outcome
            st.running = last.outcome == "running"
            st.overrunning = st.running and (now - st.last_started).total_seconds() > s.max_run_seconds
            st.next_due = s.next_due(st.last_started, now)
            if s.enabled:
                st.lag_seconds = max(0.0, (now - st.next_due).total_seconds())
                st.overdue = st.lag_seconds > s.overdue_after_seconds or st.overrunning
        ok = session.scalars(select(JobRun.finished_at).where(JobRun.job == s.name, JobRun.outcome == "ok").order_by(desc(JobRun.finished_at)).limit(1)).first()
        st.last_success = _aware(ok)
        failed = session.scalars(select(JobRun).where(JobRun.job == s.name, JobRun.outcome.in_(("failed", "abandoned")))
                                 .order_by(desc(JobRun.started_at), desc(JobRun.id))).all()
        st.failures = len(failed)
        if failed:
            st.last_error = f"{failed[0].error_class}: {failed[0].error_message or ''}".rstrip(": ")
        out.append(st)
    return out


def readiness(*, session: Session, schedules: SchedulePolicy) -> dict[str, Any]:
    """The /readyz `jobs` check: gating only when an enabled job is overdue beyond its bound (or overruns its lease) —
    late sealing, deliveries or sweeps mean the scheduler is down on every host. A failed run is reported, not gating:
    the next run retries it, and serving goes on."""
    rows = status(session=session, schedules=schedules)
    overdue = [r.name for r in rows if r.overdue]
    failing = [r.name for r in rows if r.last_outcome == "failed"]
    jobs = {r.name: {"last_started": r.last_started.isoformat() if r.last_started else None, "outcome": r.last_outcome,
                     "lag_seconds": round(r.lag_seconds, 1), **({"last_error": r.last_error} if r.last_error else {})} for r in rows if r.enabled}
    return {"ok": not overdue, "gating": bool(overdue), "overdue": overdue, "failing": failing, "jobs": jobs}


def failed_jobs(session: Session, policy: Policy, now: datetime) -> list[alerts.Condition]:
    """For govern/alerts: each enabled job whose newest finished run failed or was abandoned (until a run succeeds),
    named by its error class only."""
    out = []
    for name, schedule in policy.schedules.jobs.items():
        if not schedule.enabled:
            continue
        last = session.scalars(select(JobRun).where(JobRun.job == name, JobRun.outcome != "running")
                               .order_by(desc(JobRun.started_at), desc(JobRun.id)).limit(1)).first()
        if last is not None and last.outcome in ("failed", "abandoned"):
            out.append(alerts.job_failed(job=name, at=_aware(last.finished_at or last.started_at) or now, error=last.error_class or last.outcome))
    return out


alerts.SOURCES.append(failed_jobs)


# --- the scheduler process -------------------------------------------------------------------------


class Scheduler:
    """APScheduler (3.x) firing each enabled job on its trigger, in a pool of threads (one run of a job at a time in
    this process, missed firings coalesced); each firing goes through run_job, which decides across hosts."""

    def __init__(self, rt: Runtime, *, disabled: frozenset[str] = frozenset()) -> None:
        check(rt.policy)
        self.rt = rt
        self.jobs = [s for s in rt.policy.schedules.enabled() if s.name not in disabled]
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(max(len(self.jobs), 1))}, timezone=timezone.utc,
                                             job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        late = self._late()
        for s in self.jobs:
            trigger = s.trigger() or IntervalTrigger(seconds=s.every_seconds, start_date=EPOCH, timezone=timezone.utc)
            # Interval jobs fire at once; a crontab job at its next time, or at once when a firing was missed while no
            # scheduler ran (catch-up; run_job still decides whether it is due).
            first = datetime.now(timezone.utc) if s.every_seconds is not None or s.name in late else trigger.get_next_fire_time(None, datetime.now(timezone.utc))
            self.scheduler.add_job(self._fire, trigger, args=[s.name], id=s.name, name=s.name, next_run_time=first)

    def _late(self) -> set[str]:
        try:
            with self.rt.database.unit_of_work() as session:
                return {r.name for r in status(session=session, schedules=self.rt.policy.schedules) if r.lag_seconds > 0}
        except Exception:  # noqa: BLE001 — the database is not reachable yet: the regular firings will do
            return set()

    def _fire(self, name: str) -> None:
        try:
            run = run_job(self.rt, name)
            if run is not None and run.outcome == "ok" and any(v for v in (run.counts or {}).values()):
                log.info("job_done", job=name, counts=run.counts)
        except Exception as exc:  # noqa: BLE001 — the database is unreachable: logged, retried at the next firing
            cls, message = scrub(exc)
            log.error("job_not_run", job=name, error=cls, detail=message)

    def start(self) -> None:
        log.info("scheduler_started", jobs=[s.name for s in self.jobs], host=host_name())
        self.scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)


def run_forever(rt: Runtime, *, disabled: frozenset[str] = frozenset(), stop: threading.Event | None = None, parent_pid: int | None = None) -> None:
    """Runs the scheduler until `stop` is set or the parent process (`govern serve`) is gone."""
    stop = stop or threading.Event()
    scheduler = Scheduler(rt, disabled=disabled)
    scheduler.start()
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("scheduler_parent_gone")
                break
    finally:
        scheduler.stop(wait=False)


def start_background(*, disabled: frozenset[str] = frozenset()) -> subprocess.Popen[bytes]:
    """`govern worker` in a process of its own beside gunicorn (a fresh interpreter: nothing of the server's state is
    shared), with the environment `govern serve` has; ended when `govern serve` exits, and it stops by itself if its
    parent is gone."""
    args = [sys.executable, "-m", "govern.cli", "worker"]
    for name in sorted(disabled):
        args += ["--disable", name]
    process = subprocess.Popen(args, env={**os.environ, PARENT_ENV: str(os.getpid())})
    return process
