"""The built-in scheduler (govern/scheduler): each due job runs once across schedulers, a killed leader is replaced
within the bound, a failing job is recorded and reported without stopping the others, and `govern serve` seals the
audit log with no cron line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from govern.cli import main
from govern.db import Database
from govern.policy import PolicyError
from govern.scheduler import registry, service
from govern.scheduler.models import JobRun
from govern.scheduler.policy import load_schedule_policy

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _schedules(tmp_path: Path, **changes: dict) -> Path:
    """A copy of the policies with some jobs' schedules changed (short intervals for tests)."""
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    doc = yaml.safe_load((policies / "schedules.yaml").read_text())
    for name, change in changes.items():
        job = doc["jobs"][name]
        if "every" in change:
            job.pop("cron", None)
        job.update(change)
    (policies / "schedules.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return policies


def _with(runtime, policies: Path, database: Database | None = None):
    schedules = load_schedule_policy(policies)["schedules"]
    return replace(runtime, policy=replace(runtime.policy, schedules=schedules), database=database or runtime.database)


@pytest.fixture
def sealing(runtime, tmp_path):
    """The suite's runtime with checkpoints signed into a directory of this test's own: the tables are emptied after
    each test, and checkpoints left in the shared home would no longer match the chain."""
    return replace(runtime, settings=replace(runtime.settings, checkpoint_dir=tmp_path / "checkpoints"))


def _runs(runtime, job: str) -> list[JobRun]:
    with runtime.database.unit_of_work() as session:
        rows = session.scalars(select(JobRun).where(JobRun.job == job).order_by(JobRun.id)).all()
        session.expunge_all()
    return list(rows)


def test_the_shipped_schedules_load_and_match_the_registry(runtime):
    service.check(runtime.policy)
    assert set(runtime.policy.schedules.jobs) == set(registry.JOBS) | set(service.OWN_JOBS)
    assert runtime.policy.schedules.jobs["audit_seal"].every_seconds <= runtime.policy.audit.seal_interval_seconds


def test_a_bad_schedule_is_refused_naming_the_key(tmp_path, runtime):
    with pytest.raises(PolicyError, match=r"jobs.webhooks_deliver: give exactly one"):
        load_schedule_policy(_schedules(tmp_path, webhooks_deliver={"cron": "* * * * *"}))
    with pytest.raises(PolicyError, match=r"jobs.requests_purge_log.cron"):
        load_schedule_policy(_schedules(tmp_path / "b", requests_purge_log={"cron": "61 * * * *"}))
    slow = _with(runtime, _schedules(tmp_path / "c", audit_seal={"every": 600}))
    with pytest.raises(ValueError, match="audit_seal.every: at most"):
        service.check(slow.policy)


def test_two_schedulers_on_one_database_run_each_due_job_once(tmp_path, runtime, monkeypatch):
    calls: list[float] = []
    monkeypatch.setitem(registry.JOBS, "breach_clocks", lambda rt: calls.append(time.monotonic()) or {"n": 1})
    policies = _schedules(tmp_path, breach_clocks={"every": 1})
    others = frozenset(set(runtime.policy.schedules.jobs) - {"breach_clocks"})
    databases = [Database(runtime.settings.database_url), Database(runtime.settings.database_url)]
    schedulers = [service.Scheduler(_with(runtime, policies, db), disabled=others) for db in databases]
    try:
        for s in schedulers:
            s.start()
        time.sleep(4.2)
    finally:
        for s in schedulers:
            s.stop()
        for db in databases:
            db.dispose()
    runs = _runs(runtime, "breach_clocks")
    assert 4 <= len(calls) <= 6, calls  # one run a second, not two
    assert len(runs) == len(calls) and all(r.outcome == "ok" for r in runs)
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) > 0.5, gaps  # never the same due time twice
    assert len({r.host for r in runs}) == 1  # one process here: both schedulers report its host


