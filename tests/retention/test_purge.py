"""The purge: killed half-way (kill -9) and resumed with exact counts; interrupted between batches; one at a time;
unattended only when the policy allows; its run audited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import select, text, update

from govern.config import PROJECT_ROOT
from govern.retention import purge as purge_mod
from govern.retention import service
from govern.retention.models import Run
from govern.subjects.models import Subject
from govern.timeutil import utcnow
from tests.retention.conftest import APPROVER, CREATOR, SYSTEM, days

OLD = 3 * 365 + 5


def _cli(runtime, *args: str, timeout: float = 60) -> subprocess.Popen:
    env = {
        **os.environ, "GOVERN_DATABASE_URL": runtime.settings.database_url, "GOVERN_HOME": str(runtime.settings.home),
        "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "govern.cli", "retention", *args], cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def _run(runtime, plan_id) -> Run | None:
    with runtime.database.unit_of_work() as session:
        return session.scalars(select(Run).where(Run.plan_id == plan_id)).first()


def _hold(runtime, subject_id):
    with runtime.database.unit_of_work() as session:
        service.place_hold(session=session, policy=runtime.policy, actor=CREATOR, subject_id=subject_id, reason="litigation")


def _record_ids_left(runtime) -> set:
    from govern.subjects.models import Record

    with runtime.database.unit_of_work() as session:
        return set(session.scalars(select(Record.id)))


def _all_record_ids(runtime, estate) -> set:
    return estate["record_ids"]


def _ledger_record_ids(runtime, plan_id) -> set:
    """The record ids the purge ledger says this plan's run removed (committed, or written and not yet settled)."""
    from govern.retention import ledger

    entries = ledger.to_replay(runtime.ledgers.purges)
    return {uuid.UUID(r[1]) for e in entries if e["plan_id"] == str(plan_id) for r in e["records"]}


@pytest.fixture
def estate(runtime, make_subject, add_records):
    """Twelve customers with three expired purchases and one recent; three dormant ones due to be shredded;
    one held before the plan."""
    customers = [make_subject(fields={"name": f"客户{i}", "mobile": f"1381234{i:04d}"}) for i in range(12)]
    record_ids = set()
    for sid in customers:
        record_ids |= set(add_records(sid, "purchase", [OLD, OLD + 1, OLD + 2, 30]))
    dormant = [make_subject(fields={"name": f"旧客{i}"}) for i in range(3)]
    for sid in dormant:
        record_ids |= set(add_records(sid, "purchase", [OLD, OLD]))
    with runtime.database.unit_of_work() as session:
        session.execute(update(Subject).where(Subject.id.in_(dormant)).values(updated_at=utcnow() - days(OLD)))
    held_before = customers[0]
    _hold(runtime, held_before)
    return {"customers": customers, "dormant": dormant, "held_before": held_before, "record_ids": record_ids}


