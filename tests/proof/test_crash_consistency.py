"""Crash consistency: a retention purge, a master-key rotation, an erasure and an access-package export are each killed
with SIGKILL part-way (the process gets no chance to clean up), then restarted the way an operator would and
finished. Afterwards nothing that should be kept is lost, nothing that should be gone is kept, every live subject
reads back exactly what was stored, and the audit log seals and verifies from the first event to the last.

The jobs run as separate processes against the test database: the purge and the rotation through the `govern`
command line (with --pause, so the kill lands between batches), the erasure and the package through a small worker
that runs the requests workflow the way the API does, one transaction per request, and that can be made to stop
at the worst moments (after the erasure's pending line is in the ledger outside the database, before its transaction
commits; after the commit, before the ledger says so; after the package is built, before its audit event commits).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from govern.config import PROJECT_ROOT
from govern.identity.actor import Actor
from govern.timeutil import utcnow
from tests.conftest import VALID_FIELDS, fixture_collection

pytestmark = pytest.mark.slow

CRM = Actor(name="crm-crash", kind="service", roles=("sales_service",), principal_id=uuid.UUID(int=10))  # sees the requests it files
MAKER = Actor(name="crash-privacy-staff", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=11))
APPROVER = Actor(name="crash-dpo", kind="staff", roles=("dpo",), principal_id=uuid.UUID(int=12))
READER = Actor(name="crash-reader", kind="staff", roles=("dpo",))
EXPIRED = 3 * 365 + 10  # days: past the purchase records' retention

# The requests worker: completes erasure requests or builds access packages, one transaction per request, as the API
# views do. CRASH_AT=pending stops after the erasure's pending tombstone line is fsynced (before the commit);
# CRASH_AT=committed stops after the commit, before the ledger's outcome line; CRASH_AT=package stops after the zip is
# built (before its audit event commits). It prints one line per step.
WORKER = r"""
import json, sys, time, uuid
from pathlib import Path
from govern.runtime import build_runtime
from govern.config import Settings
from govern.identity.actor import Actor
from govern import ledgers
from govern.subject_requests import flows

mode, crash_at, out_dir, ids = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
rt = build_runtime(Settings.from_env())
staff = Actor(name="crash-worker", kind="staff", roles=("privacy_staff",))

def stop_here(label):
    print(label, flush=True)
    time.sleep(120)  # the test kills the process here

if crash_at == "pending":
    original = ledgers.Ledger.stage
    def stage_then_stop(self, session, entry):
        line = original(self, session, entry)
        if self.name == "tombstones":
            stop_here("PENDING-WRITTEN")
        return line
    ledgers.Ledger.stage = stage_then_stop
if crash_at == "committed":
    original_settle = ledgers._settle_staged
    def stop_before_outcome(session, state):
        if state == ledgers.COMMITTED and session.info.get(ledgers._STAGED):
            stop_here("COMMITTED")
        original_settle(session, state)
    ledgers._settle_staged = stop_before_outcome
if crash_at == "package":
    original_zip = flows._zip
    def zip_then_stop(*args):
        content = original_zip(*args)
        stop_here("PACKAGE-BUILT")
        return content
    flows._zip = zip_then_stop

for rid in ids:
    with rt.database.unit_of_work() as session:
        if mode == "erase":
            req = flows.requests.get_or_raise(session=session, request_id=uuid.UUID(rid))
            if req.state != "in_progress":
                continue
            flows.complete(session=session, policy=rt.policy, envelope=rt.envelope, actor=staff, request_id=req.id, ledgers=rt.ledgers)
        else:
            pkg = flows.package(session=session, policy=rt.policy, envelope=rt.envelope, actor=staff, request_id=uuid.UUID(rid))
    if mode == "package":
        (out_dir / pkg.filename).write_bytes(pkg.content)  # delivered only once its audit event has committed
    print("DONE", rid, flush=True)
