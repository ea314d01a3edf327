"""`govern audit verify` checks the live tables the way the auditor's verifier checks an export: each tamper class,
made behind the triggers' back as a superuser would, is named at the right place; an untouched log verifies."""

from __future__ import annotations

import binascii

import pytest
from sqlalchemy import text

from govern.audit import integrity
from govern.audit import verifier as verify


@pytest.fixture
def live(record_events, checkpoint):
    record_events(10)
    checkpoint()
    record_events(4)
    checkpoint()


@pytest.fixture
def verify_live(runtime, audit_settings):
    return lambda: integrity.verify_live(database=runtime.database, settings=audit_settings)


def _event_id(conn, seq: int) -> int:
    return conn.execute(text("SELECT event_id FROM audit_chain WHERE seq = :s"), {"s": seq}).scalar_one()


def test_an_untouched_live_log_verifies(live, verify_live):
    report = verify_live()
    assert report.ok, report.render()
    assert (report.events, report.checkpoints_verified) == (14, 2)


def test_a_modified_row_is_named(live, verify_live, tamper):
    with tamper() as conn:
        conn.execute(text("UPDATE audit_events SET canonical = replace(canonical, 'customer_service', 'marketing') WHERE id = :i"), {"i": _event_id(conn, 6)})
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq) == ("modified", 6)


def test_a_deleted_row_is_named(live, verify_live, tamper):
    with tamper() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": _event_id(conn, 3)})
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq) == ("deleted", 3)


def test_a_deleted_row_and_its_link_are_named(live, verify_live, tamper):
    with tamper() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": _event_id(conn, 3)})
        conn.execute(text("DELETE FROM audit_chain WHERE seq = 3"))
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq) == ("deleted", 3)


def test_swapped_rows_are_named_as_reordered(live, verify_live, tamper):
    with tamper() as conn:
        a, b = _event_id(conn, 4), _event_id(conn, 5)
        ca = conn.execute(text("SELECT canonical FROM audit_events WHERE id = :i"), {"i": a}).scalar_one()
        cb = conn.execute(text("SELECT canonical FROM audit_events WHERE id = :i"), {"i": b}).scalar_one()
        conn.execute(text("UPDATE audit_events SET canonical = :c WHERE id = :i"), {"c": cb, "i": a})
        conn.execute(text("UPDATE audit_events SET canonical = :c WHERE id = :i"), {"c": ca, "i": b})
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq) == ("reordered", 4)


def test_an_inserted_row_with_a_forged_link_is_named(live, verify_live, tamper):
    with tamper() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_chain WHERE seq = 7")).scalar_one()
        # Make room at seq 8 (shifting the later links up), then forge a linking entry there.
        for seq in range(14, 7, -1):
            conn.execute(text("UPDATE audit_chain SET seq = :n WHERE seq = :s"), {"n": seq + 1, "s": seq})
        canonical = '{"action":"subjects:profile:read","outcome":"allowed","伪造":true}'
        conn.execute(
            text("INSERT INTO audit_events (occurred_at, actor_name, roles, action, field_names, outcome, canonical) "
                 "VALUES (CURRENT_TIMESTAMP, 'x', '', 'subjects:profile:read', '', 'allowed', :c)"), {"c": canonical},
        )
        new_id = conn.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
        leaf = verify.leaf_hash(canonical.encode())
        digest = verify.chain_hash(binascii.unhexlify(prev), 8, leaf)
        conn.execute(
            text("INSERT INTO audit_chain (seq, event_id, leaf, prev_hash, hash, sealed_at) VALUES (8, :e, :l, :p, :h, CURRENT_TIMESTAMP)"),
            {"e": new_id, "l": leaf.hex(), "p": prev, "h": digest.hex()},
        )
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq, report.findings[0].event_id) == ("inserted", 8, new_id)


def test_a_cut_tail_with_the_head_reset_is_caught_by_the_checkpoint_outside_the_database(live, verify_live, tamper):
    with tamper() as conn:
        ids = [_event_id(conn, s) for s in (12, 13, 14)]
        conn.execute(text("DELETE FROM audit_chain WHERE seq >= 12"))
        conn.execute(text("DELETE FROM audit_checkpoints WHERE number = 2"))  # the copy in the database goes too
        for i in ids:
            conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": i})
    report = verify_live()
    assert ("truncated_end", 12) in [(f.kind, f.seq) for f in report.findings]