def test_a_purge_killed_half_way_resumes_with_exact_counts(runtime, estate, plan, approve, count_rows, inventory):
    summary, plan_id = plan()
    t = summary["totals"]
    assert (t["records"], t["fields"], t["subjects"], t["held_records"]) == (11 * 3 + 3 * 2, 3, 3, 3)
    approve(plan_id)
    held_after = estate["customers"][5]
    _hold(runtime, held_after)  # placed after approval: its three purchases must be skipped
    before = count_rows()

    proc = _cli(runtime, "purge", "--plan", str(plan_id), "--batch-size", "2", "--pause", "0.2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = _run(runtime, plan_id)
        if run is not None and run.cursor >= 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes its pipes
    half = _run(runtime, plan_id)
    assert half.status == "running" and 8 <= half.cursor < half.total  # killed mid-way, the last batch rolled back
    done = before[2] - count_rows()[2]
    assert done == half.counts["records"]  # what is committed is exactly what is counted
    gone = _all_record_ids(runtime, estate) - _record_ids_left(runtime)
    assert gone <= _ledger_record_ids(runtime, plan_id)  # no committed purge without its ledger line (written first)

    resumed = _cli(runtime, "purge", "--plan", str(plan_id), "--batch-size", "5", "--json")
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    final = _run(runtime, plan_id)
    c = final.counts
    assert (final.status, final.attempts, final.cursor) == ("completed", 2, final.total)
    assert (c["records"], c["fields"], c["subjects"], c["held"], c["gone"]) == (10 * 3 + 3 * 2, 3, 3, 3, 0)
    subjects, fields, records = count_rows()
    assert (before[0] - subjects, before[1] - fields, before[2] - records) == (3, 3, 36)
    assert len(inventory(estate["held_before"])[1]) == 4 and len(inventory(held_after)[1]) == 4
    assert all(inventory(s) is None for s in estate["dormant"])
    from govern.retention import ledger

    assert ledger.unresolved(runtime.ledgers.purges, plan_id=plan_id) == []  # the resumed run settled the killed batch
    assert _ledger_record_ids(runtime, plan_id) == _all_record_ids(runtime, estate) - _record_ids_left(runtime)
    again, _ = plan(save=False)
    assert again["totals"]["records"] == 0 and again["totals"]["fields"] == 0 and again["totals"]["subjects"] == 0
    assert again["totals"]["held_records"] == 6


def test_a_purge_stopped_between_batches_resumes_where_it_stopped(runtime, estate, plan, approve, purge, count_rows):
    _, plan_id = plan()
    approve(plan_id)
    before = count_rows()
    batches = []
    with pytest.raises(purge_mod.PurgeInterrupted):
        purge(plan_id, batch_size=4, on_progress=batches.append, should_stop=lambda: len(batches) >= 3)
    stopped = _run(runtime, plan_id)
    assert stopped.status == "interrupted" and stopped.cursor == 12
    result = purge(plan_id, batch_size=4)
    assert result.resumed and result.status == "completed"
    assert before[2] - count_rows()[2] == result.counts["records"] == 3 * 11 + 3 * 2


def test_two_purges_at_once_the_second_is_refused(runtime, estate, plan, approve, purge):
    _, plan_id = plan()
    approve(plan_id)
    with purge_mod.purge_lock(runtime.database):
        with pytest.raises(purge_mod.PurgeBusy, match="another purge is running"):
            purge(plan_id)
        proc = _cli(runtime, "purge", "--plan", str(plan_id))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3 and "another purge is running" in err
    assert _run(runtime, plan_id) is None
    assert purge(plan_id).status == "completed"


def test_a_lost_database_connection_stops_the_purge_and_a_rerun_finishes_it(runtime, is_postgres, estate, plan, approve, purge, count_rows):
    if not is_postgres:
        pytest.skip("terminating server connections is a PostgreSQL test")
    _, plan_id = plan()
    approve(plan_id)
    before = count_rows()

    def cut(progress):
        if progress.done >= 10:
            with runtime.database.engine.connect() as conn:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ))

    with pytest.raises((purge_mod.PurgeInterrupted, Exception)):
        purge(plan_id, batch_size=5, on_progress=cut)
    runtime.database.dispose()  # the cut ended the pools' other connections too: later tests start on fresh ones
    assert _run(runtime, plan_id).status != "completed"
    result = purge(plan_id, batch_size=5)
    assert result.status == "completed" and result.counts["gone"] == 0
    assert before[2] - count_rows()[2] == result.counts["records"] == 3 * 11 + 3 * 2


def test_all_due_is_refused_unless_the_policy_allows_unattended_purges(runtime, estate, count_rows):
    before = count_rows()
    proc = _cli(runtime, "purge", "--all-due")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "unattended_purge: false" in err
    assert count_rows() == before


def test_all_due_purges_everything_due_when_the_policy_allows_it(runtime, estate, count_rows, audit_events):

    allowed = replace(runtime.policy, retention=replace(runtime.policy.retention, unattended_purge=True))
    before = count_rows()
    (result,) = purge_mod.purge_all_due(
        database=runtime.database, envelope=runtime.envelope, policy=allowed, actor=SYSTEM, ledgers=runtime.ledgers,
        batch_size=10,
    )
    assert result.status == "completed" and result.counts["records"] == 3 * 11 + 3 * 2
    assert before[2] - count_rows()[2] == 39
    with runtime.database.unit_of_work() as session:
        run = session.get(Run, result.run_id)
        assert (run.mode, run.approved_by) == ("all_due", purge_mod.UNATTENDED_APPROVER)
    actions = [e.action for e in audit_events() if e.action.startswith("retention:run:")]
    assert actions == ["retention:run:start", "retention:run:finish"]


def test_the_cli_plans_approves_and_purges(runtime, estate, plan):
    from govern.identity import staff

    with runtime.database.unit_of_work() as session:
        staff.create(session=session, policy=runtime.policy, actor=SYSTEM, name="dpo.maker", roles=["dpo"], password="correct horse battery staple")
    saved = _cli(runtime, "plan", "--save", "--json", "--as", "dpo.maker", "--password-stdin")
    out, err = saved.communicate("correct horse battery staple\n", timeout=60)
    assert saved.returncode == 0, err
    import json

    plan_id = json.loads(out)["id"]
    own = _cli(runtime, "approve", plan_id, "--as", "dpo.maker", "--password-stdin")
    _, err = own.communicate("correct horse battery staple\n", timeout=60)
    assert own.returncode == 1 and "someone other than" in err  # the same person made it
    with runtime.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=runtime.policy, actor=APPROVER, plan_id=uuid.UUID(plan_id))
    proc = _cli(runtime, "purge", "--plan", plan_id, "--batch-size", "50")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "39 record(s) purged" in out and "3 subject(s) shredded" in out
    assert "purged 45/45 items (100.0%)" in err  # the progress line: rows done, rate, time left
    runs = _cli(runtime, "runs")
    out, _ = runs.communicate(timeout=60)
    assert "completed" in out and "bob" in out