rt.database.dispose()
"""


# --- running and killing the jobs -------------------------------------------------------------------------------


def _env(runtime) -> dict[str, str]:
    s = runtime.settings
    return {**os.environ, "GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_POLICIES": str(s.policies_dir), "GOVERN_LOG_LEVEL": "WARNING"}


def _start(runtime, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *argv], cwd=PROJECT_ROOT, env=_env(runtime), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli(runtime, *args: str) -> subprocess.Popen:
    return _start(runtime, "-m", "govern.cli", *args)


def _finish(proc: subprocess.Popen, timeout: float = 90) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
    return out


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 40) -> None:
    """SIGKILL the job as soon as `ready()` is true (polled), and reap it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.03)
    assert proc.poll() is None, f"the job ended before it could be killed: {proc.communicate()[1][-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _kill_at_line(proc: subprocess.Popen, label: str, timeout: float = 40) -> list[str]:
    """Reads the worker's lines until `label`, then SIGKILLs it; returns the lines before it."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip() == label:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
            return seen
        seen.append(line.strip())
    proc.kill()
    raise AssertionError(f"the worker never reached {label}: {seen} {proc.communicate()[1][-2000:]}")


def _restart(runtime) -> None:
    """What `govern serve` does before it serves (re-applies erasures), and the in-process caches a restart empties."""
    out = subprocess.run([sys.executable, "-m", "govern.cli", "tombstones", "reapply", "--json"], cwd=PROJECT_ROOT, env=_env(runtime),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    runtime.envelope.cache.clear()
    runtime.keyring.reload_if_changed(every_seconds=0)


# --- the estate and the invariants --------------------------------------------------------------------------------


def _subject(runtime, i: int, *, records: int = 0, age_days: float = 1) -> tuple[uuid.UUID, dict[str, str]]:
    from govern.subjects import service

    fields = {**VALID_FIELDS, "name": f"客户{i}", "email": f"crash{i}@example.cn", "mobile": f"1391234{i:04d}"}
    now = utcnow()
    with runtime.database.unit_of_work() as session:
        sid = service.create(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, jurisdiction="CN", fields=fields, collection=fixture_collection("CN")).id
        for k in range(records):
            service.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                               occurred_at=now - timedelta(days=age_days + k), payload={"order": f"o-{i}-{k}"})
    return sid, fields


def _add_purchases(runtime, sid: uuid.UUID, ages: list[float]) -> set[uuid.UUID]:
    from govern.subjects import service

    now = utcnow()
    with runtime.database.unit_of_work() as session:
        return {
            service.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                               occurred_at=now - timedelta(days=age), payload={"age": age}).id
            for age in ages
        }


def _stored(runtime, sid: uuid.UUID) -> tuple[set[str], set[uuid.UUID]] | None:
    from govern.subjects.models import ProfileField, Record, Subject

    with runtime.database.unit_of_work() as session:
        if session.get(Subject, sid) is None:
            return None
        names = set(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == sid)))
        return names, set(session.scalars(select(Record.id).where(Record.subject_id == sid)))


def assert_live_and_exact(runtime, expected: dict[uuid.UUID, dict[str, str]], records: dict[uuid.UUID, set[uuid.UUID]] | None = None) -> None:
    """Every subject that should live reads back exactly its stored values (decrypted with the current keys), and
    holds exactly the records it should."""
    from govern.access import reads

    runtime.envelope.cache.clear()
    with runtime.database.unit_of_work() as session:
        for sid, fields in expected.items():
            view = reads.read(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=READER, subject_id=sid, purpose="legal_compliance")
            assert view.fields == {**fields}, f"subject {sid} does not read back what was stored"
    for sid, ids in (records or {}).items():
        stored = _stored(runtime, sid)
        assert stored is not None and stored[1] == ids, f"subject {sid}: records {stored and len(stored[1])} instead of {len(ids)}"


def assert_gone(runtime, sids) -> None:
    """Erased means erased: no subject row, no data key, no field, no record; a tombstone in the database and in the file."""
    from govern.crypto.models import SubjectKey
    from govern.subjects import erasure
    from govern.subjects.models import ProfileField, Record, Subject

    in_file = {uuid.UUID(t["subject_id"]) for t in erasure.tombstones(runtime.ledgers.tombstones)}
    with runtime.database.unit_of_work() as session:
        for sid in sids:
            assert session.get(Subject, sid) is None and session.get(SubjectKey, sid) is None
            for model in (ProfileField, Record):
                assert session.scalar(select(func.count()).select_from(model).where(model.subject_id == sid)) == 0
            assert erasure.is_erased(session=session, subject_id=sid) and sid in in_file


def assert_audit_verifies(runtime, folder) -> None:
    """Seal everything, sign a checkpoint, and walk the whole chain: every event is in it and it verifies. The
    checkpoints go to this test's own folder (the session's home outlives each test's database)."""
    from dataclasses import replace

    from govern.audit import chain, checkpoints, integrity
    from govern.audit.models import AuditChainEntry, AuditEvent

    settings = replace(runtime.settings, checkpoint_dir=folder / "checkpoints")
    chain.seal(database=runtime.database, full=True)
    checkpoints.issue(database=runtime.database, settings=settings)
    report = integrity.verify_live(database=runtime.database, settings=settings)
    assert report.ok, report.render()
    with runtime.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == session.scalar(select(func.count()).select_from(AuditChainEntry))


