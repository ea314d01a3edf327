"""A restore cannot bring back what the law removed: every retention purge goes into a ledger beside the erasure
tombstones, fsynced before its batch commits, and `govern restore` replays it (like the tombstones) before anything
is served. A restore without its ledgers is refused, unless the operator says why — and that is audited."""

import json
import shutil
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from govern.cli import main
from govern.cli_support import initialise
from govern.identity.actor import Actor
from govern.ledgers import Ledger
from govern.retention import ledger
from govern.subject_requests.cli import reapply_all
from govern.subjects import erasure
from govern.subjects.models import ProfileField, Subject
from govern.timeutil import utcnow
from tests.backups import backup
from tests.retention.conftest import days

OLD = 3 * 365 + 5


def _env(runtime) -> dict:
    return {"GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url,
            "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_LOG_LEVEL": "WARNING"}


def _restore(runtime, source, *args):
    """`govern restore SOURCE --yes …`, in process, with this process's pooled connections and cached keys dropped."""
    runtime.database.engine.dispose()
    result = CliRunner().invoke(main, ["restore", str(source), "--yes", *args], env=_env(runtime))
    runtime.envelope.cache.clear()
    return result


@pytest.fixture
def purged(runtime, make_subject, add_records, plan, approve, purge, tmp_path):
    """A customer with two expired purchases and a recent one, and a dormant customer due to be shredded: backed up,
    then purged."""
    customer = make_subject(fields={"name": "客户", "mobile": "13812340001"})
    expired = add_records(customer, "purchase", [OLD, OLD + 1])
    recent = add_records(customer, "purchase", [30])
    dormant = make_subject(fields={"name": "旧客"})
    dormant_records = add_records(dormant, "purchase", [OLD])
    with runtime.database.unit_of_work() as session:
        session.execute(update(Subject).where(Subject.id == dormant).values(updated_at=utcnow() - days(OLD)))
    snapshot = backup(runtime, tmp_path / "before-the-purge.backup")
    _, plan_id = plan()
    approve(plan_id)
    result = purge(plan_id)
    assert result.counts["records"] == 3 and result.counts["subjects"] == 1
    return SimpleNamespace(
        customer=customer, expired=expired, recent=recent, dormant=dormant, dormant_records=dormant_records, snapshot=snapshot, plan_id=plan_id,
        run_id=result.run_id,
    )


@pytest.fixture
def ledger_aside(runtime, tmp_path):
    """set_aside(name) moves a ledger out of GOVERN_HOME for the test; put back afterwards, as it was."""
    moved = []

    def set_aside(name: str):
        path = runtime.ledgers.by_name(name).path
        target = tmp_path / f"aside-{path.name}"
        shutil.move(path, target)
        moved.append((target, path))
        return path

    yield set_aside
    for target, path in moved:
        shutil.move(target, path)


def test_a_restore_removes_again_what_a_purge_removed_after_the_backup(runtime, purged, inventory, audit_events):
    restored = _restore(runtime, purged.snapshot, "--json")
    assert restored.exit_code == 0, restored.output
    lines = restored.stdout.splitlines()  # log lines of other modules may come first
    said = json.loads("\n".join(lines[lines.index("{"):]))
    assert (said["shredded_again"], said["purged_again"]) == (1, 2)  # the dormant customer by its tombstone, two purchases by the ledger
    assert set(inventory(purged.customer)[1]) == set(purged.recent)
    assert inventory(purged.dormant) is None
    erased = [e for e in audit_events(action=erasure.ErasureAction.RECORDS_ERASE) if e.reason == ledger.REPLAY_REASON]
    assert {e.subject_id for e in erased} == {purged.customer}
    assert all(e.resource == f"retention_run:{purged.run_id}" for e in erased)
    [summary] = audit_events(action=ledger.LedgerAction.REPLAY)
    # After the restore's own checkpoint event (when the audit log records restores), never before it.
    restore_events = [e.id for e in audit_events(action="audit:log:restore")]
    assert all(summary.id > r and min(e.id for e in erased) > r for r in restore_events)


def test_replaying_the_ledger_twice_changes_nothing_more(runtime, purged, inventory, audit_events):
    assert _restore(runtime, purged.snapshot).exit_code == 0
    before = len(audit_events())
    again = reapply_all(runtime)
    assert again["purged_again"] == 0 and again["shredded_again"] == 0
    assert len(audit_events()) == before
    assert set(inventory(purged.customer)[1]) == set(purged.recent)