def test_a_cut_start_is_named(live, verify_live, tamper):
    with tamper() as conn:
        ids = [_event_id(conn, s) for s in (1, 2)]
        conn.execute(text("DELETE FROM audit_chain WHERE seq <= 2"))
        for i in ids:
            conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": i})
    report = verify_live()
    assert (report.findings[0].kind, report.findings[0].seq) == ("truncated_start", 1)


def test_a_complete_rewrite_with_recomputed_hashes_is_caught_by_an_earlier_checkpoint(live, verify_live, tamper):
    with tamper() as conn:
        rows = conn.execute(text("SELECT c.seq, c.event_id, e.canonical FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq")).all()
        conn.execute(text("DELETE FROM audit_chain"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        prev = verify.GENESIS
        for seq, event_id, canonical in rows:
            if seq == 2:
                canonical = canonical.replace("customer_service", "marketing")
                conn.execute(text("UPDATE audit_events SET canonical = :c WHERE id = :i"), {"c": canonical, "i": event_id})
            leaf = verify.leaf_hash(canonical.encode())
            digest = verify.chain_hash(prev, seq, leaf)
            conn.execute(
                text("INSERT INTO audit_chain (seq, event_id, leaf, prev_hash, hash, sealed_at) VALUES (:s, :e, :l, :p, :h, CURRENT_TIMESTAMP)"),
                {"s": seq, "e": event_id, "l": leaf.hex(), "p": prev.hex(), "h": digest.hex()},
            )
            prev = digest
    report = verify_live()
    # The forger rewrote the hashed text but not the purpose column it is indexed by: that is named too.
    assert [(f.kind, f.checkpoint, f.seq) for f in report.findings] == [("rewritten", 1, 10), ("rewritten", 2, 14), ("column_mismatch", None, 2)]


def test_the_verify_command_exits_non_zero_and_logs_an_error(live, tamper, runtime, audit_settings):
    from click.testing import CliRunner

    from govern.cli import main

    with tamper() as conn:
        conn.execute(text("UPDATE audit_events SET canonical = replace(canonical, 'mobile', 'email') WHERE id = :i"), {"i": _event_id(conn, 2)})
    env = {"GOVERN_HOME": str(audit_settings.home), "GOVERN_DATABASE_URL": audit_settings.database_url,
           "GOVERN_CHECKPOINT_DIR": str(audit_settings.audit_checkpoint_dir), "GOVERN_AUDIT_SIGNING_KEY_FILE": str(audit_settings.audit_key_path)}
    result = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert "[modified] seq 2" in result.output
    assert "audit_log_does_not_verify" in result.output  # logged at error level (stderr, captured with stdout here)


def test_readyz_reports_a_cut_tail(live, tamper, app, runtime, audit_settings, monkeypatch):
    from govern.audit import integrity as integ

    real = integ.status
    monkeypatch.setattr(integ, "status", lambda database, settings, **kw: real(database=database, settings=audit_settings, **kw))
    ok = app.test_client().get("/readyz")
    assert ok.json["checks"]["audit_chain"] == {"ok": True, "head_seq": 14, "unsealed": 0, "checkpoint": 2, "unsealed_age_seconds": 0.0, "gating": False}
    with tamper() as conn:
        conn.execute(text("DELETE FROM audit_chain WHERE seq = 14"))
    broken = app.test_client().get("/readyz")
    # reported loudly (details, metric, error log) without taking the instance out of service
    assert broken.status_code == 200
    assert broken.json["checks"]["audit_chain"]["ok"] is False
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "govern_audit_chain_ok 0.0" in metrics


def test_checkpoints_before_and_after_a_key_rotation_both_verify(record_events, checkpoint, audit_settings, verify_live, make_export, verify_export):
    import json

    from govern.audit import signing

    record_events(3)
    first = checkpoint()
    signing.rotate(audit_settings)
    record_events(2)
    second = checkpoint()
    assert first["body"]["key_id"] != second["body"]["key_id"]
    keys = json.loads((audit_settings.audit_checkpoint_dir / "keys.json").read_text())["keys"]
    assert keys[0]["valid_to"] == keys[1]["valid_from"]
    assert verify_live().ok
    assert verify_export(make_export()).ok