# --- the retention purge ------------------------------------------------------------------------------------------


def test_a_purge_killed_mid_way_and_rerun_deletes_exactly_what_was_due(runtime, tmp_path):
    from govern.retention import service as retention
    from govern.retention.models import Run
    from govern.subjects.models import Subject

    live, keep_records = {}, {}
    for i in range(10):  # three expired purchases each (go) and one recent (stays)
        sid, fields = _subject(runtime, i)
        _add_purchases(runtime, sid, [EXPIRED, EXPIRED + 1, EXPIRED + 2])
        keep_records[sid] = _add_purchases(runtime, sid, [30])
        live[sid] = fields
    held, held_fields = _subject(runtime, 50)
    keep_records[held] = _add_purchases(runtime, held, [EXPIRED, EXPIRED + 1, 30])
    live[held] = held_fields
    dormant = []
    for i in range(3):  # nothing recent at all: the whole subject is due and is shredded
        sid, _ = _subject(runtime, 60 + i)
        _add_purchases(runtime, sid, [EXPIRED, EXPIRED])
        dormant.append(sid)
    with runtime.database.unit_of_work() as session:
        session.execute(update(Subject).where(Subject.id.in_(dormant)).values(updated_at=utcnow() - timedelta(days=EXPIRED)))
        retention.place_hold(session=session, policy=runtime.policy, actor=MAKER, subject_id=held, reason="litigation")
    with runtime.database.unit_of_work() as session:
        plan_id = retention.make_plan(session=session, policy=runtime.policy, actor=MAKER, save=True).plan.id
    with runtime.database.unit_of_work() as session:
        retention.approve_plan(session=session, policy=runtime.policy, actor=APPROVER, plan_id=plan_id)

    def run():
        with runtime.database.unit_of_work() as session:
            return session.scalars(select(Run).where(Run.plan_id == plan_id)).first()

    proc = _cli(runtime, "retention", "purge", "--plan", str(plan_id), "--batch-size", "2", "--pause", "0.15")
    _kill_when(proc, lambda: (r := run()) is not None and r.cursor >= 6)
    half = run()
    assert half.status == "running" and 6 <= half.cursor < half.total  # genuinely killed mid-way
    assert_live_and_exact(runtime, live)  # readable while half-purged

    _restart(runtime)
    _finish(_cli(runtime, "retention", "purge", "--plan", str(plan_id), "--batch-size", "5", "--json"))
    done = run()
    assert (done.status, done.attempts, done.cursor) == ("completed", 2, done.total)
    assert done.counts["records"] == 10 * 3 + 3 * 2
    assert_live_and_exact(runtime, live, keep_records)  # the recent and the held records stayed; every expired one went
    assert_gone(runtime, dormant)
    assert_audit_verifies(runtime, tmp_path)