def test_every_purged_item_is_in_the_ledger_with_its_outcome_and_no_personal_data(runtime, purged):
    purges = runtime.ledgers.purges
    path = purges.path
    mine = [e for e in ledger.to_replay(purges) if e["plan_id"] == str(purged.plan_id)]
    assert {uuid.UUID(r[1]) for e in mine for r in e["records"]} == set(purged.expired) | set(purged.dormant_records)
    assert {uuid.UUID(s[0]) for e in mine for s in e["subjects"]} == {purged.dormant}
    assert ledger.unresolved(purges, plan_id=purged.plan_id) == []
    text = path.read_text()
    assert "客户" not in text and "13812340001" not in text and "旧客" not in text
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["tombstones", "purges", "request-erasures"])
def test_a_restore_without_a_ledger_is_refused_and_changes_nothing(runtime, purged, inventory, ledger_aside, name):
    missing = ledger_aside(name)
    refused = _restore(runtime, purged.snapshot)
    assert refused.exit_code == 2
    assert f"{missing.name} missing" in refused.output and "--accept-missing-ledgers" in refused.output
    assert set(inventory(purged.customer)[1]) == set(purged.recent)  # the database was not replaced
    assert not missing.exists()


def test_the_override_is_audited_with_its_reason_and_starts_the_ledger_again(runtime, purged, ledger_aside, audit_events):
    missing = ledger_aside("purges")
    done = _restore(runtime, purged.snapshot, "--accept-missing-ledgers", "host lost in DC fire, INC-2291")
    assert done.exit_code == 0, done.output
    assert "restored without purges.jsonl (audited)" in done.output
    [event] = audit_events(action=ledger.LedgerAction.ACCEPT_MISSING)
    assert (event.reason, event.resource, event.outcome) == ("host lost in DC fire, INC-2291", "ledgers:purges.jsonl", "allowed")
    assert missing.is_file() and missing.read_text() == ""


@pytest.mark.parametrize("reason", ["", "   ", "call 13812345678 about it", "x" * 65])
def test_an_override_without_a_fit_reason_is_refused(runtime, purged, ledger_aside, inventory, reason):
    ledger_aside("tombstones")
    refused = _restore(runtime, purged.snapshot, "--accept-missing-ledgers", reason)
    assert refused.exit_code == 2 and "--accept-missing-ledgers" in refused.output
    assert set(inventory(purged.customer)[1]) == set(purged.recent)


def test_init_starts_empty_ledgers_only_where_the_database_has_nothing_they_would_hold(runtime, make_subject, ledger_aside):
    for path in (lg.path for lg in runtime.ledgers.all()):
        assert path.is_file() and path.stat().st_mode & 0o777 == 0o600
    tombstones = ledger_aside("tombstones")
    initialise(runtime.settings)  # no erasure in the database: a new, empty ledger loses nothing
    assert tombstones.is_file() and tombstones.read_text() == ""
    tombstones.unlink()
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request")
    initialise(runtime.settings)  # the database holds an erasure the file should have: missing stays missing
    assert not tombstones.exists()
    tombstones.touch(mode=0o600)  # for ledger_aside to put the original back over


def test_a_batch_line_is_replayed_unless_its_run_resumed_and_found_it_rolled_back(tmp_path):
    path = Ledger("purges", tmp_path / "purges.jsonl")
    path.create_empty()
    plan_id = uuid.uuid4()

    def line(first, last):
        entry = ledger.batch_entry(run_id=7, plan_id=plan_id, first_seq=first, last_seq=last, purged_at=utcnow(), fields=[], records=[], subjects=[])
        path.append(entry)
        return entry["id"]

    committed, crashed_after, crashed_before = line(1, 4), line(5, 8), line(9, 12)
    path.append(ledger.outcome_entry(next(e for e in ledger.read(path) if e.get("id") == committed), ledger.COMMITTED))
    assert {e["id"] for e in ledger.to_replay(path)} == {committed, crashed_after, crashed_before}  # unresolved: replayed
    assert ledger.resolve(path, plan_id=plan_id, cursor=8) == 2  # the run's cursor passed 8, not 12
    assert {e["id"] for e in ledger.to_replay(path)} == {committed, crashed_after}
    assert ledger.resolve(path, plan_id=plan_id, cursor=8) == 0
    assert ledger.unresolved(path, plan_id=uuid.uuid4()) == []


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_line_stays_whole(tmp_path):
    path = Ledger("purges", tmp_path / "purges.jsonl")
    entry = ledger.batch_entry(run_id=1, plan_id=uuid.uuid4(), first_seq=1, last_seq=2, purged_at=utcnow(), fields=[], records=[], subjects=[])
    path.path.write_text(json.dumps(entry)[:40])  # the process died inside this write: its batch never committed
    path.append(entry)
    assert [e["id"] for e in ledger.read(path)] == [entry["id"]]


def test_a_field_collected_again_after_the_purge_is_not_removed_by_the_replay(runtime, make_subject, tmp_path, audit_events):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        collected = session.scalar(select(ProfileField.updated_at).where(ProfileField.subject_id == sid, ProfileField.name == "mobile"))
    path = Ledger("purges", tmp_path / "purges.jsonl")
    path.create_empty()
    for name, purged_at in (("mobile", collected - timedelta(days=1)), ("email", utcnow() + timedelta(seconds=1))):
        entry = ledger.batch_entry(run_id=3, plan_id=uuid.uuid4(), first_seq=1, last_seq=1, purged_at=purged_at, fields=[(sid, name, "contact")], records=[], subjects=[])
        path.append(entry)
        path.append(ledger.outcome_entry(entry, ledger.COMMITTED))
    result = ledger.replay(database=runtime.database, envelope=runtime.envelope, actor=Actor.operator(), purges=path)
    assert (result.batches, result.fields) == (2, 1)
    with runtime.database.unit_of_work() as session:
        names = set(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == sid)))
    assert "mobile" in names and "email" not in names
    [event] = [e for e in audit_events(action=erasure.ErasureAction.FIELDS_ERASE) if e.reason == ledger.REPLAY_REASON]
    assert (event.subject_id, event.field_names) == (sid, "email")