def test_a_failing_job_is_recorded_and_reported_without_stopping_the_others(runtime, sealing, app, monkeypatch):
    def boom(rt):
        raise RuntimeError("could not tell someone@example.com at 13812345678")

    monkeypatch.setitem(registry.JOBS, "breach_clocks", boom)
    failed = service.run_job(runtime, "breach_clocks", manual=True)
    sealed = service.run_job(sealing, "audit_seal", manual=True)
    assert failed.outcome == "failed" and failed.error_class == "RuntimeError"
    assert "example.com" not in failed.error_message and "13812345678" not in failed.error_message
    assert sealed.outcome == "ok"
    with runtime.database.unit_of_work() as session:
        rows = {r.name: r for r in service.status(session=session, schedules=runtime.policy.schedules)}
    assert rows["breach_clocks"].last_error.startswith("RuntimeError: could not tell <email>")
    assert rows["breach_clocks"].failures == 1 and rows["audit_seal"].last_outcome == "ok" and rows["audit_seal"].failures == 0
    ready = app.test_client().get("/readyz").get_json()
    jobs = ready["checks"]["jobs"] if "checks" in ready else ready["jobs"]
    assert jobs["failing"] == ["breach_clocks"] and jobs["ok"] is True and jobs["gating"] is False
    assert jobs["jobs"]["breach_clocks"]["last_error"].startswith("RuntimeError")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'govern_job_failures_total{job="breach_clocks"} 1.0' in metrics
    assert 'govern_job_failures_total{job="audit_seal"} 0.0' in metrics
    assert 'govern_job_last_success_timestamp_seconds{job="breach_clocks"} 0.0' in metrics
    assert 'govern_job_lag_seconds{job="audit_seal"}' in metrics


def test_an_overdue_job_takes_readiness_down(runtime, sealing, app):
    service.run_job(sealing, "audit_seal", manual=True)
    with runtime.database.unit_of_work() as session:
        for run in session.scalars(select(JobRun)):
            run.started_at = run.started_at.replace(year=2020)
    ready = app.test_client().get("/readyz")
    body = ready.get_json()
    jobs = body["checks"]["jobs"] if "checks" in body else body["jobs"]
    assert ready.status_code == 503 and jobs["overdue"] == ["audit_seal"] and jobs["gating"] is True


def _env(runtime, policies: Path, checkpoints: Path) -> dict[str, str]:
    s = runtime.settings
    return {**os.environ, "GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_POLICIES": str(policies), "GOVERN_LOG_LEVEL": "WARNING",
            "GOVERN_CHECKPOINT_DIR": str(checkpoints)}


