"""After a legitimate restore from a backup the audit log goes on verifiably: a signed "restored to seq N" checkpoint
supersedes what the checkpoints issued after the backup said, instead of verify failing forever. Only the signing key
can say so: a restore statement forged in the database changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from govern.audit import checkpoints, integrity
from govern.identity.actor import Actor
from tests.backups import backup, restore

from .conftest import kinds


@pytest.fixture
def restored(runtime, record_events, checkpoint, audit_settings, tmp_path):
    """Five events and checkpoint #1, a backup, three more events and checkpoint #2, then the backup restored."""
    record_events(5)
    first = checkpoint()
    snapshot = backup(runtime, tmp_path / "audit.backup")
    record_events(3)
    checkpoint()
    restore(runtime, snapshot)
    return first["body"]


def _verify(runtime, audit_settings):
    return integrity.verify_live(database=runtime.database, settings=audit_settings)


def test_without_a_restore_statement_the_restored_log_does_not_verify(restored, runtime, audit_settings):
    report = _verify(runtime, audit_settings)
    assert "truncated_end" in kinds(report)


def test_a_signed_restore_checkpoint_lets_the_log_go_on_verifiably(restored, runtime, audit_settings, record_events, checkpoint, make_export, verify_export):
    line = integrity.record_restore(database=runtime.database, settings=audit_settings, source="audit.backup", actor=Actor.operator())
    body = line["body"]
    assert (body["kind"], body["number"], body["tree_size"]) == ("restore", 3, restored["tree_size"])
    assert body["restore"]["restored_to_seq"] == restored["tree_size"] and body["restore"]["source"] == "audit.backup"
    assert checkpoints.read_folder(audit_settings)[-1] == line  # beside the checkpoints of the log it replaced

    report = _verify(runtime, audit_settings)
    assert report.ok, report.render()
    assert any("restore to seq" in n and "#2" in n for n in report.notes)

    record_events(2)
    assert checkpoint()["body"]["number"] == 4
    report = _verify(runtime, audit_settings)
    assert report.ok, report.render()
    with runtime.database.unit_of_work() as session:  # the restore itself is an audit event
        assert session.execute(text("SELECT count(*) FROM audit_events WHERE action = 'audit:log:restore'")).scalar_one() == 1
    offline = verify_export(make_export())
    assert offline.ok, offline.render()
    assert any("superseded" in n for n in offline.notes)


def test_a_restore_statement_forged_in_the_database_supersedes_nothing(restored, runtime, audit_settings, tamper):
    body = {"format": "govern-audit-checkpoint/1", "log": "govern-audit", "number": 3, "tree_size": restored["tree_size"],
            "head_hash": restored["head_hash"], "merkle_root": restored["merkle_root"], "issued_at": "2026-12-04T00:00:00.000000+00:00",
            "key_id": restored["key_id"], "kind": "restore", "restore": {"restored_to_seq": restored["tree_size"], "source": "x", "actor": "x"}}
    with tamper() as conn:
        conn.execute(text(
            "INSERT INTO audit_checkpoints (number, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier) "
            "VALUES (3, :t, :h, :r, CURRENT_TIMESTAMP, :k, 'AAAA', :b, '[]')"
        ), {"t": body["tree_size"], "h": body["head_hash"], "r": body["merkle_root"], "k": body["key_id"], "b": json.dumps(body, sort_keys=True, separators=(",", ":"))})
    found = kinds(_verify(runtime, audit_settings))
    assert "checkpoint_signature_invalid" in found and "truncated_end" in found


def test_a_restore_to_another_seq_than_the_restored_head_is_refused(restored, runtime, audit_settings):
    with pytest.raises(ValueError, match=f"ends at seq {restored['tree_size']}"):
        integrity.record_restore(database=runtime.database, settings=audit_settings, source="x", actor=Actor.operator(), restored_to_seq=1)


def test_a_host_without_the_signing_key_gets_none_made_up(restored, runtime, audit_settings):
    from dataclasses import replace

    from govern.audit import signing

    elsewhere = replace(audit_settings, audit_signing_key_file=audit_settings.home / "no-such-key.json")
    with pytest.raises(signing.SigningKeyError):
        integrity.record_restore(database=runtime.database, settings=elsewhere, source="x", actor=Actor.operator())
    assert not elsewhere.audit_key_path.exists()


def test_govern_restore_records_the_restore_so_verify_goes_on(runtime, record_events, checkpoint, audit_settings, tmp_path):
    from click.testing import CliRunner

    from govern.cli import main

    record_events(4)
    checkpoint()
    snapshot = backup(runtime, tmp_path / "cli.backup")
    record_events(2)
    checkpoint()
    runtime.database.engine.dispose()
    env = {"GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url, "GOVERN_LOG_LEVEL": "WARNING",
           "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_CHECKPOINT_DIR": str(audit_settings.audit_checkpoint_dir),
           "GOVERN_AUDIT_SIGNING_KEY_FILE": str(audit_settings.audit_key_path)}
    result = CliRunner().invoke(main, ["restore", str(snapshot), "--yes"], env=env)
    runtime.envelope.cache.clear()
    assert result.exit_code == 0, result.output
    assert checkpoints.read_folder(audit_settings)[-1]["body"]["kind"] == "restore"
    report = _verify(runtime, audit_settings)
    assert report.ok, report.render()