def test_a_purge_without_its_ledger_is_refused_and_the_ledger_is_not_quietly_created(
    runtime, make_subject, add_records, plan, approve, purge, inventory, ledger_aside, audit_events,
):
    from govern.retention.purge import PurgeRefused

    sid = make_subject()
    add_records(sid, "purchase", [OLD])
    _, plan_id = plan()
    approve(plan_id)
    missing = ledger_aside("purges")
    with pytest.raises(PurgeRefused, match="purges.jsonl is missing"):
        purge(plan_id)
    assert len(inventory(sid)[1]) == 1 and not missing.exists()  # a re-created ledger would look whole to a restore
    restarted = CliRunner().invoke(main, ["retention", "restart-ledger", "--reason", "disk replaced, INC-88"], env=_env(runtime))
    assert restarted.exit_code == 0, restarted.output
    [event] = audit_events(action=ledger.LedgerAction.ACCEPT_MISSING)
    assert (event.reason, event.resource) == ("disk replaced, INC-88", "ledgers:purges.jsonl")
    assert purge(plan_id).counts["records"] == 1
    assert len(ledger.to_replay(runtime.ledgers.purges)) == 1


@pytest.mark.parametrize("name", ["tombstones", "request-erasures"])
def test_an_erasure_without_its_ledger_is_refused_and_changes_nothing(runtime, make_subject, ledger_aside, audit_events, name):
    from govern.crypto.models import SubjectKey
    from govern.errors import Problem
    from govern.subject_requests import flows

    sid = make_subject()
    missing = ledger_aside(name)
    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        if name == "tombstones":
            erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request",
                          ledger=runtime.ledgers.tombstones)
        else:
            flows._stage_erasure(session, runtime.ledgers.request_erasures, SimpleNamespace(id=uuid.uuid4(), subject_id=sid, type="erasure"), utcnow(),
                                 set(), set(), {"email"}, None)
    assert (refused.value.status, refused.value.code) == (503, "ledger_missing") and missing.name in refused.value.detail
    assert not missing.exists()
    with runtime.database.unit_of_work() as session:
        assert session.get(SubjectKey, sid) is not None  # the shredding rolled back with its missing tombstone
    restarted = CliRunner().invoke(main, ["retention", "restart-ledger", "--ledger", name, "--reason", "volume lost, INC-90"], env=_env(runtime))
    assert restarted.exit_code == 0, restarted.output
    assert missing.is_file() and [e.resource for e in audit_events(action=ledger.LedgerAction.ACCEPT_MISSING)] == [f"ledgers:{missing.name}"]


def test_a_purge_without_the_tombstone_file_is_refused_before_it_starts(runtime, make_subject, add_records, plan, approve, purge, ledger_aside):
    from govern.retention.purge import PurgeRefused

    add_records(make_subject(), "purchase", [OLD])
    _, plan_id = plan()
    approve(plan_id)
    ledger_aside("tombstones")
    with pytest.raises(PurgeRefused, match="tombstones.jsonl is missing"):
        purge(plan_id)
    from govern.retention.models import Run

    with runtime.database.unit_of_work() as session:
        assert session.scalars(select(Run)).all() == []


def test_readiness_names_a_missing_ledger_without_taking_reads_out_of_service(app, ledger_aside):
    client = app.test_client()
    assert client.get("/readyz").json["checks"]["ledgers"] == {"ok": True, "gating": False}
    ledger_aside("purges")
    r = client.get("/readyz")
    assert r.json["checks"]["ledgers"] == {"ok": False, "gating": False, "missing": ["purges.jsonl"]}


def test_serves_start_looks_only_at_batches_its_database_has_not_committed(runtime, purged, inventory):
    from tests.backups import restore

    at_start = dict(database=runtime.database, envelope=runtime.envelope, actor=Actor.operator(), purges=runtime.ledgers.purges,
                    skip_committed_here=True)
    lines = ledger.to_replay(at_start["purges"])  # this session's ledger holds other tests' runs too, gone from the database
    mine = [e for e in lines if e["plan_id"] == str(purged.plan_id)]
    assert mine and ledger.replay(**at_start).batches == len(lines) - len(mine)  # this database's own run committed them
    restore(runtime, purged.snapshot)  # restored by hand, without `govern restore`: the old database has no such run
    again = ledger.replay(**at_start)
    assert (again.records, again.subjects) == (3, 1)  # the tombstones were not replayed first here: the ledger shreds too
    assert set(inventory(purged.customer)[1]) == set(purged.recent) and inventory(purged.dormant) is None