# --- the master-key rotation -------------------------------------------------------------------------------------


def test_a_key_rotation_killed_mid_way_and_rerun_leaves_every_subject_readable_under_the_new_key(runtime, tmp_path):
    from govern.crypto.models import SubjectKey

    live = dict(_subject(runtime, i) for i in range(60))
    start = runtime.keyring.active_version

    def versions():
        with runtime.database.unit_of_work() as session:
            return dict(session.execute(select(SubjectKey.master_key_version, func.count()).group_by(SubjectKey.master_key_version)).all())

    proc = _cli(runtime, "keys", "rotate", "--batch-size", "5", "--pause", "0.1")
    _kill_when(proc, lambda: 0 < versions().get(start, 0) < 60)
    assert len(versions()) == 2  # half on the old master key, half on the new
    _restart(runtime)
    assert_live_and_exact(runtime, live)  # the old version still decrypts what was not rewrapped yet

    result = json.loads(_finish(_cli(runtime, "keys", "rotate", "--json")))
    assert result["resumed"] is True and result["version"] == start + 1
    assert versions() == {start + 1: 60}
    _restart(runtime)
    assert_live_and_exact(runtime, live)
    assert_audit_verifies(runtime, tmp_path)


# --- erasure ---------------------------------------------------------------------------------------------------------


def _verified_request(runtime, sid: uuid.UUID, rtype: str) -> uuid.UUID:
    from govern.subject_requests import service

    with runtime.database.unit_of_work() as session:
        rid = service.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type=rtype, channel="app").request.id
    with runtime.database.unit_of_work() as session:
        assert service.verify(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, request_id=rid, method="crm_session", reference="sess-crash").verified
    return rid


def _request(runtime, rid: uuid.UUID):
    from govern.subject_requests import service

    with runtime.database.unit_of_work() as session:
        req = service.get_or_raise(session=session, request_id=rid)
        session.expunge(req)
        return req


def _tombstone_states(runtime, sid: uuid.UUID) -> list[str]:
    """The outcome of each tombstone line of the subject, in order: committed, rolled_back, or pending (none yet)."""
    entries = runtime.ledgers.tombstones.read()
    outcomes = {e["of"]: e["state"] for e in entries if "of" in e}
    return [outcomes.get(e["id"], "pending") for e in entries if e.get("subject_id") == str(sid) and "id" in e]


def test_an_erasure_killed_between_its_ledger_line_and_its_commit_is_settled_rolled_back_and_finishes_on_retry(runtime, tmp_path):
    erase = [_subject(runtime, i)[0] for i in range(4)]
    keep = dict(_subject(runtime, 10 + i) for i in range(2))
    rids = [_verified_request(runtime, sid, "erasure") for sid in erase]

    # The first erasure commits; the second is killed after its pending line reached the ledger, before its commit.
    first = _start(runtime, "-c", WORKER, "erase", "none", str(tmp_path), str(rids[0]))
    _finish(first)
    assert _tombstone_states(runtime, erase[0]) == ["committed"]
    crashing = _start(runtime, "-c", WORKER, "erase", "pending", str(tmp_path), *map(str, rids[1:]))
    _kill_at_line(crashing, "PENDING-WRITTEN")
    assert _request(runtime, rids[1]).state == "in_progress"  # its transaction died with the process
    assert _tombstone_states(runtime, erase[1]) == ["pending"]

    _restart(runtime)  # settles the line against the database it ran on: no tombstone there, so it rolled back
    assert _tombstone_states(runtime, erase[1]) == ["rolled_back"]
    assert _stored(runtime, erase[1]) is not None  # nothing claims an erasure the database did not make
    _finish(_start(runtime, "-c", WORKER, "erase", "none", str(tmp_path), *map(str, rids[1:])))
    for rid in rids:
        req = _request(runtime, rid)
        assert req.state == "completed" and req.response["certificate"]["subject_status"] == "erased", (rid, req.state, req.response)
    assert _tombstone_states(runtime, erase[1]) == ["rolled_back", "committed"]
    assert_gone(runtime, erase)
    assert_live_and_exact(runtime, keep)
    assert_audit_verifies(runtime, tmp_path)


