"""At the end of retention a period's audit events leave the database through a verified archive (issue 20): exported
in the auditor's format, verified, then the partition dropped (PostgreSQL) or the rows deleted (SQLite) under a signed
purge checkpoint naming the archive. Nothing goes when the archive does not verify, the retention has not run, or no
signed checkpoint covers the period; `govern audit verify` and inclusion proofs reach into the archives."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from govern.audit import archive, checkpoints, export, integrity, partitions
from govern.audit import verifier as verify
from govern.audit.models import AuditEvent
from govern.audit.policy import AuditPolicy
from govern.identity.actor import Actor

POLICY = AuditPolicy(retention_days=365, archive=True)


@pytest.fixture
def archive_settings(audit_settings, tmp_path):
    return dataclasses.replace(audit_settings, archive_dir=tmp_path / "archive")


def _partition_for(runtime, when) -> None:
    """On PostgreSQL, the month of `when` gets its own partition (as the audit_partitions job would have made it)."""
    if runtime.database.dialect == "postgresql":
        with runtime.database.engine.begin() as conn:
            conn.execute(text("SELECT govern_audit_add_partition('month', :at)"), {"at": when})


@pytest.fixture
def old_and_new(runtime, record_events, checkpoint, long_ago):
    """Five events and a checkpoint 400 days old (past the 365 days kept), three recent events and a checkpoint."""
    with long_ago(400) as then:
        _partition_for(runtime, then)
        record_events(5)
        checkpoint()
    record_events(3)
    checkpoint()
    return then


def _events(runtime) -> int:
    with runtime.database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def _run(runtime, settings, policy=POLICY):
    return archive.run(database=runtime.database, settings=settings, policy=policy, actor=Actor.operator())


def test_a_period_past_retention_is_archived_verified_and_its_partition_dropped(old_and_new, runtime, archive_settings, is_postgres):
    period = archive.Period(partitions.period_start(old_and_new, "month"), partitions.next_start(partitions.period_start(old_and_new, "month"), "month"))
    with runtime.database.unit_of_work() as session:
        before = [p.name for p in partitions.listing(session)]
    result = _run(runtime, archive_settings)
    assert result.refused is None
    [done] = result.archived
    assert (done.period, done.events, done.first_seq) == (period.name, 5, 1)
    assert done.through_seq >= 5 and done.exported == done.through_seq
    if is_postgres:
        name = f"audit_events_{period.start:%Y%m%d}"
        assert done.dropped_partition == name and name in before
        with runtime.database.unit_of_work() as session:
            assert name not in [p.name for p in partitions.listing(session)]
    assert _events(runtime) == 3 + 1  # the recent three and the archive run's own event
    # The auditor's verifier accepts the archive on its own; the signed statement names it.
    folder = archive_settings.audit_archive_dir / period.name
    offline = verify.verify_export(folder, [archive_settings.audit_checkpoint_dir])
    assert offline.ok, offline.render()
    statement = checkpoints.read_folder(archive_settings)[-1]["body"]
    assert statement["kind"] == "purge" and statement["purge"]["archive"]["folder"] == period.name
    assert statement["purge"]["events"] == 5 and statement["number"] == done.statement


def test_verify_spans_the_archives_and_the_live_table(old_and_new, runtime, archive_settings):
    _run(runtime, archive_settings)
    report = integrity.verify_live(database=runtime.database, settings=archive_settings)
    assert report.ok, report.render()
    assert any("archive(s)" in note and "verified" in note for note in report.notes), report.notes


def test_verify_fails_when_an_archive_is_edited_or_gone(old_and_new, runtime, archive_settings):
    [done] = _run(runtime, archive_settings).archived
    events = archive_settings.audit_archive_dir / done.period / export.EVENTS_FILE
    events.write_bytes(events.read_bytes().replace(b'"purpose":"customer_service"', b'"purpose":"marketing_xxxxxxx"', 1))
    edited = integrity.verify_live(database=runtime.database, settings=archive_settings)
    assert not edited.ok and archive.ARCHIVE_MISMATCH in [f.kind for f in edited.findings]
    for f in events.parent.iterdir():
        f.unlink()
    events.parent.rmdir()
    gone = integrity.verify_live(database=runtime.database, settings=archive_settings)
    assert [f.kind for f in gone.findings] == [archive.ARCHIVE_MISSING]


def test_an_inclusion_proof_of_an_archived_event_reads_it_from_the_archive(old_and_new, runtime, archive_settings):
    _run(runtime, archive_settings)
    with runtime.database.unit_of_work() as session:
        proof = checkpoints.inclusion_proof(session=session, seq=3, settings=archive_settings)
    assert json.loads(proof["event"])["subject"] == "00000000-0000-0000-0000-000000000003"
    report = verify.verify_proof(proof, archive_settings.audit_checkpoint_dir / "keys.json")
    assert report.ok, report.render()


def test_nothing_goes_when_the_archive_does_not_verify(old_and_new, runtime, archive_settings, monkeypatch, is_postgres):
    real = export.write

    def corrupted(**kw):
        result = real(**kw)
        path = kw["out"] / export.EVENTS_FILE
        path.write_bytes(path.read_bytes().replace(b'"outcome":"allowed"', b'"outcome":"denied!"', 1))
        return result

    monkeypatch.setattr(export, "write", corrupted)
    statements = len(checkpoints.read_folder(archive_settings))
    result = _run(runtime, archive_settings)
    assert result.archived == [] and "does not verify, so nothing was removed" in (result.refused or "")
    assert _events(runtime) == 8
    assert len(checkpoints.read_folder(archive_settings)) == statements  # no purge statement signed
    if is_postgres:
        with runtime.database.unit_of_work() as session:
            assert any(p.lower == partitions.period_start(old_and_new, "month") for p in partitions.listing(session))
    # Once the export is good again, the next run (the scheduled job's) writes it anew and archives.
    monkeypatch.setattr(export, "write", real)
    for f in (archive_settings.audit_archive_dir / result.refused.split(":")[0]).iterdir():
        f.unlink()
    again = _run(runtime, archive_settings)
    assert [a.events for a in again.archived] == [5] and again.refused is None


def test_nothing_goes_before_the_retention_period_has_run(runtime, record_events, checkpoint, long_ago, archive_settings):
    with long_ago(300) as then:  # older than six months, younger than the 365 days kept
        _partition_for(runtime, then)
        record_events(4)
        checkpoint()
    assert archive.plan(database=runtime.database, policy=POLICY).due == []
    result = _run(runtime, archive_settings)
    assert result.archived == [] and _events(runtime) == 4
    # With 200 days kept the same month is due.
    assert [d.events for d in archive.plan(database=runtime.database, policy=dataclasses.replace(POLICY, retention_days=200)).due] == [4]


def test_nothing_goes_before_a_signed_checkpoint_covers_the_period(runtime, record_events, long_ago, archive_settings):
    from govern.audit import chain

    with long_ago(400) as then:
        _partition_for(runtime, then)
        record_events(3)
    chain.seal(database=runtime.database, full=True)
    result = _run(runtime, archive_settings)
    assert result.archived == [] and "no signed checkpoint covers" in (result.refused or "")
    assert _events(runtime) == 3


def test_a_second_run_finds_nothing_due_and_a_concurrent_one_is_refused(old_and_new, runtime, archive_settings):
    assert len(_run(runtime, archive_settings).archived) == 1
    assert _run(runtime, archive_settings).archived == []
    with archive._lock(runtime.database, archive_settings):
        with pytest.raises(archive.ArchiveBusy):
            _run(runtime, archive_settings)


def test_the_database_refuses_to_drop_a_recent_partition_or_one_without_the_purge_flag(runtime, is_postgres):
    if not is_postgres:
        pytest.skip("partitions are PostgreSQL's; SQLite keeps one plain table")
    from govern.timeutil import utcnow

    with runtime.database.unit_of_work() as session:
        current = next(p for p in partitions.listing(session) if p.lower == partitions.period_start(utcnow(), "month"))
    from sqlalchemy.exc import DBAPIError

    for flag in (False, True):
        with pytest.raises(DBAPIError, match="append-only"), runtime.database.engine.begin() as conn:
            if flag:
                conn.execute(text("SET LOCAL govern.audit_purge = 'on'"))
            conn.execute(text("SELECT govern_audit_drop_partition(:p)"), {"p": current.name})


def test_the_cli_lists_what_is_due_and_archives_it(old_and_new, runtime, archive_settings):
    from govern.cli import main

    env = {"GOVERN_HOME": str(archive_settings.home), "GOVERN_DATABASE_URL": archive_settings.database_url, "GOVERN_LOG_LEVEL": "WARNING",
           "GOVERN_CHECKPOINT_DIR": str(archive_settings.audit_checkpoint_dir), "GOVERN_AUDIT_SIGNING_KEY_FILE": str(archive_settings.audit_key_path),
           "GOVERN_AUDIT_ARCHIVE_DIR": str(archive_settings.audit_archive_dir)}
    runtime.database.engine.dispose()
    dry = CliRunner().invoke(main, ["audit", "archive", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert [d["events"] for d in json.loads(dry.stdout)["due"]] == [5]
    refused = CliRunner().invoke(main, ["audit", "purge", "--execute"], env=env)
    assert refused.exit_code == 1 and "govern audit archive --execute" in refused.output
    done = CliRunner().invoke(main, ["audit", "archive", "--execute", "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert [a["events"] for a in json.loads(done.stdout)["archived"]] == [5]
