"""A retention purge of audit events is itself a signed checkpoint stating what went; verify (live and offline) anchors
to that statement, never to an audit_purges row, so a forged or edited row cannot blind it."""

from __future__ import annotations

import json

from sqlalchemy import text

from govern.audit import checkpoints, export, integrity
from govern.audit import verifier as verify

from .conftest import kinds


def _verify(runtime, audit_settings) -> verify.Report:
    return integrity.verify_live(database=runtime.database, settings=audit_settings)


def _folder(audit_settings) -> list[dict]:
    return checkpoints.read_folder(audit_settings)


def test_a_purge_is_a_signed_checkpoint_stating_range_head_count_and_who(purged_log, audit_settings):
    line = _folder(audit_settings)[-1]
    body = line["body"]
    assert body["kind"] == "purge" and body["number"] == purged_log.statement == 3
    first = _folder(audit_settings)[0]["body"]
    assert {k: body["purge"][k] for k in ("first_seq", "through_seq", "through_hash", "events")} == {
        "first_seq": 1, "through_seq": 6, "through_hash": first["head_hash"], "events": 6,
    }
    assert body["purge"]["actor"].startswith("cli:")
    assert verify.check_checkpoints([line], {k["key_id"]: k for k in json.loads((audit_settings.audit_checkpoint_dir / "keys.json").read_text())["keys"]}, verify.Report())


def test_a_purged_log_verifies_live_and_offline_from_the_signed_statement(purged_log, runtime, audit_settings, make_export, verify_export):
    live = _verify(runtime, audit_settings)
    assert live.ok, live.render()
    assert (live.purged, live.first_seq) == (6, 7)
    report = verify_export(make_export())
    assert report.ok, report.render()
    assert report.purged == 6 and any("purged by retention" in n for n in report.notes)


def test_a_forged_purge_row_does_not_blind_verify(record_events, checkpoint, runtime, audit_settings, tamper):
    record_events(8)
    checkpoint()
    with tamper() as conn:  # the insider deletes events 1..5 and claims a purge of them
        conn.execute(text("DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE seq <= 5)"))
        conn.execute(text("INSERT INTO audit_purges (purged_at, through_seq, checkpoint_number, events, actor_name) VALUES (CURRENT_TIMESTAMP, 5, 1, 5, 'cli:root')"))
    report = _verify(runtime, audit_settings)
    assert kinds(report)[0] == "purge_unsigned"
    assert "audit_purges row" in report.findings[0].message and report.findings[0].seq == 5
    assert [f.seq for f in report.findings if f.kind == "deleted"] == [1, 2, 3, 4, 5]


def test_an_edited_purge_row_fails_verify(purged_log, runtime, audit_settings, tamper):
    with tamper() as conn:  # widen the purge to hide the three recent events too
        conn.execute(text("UPDATE audit_purges SET through_seq = 9, events = 9"))
    report = _verify(runtime, audit_settings)
    assert ("purge_unsigned", 9) in [(f.kind, f.seq) for f in report.findings]


def test_an_export_of_the_whole_log_ignores_unsigned_purge_rows(record_events, checkpoint, runtime, audit_settings, tamper, make_export, verify_export):
    record_events(5)
    checkpoint()
    with tamper() as conn:
        conn.execute(text("INSERT INTO audit_purges (purged_at, through_seq, checkpoint_number, events, actor_name) VALUES (CURRENT_TIMESTAMP, 5, 1, 5, 'x')"))
    out = make_export()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["anchor"]["seq"] == 0 and manifest["range"]["first_seq"] == 1


def test_the_offline_verifier_refuses_a_late_start_that_no_signed_purge_states(record_events, checkpoint, runtime, audit_settings, tmp_path, monkeypatch, verify_export):
    # What an export made by a govern that trusted an unsigned purge row would look like: signed, but starting late.
    record_events(5)
    checkpoint()
    monkeypatch.setattr(checkpoints, "purged_through", lambda session, settings: (3, None))
    with runtime.database.unit_of_work() as session:
        export.write(session=session, settings=audit_settings, out=tmp_path / "late")
    report = verify_export(tmp_path / "late")
    assert (report.findings[0].kind, report.findings[0].seq) == ("truncated_start", 1)
    assert "no signed purge checkpoint" in report.findings[0].message