@pytest.mark.parametrize("recovery", ["restart then restore", "restore at once"])
def test_an_erasure_killed_after_its_commit_before_the_ledger_says_so_is_durable_and_survives_a_restore(runtime, tmp_path, recovery):
    from tests.backups import backup

    sid, _ = _subject(runtime, 1)
    keep = dict([_subject(runtime, 2)])
    rid = _verified_request(runtime, sid, "erasure")
    snapshot = backup(runtime, tmp_path / "before-the-erasure.backup")

    crashing = _start(runtime, "-c", WORKER, "erase", "committed", str(tmp_path), str(rid))
    _kill_at_line(crashing, "COMMITTED")
    assert _request(runtime, rid).state == "completed"  # committed ...
    assert _tombstone_states(runtime, sid) == ["pending"]  # ... and the ledger has its line, not yet its outcome

    if recovery == "restart then restore":
        _restart(runtime)  # settled against the database it ran on: its tombstone is there
        assert _tombstone_states(runtime, sid) == ["committed"]
    # `govern restore` from a backup older than the erasure: (still pending: settled against the old database first,)
    # then the erasure is applied again before anything is served.
    runtime.database.engine.dispose()
    out = _finish(_cli(runtime, "restore", str(snapshot), "--yes", "--json"))
    said = json.loads(out[out.index("{"):])
    runtime.envelope.cache.clear()
    assert said["shredded_again"] == 1
    assert _tombstone_states(runtime, sid) == ["committed"]
    assert_gone(runtime, [sid])
    assert_live_and_exact(runtime, keep)


# --- the access package -------------------------------------------------------------------------------------------


def test_an_access_package_killed_before_its_commit_is_built_again_whole_and_recorded_once(runtime, tmp_path, audit_events):
    sid, fields = _subject(runtime, 1, records=40, age_days=5)
    other, other_fields = _subject(runtime, 2, records=3)
    rid = _verified_request(runtime, sid, "access")
    delivered = tmp_path / "delivered"
    delivered.mkdir()

    crashing = _start(runtime, "-c", WORKER, "package", "package", str(delivered), str(rid))
    _kill_at_line(crashing, "PACKAGE-BUILT")
    assert list(delivered.iterdir()) == []  # nothing was delivered
    assert not [e for e in audit_events(action="requests:package:create") if str(rid) in (e.resource or "")]  # nor claimed

    _restart(runtime)
    _finish(_start(runtime, "-c", WORKER, "package", "none", str(delivered), str(rid)))
    (package,) = delivered.iterdir()
    content = package.read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        doc = json.loads(z.read("data.json"))
    assert {f["name"]: f["value"] for f in doc["fields"]} == fields
    assert len(doc["records"]) == 40 and doc["subject"]["id"] == str(sid)
    events = [e for e in audit_events() if e.action == "requests:package:create" and str(rid) in (e.resource or "")]
    assert len(events) == 1 and events[0].resource.endswith(runtime.envelope.keyed_digest("request-package", str(rid), content))
    assert_live_and_exact(runtime, {sid: fields, other: other_fields})
    assert_audit_verifies(runtime, tmp_path)