def test_a_leader_killed_mid_run_is_replaced_within_the_bound(tmp_path, runtime, monkeypatch):
    policies = _schedules(tmp_path, breach_clocks={"every": 1, "max_run_seconds": 5})
    code = ("import time; from govern.scheduler import registry; registry.JOBS['breach_clocks'] = lambda rt: time.sleep(120); "
            "from govern.cli import main; main(['jobs', 'run', 'breach_clocks'])")
    leader = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=_env(runtime, policies, tmp_path / "checkpoints"))
    try:
        deadline = time.monotonic() + 30
        while not any(r.outcome == "running" for r in _runs(runtime, "breach_clocks")):
            assert time.monotonic() < deadline and leader.poll() is None, "the leader never started its run"
            time.sleep(0.1)
        rt = _with(runtime, policies)
        assert service.run_job(rt, "breach_clocks") is None  # held by the leader: this host does not run it
        with pytest.raises(service.JobBusy):
            service.run_job(rt, "breach_clocks", manual=True)
        os.kill(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        leader.wait(10)
        monkeypatch.setitem(registry.JOBS, "breach_clocks", lambda rt: {"took_over": 1})
        scheduler = service.Scheduler(rt, disabled=frozenset(set(rt.policy.schedules.jobs) - {"breach_clocks"}))
        scheduler.start()
        try:
            bound = rt.policy.schedules.jobs["breach_clocks"].overdue_after_seconds  # period + lease + a minute
            while not any(r.outcome == "ok" for r in _runs(runtime, "breach_clocks")):
                assert time.monotonic() - killed_at < 5, "no takeover"
                time.sleep(0.1)
        finally:
            scheduler.stop()
        took = time.monotonic() - killed_at
        assert took < bound
    finally:
        if leader.poll() is None:
            leader.kill()
    runs = _runs(runtime, "breach_clocks")
    assert runs[0].outcome == "abandoned" and runs[0].error_class == "RunnerLost"
    assert runs[1].outcome == "ok" and runs[1].counts == {"took_over": 1}


def test_jobs_status_and_run_from_the_command_line(runtime, tmp_path):
    env = {"GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url,
           "GOVERN_POLICIES": str(runtime.settings.policies_dir), "TZ": "UTC", "GOVERN_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    ran = CliRunner().invoke(main, ["jobs", "run", "audit_seal", "--json"], env=env)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["outcome"] == "ok"
    unknown = CliRunner().invoke(main, ["jobs", "run", "no_such_job"], env=env)
    assert unknown.exit_code == 2 and "no job 'no_such_job'" in unknown.output
    table = CliRunner().invoke(main, ["jobs", "status"], env=env)
    assert table.exit_code == 0, table.output
    [line] = [row for row in table.output.splitlines() if row.startswith("audit_seal ")]
    assert "every 5s" in line and " ok " in line
    [never] = [row for row in table.output.splitlines() if row.startswith("requests_purge_log ")]
    assert "cron 23 3 * * * (UTC)" in never and "never" in never
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(main, ["jobs", "status", "--json"], env=env).stdout)}
    assert rows["audit_seal"]["last_outcome"] == "ok" and rows["audit_seal"]["last_success"]
    assert rows["requests_purge_log"]["last_started"] is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_seals_audit_events_with_no_cron_line(runtime, sealing, make_principal, app, tmp_path):
    from govern.audit import integrity

    make_principal("dpo")  # audited: an event waiting for the sealer
    assert integrity.status(database=runtime.database, settings=sealing.settings).unsealed > 0
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "govern.cli", "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
                            cwd=PROJECT_ROOT, env=_env(runtime, runtime.settings.policies_dir, tmp_path / "checkpoints"), stdout=subprocess.DEVNULL,
                            stderr=log)
    try:
        deadline = time.monotonic() + 60
        unsealed = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            unsealed = integrity.status(database=runtime.database, settings=sealing.settings).unsealed
            if unsealed == 0 and any(r.outcome == "ok" for r in _runs(runtime, "audit_seal")):
                break
            time.sleep(0.5)
        assert unsealed == 0
        ready = app.test_client().get("/readyz").get_json()
        jobs = ready["checks"]["jobs"] if "checks" in ready else ready["jobs"]
        assert jobs["jobs"]["audit_seal"]["outcome"] in ("ok", "running")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_failed_job_is_an_alert_condition_until_a_run_succeeds(runtime, monkeypatch):
    from govern.alerts import service as alerts
    from govern.timeutil import utcnow

    def job_conditions():
        with runtime.database.unit_of_work() as session:
            return [c for c in alerts.conditions(session=session, policy=runtime.policy, now=utcnow()) if c.kind == "job"]

    monkeypatch.setitem(registry.JOBS, "breach_clocks", lambda rt: 1 / 0)
    service.run_job(runtime, "breach_clocks", manual=True)
    [condition] = job_conditions()
    assert condition.subject == "job:breach_clocks" and condition.level == "failed" and condition.facts["error"] == "ZeroDivisionError"
    monkeypatch.setitem(registry.JOBS, "breach_clocks", lambda rt: {"open": 0})
    service.run_job(runtime, "breach_clocks", manual=True)
    assert job_conditions() == []


def test_a_crontab_job_waits_for_its_time_unless_a_firing_was_missed(runtime, monkeypatch):
    from datetime import timedelta

    from govern.timeutil import utcnow

    ran: list[str] = []
    monkeypatch.setitem(registry.JOBS, "requests_purge_log", lambda rt: ran.append("requests_purge_log") or {})
    monkeypatch.setitem(registry.JOBS, "processing_duties", lambda rt: ran.append("processing_duties") or {})
    with runtime.database.unit_of_work() as session:  # a daily job last run two days ago: today's firing was missed
        two_days = utcnow() - timedelta(days=2)
        session.add(JobRun(job="requests_purge_log", host="old:1", trigger="schedule", started_at=two_days, finished_at=two_days, outcome="ok"))
    keep = {"requests_purge_log", "processing_duties"}
    scheduler = service.Scheduler(runtime, disabled=frozenset(set(runtime.policy.schedules.jobs) - keep))
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        scheduler.stop()
    assert ran == ["requests_purge_log"]  # caught up at start; the daily duties job, never run, waits for 06:07 UTC
