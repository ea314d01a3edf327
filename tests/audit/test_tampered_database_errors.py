"""On a tampered database `govern audit export`, `checkpoint` and `verify` end with a clear error naming the problem and
a non-zero exit, never a traceback; the API's export answers problem+json, never 500."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from govern.cli import main


@pytest.fixture
def cli(audit_settings, runtime):
    env = {"GOVERN_HOME": str(audit_settings.home), "GOVERN_DATABASE_URL": audit_settings.database_url, "GOVERN_LOG_LEVEL": "WARNING",
           "GOVERN_CHECKPOINT_DIR": str(audit_settings.audit_checkpoint_dir), "GOVERN_AUDIT_SIGNING_KEY_FILE": str(audit_settings.audit_key_path)}

    def run(*args: str):
        runtime.database.engine.dispose()
        result = CliRunner().invoke(main, ["audit", *args], env=env)
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    return run


@pytest.fixture
def logged(record_events, checkpoint):
    record_events(5)
    return checkpoint()["body"]


def test_export_over_a_rewritten_chain_head_names_the_problem(logged, cli, tamper, tmp_path):
    with tamper() as conn:
        conn.execute(text("UPDATE audit_chain SET hash = :h WHERE seq = :s"), {"h": "ab" * 32, "s": logged["tree_size"]})
    result = cli("export", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"error: the audit log does not verify, so no signed export was made: the chain at seq {logged['tree_size']} differs from signed checkpoint #1" in result.output


def test_checkpoint_over_a_cut_chain_names_the_problem(logged, cli, tamper):
    with tamper() as conn:  # the newest event and its link, both gone
        conn.execute(text("DELETE FROM audit_events WHERE id = (SELECT event_id FROM audit_chain WHERE seq = :s)"), {"s": logged["tree_size"]})
        conn.execute(text("DELETE FROM audit_chain WHERE seq = :s"), {"s": logged["tree_size"]})
    result = cli("checkpoint")
    assert result.exit_code == 1
    assert "error: no checkpoint signed:" in result.output and "run `govern audit verify`" in result.output


def test_export_of_an_event_that_is_no_longer_json_names_the_problem(logged, cli, tamper, tmp_path):
    with tamper() as conn:
        conn.execute(text("UPDATE audit_events SET canonical = '{not json' WHERE id = (SELECT min(id) FROM audit_events)"))
    result = cli("export", "--out", str(tmp_path / "out"), "--format", "ocsf")
    assert result.exit_code == 1
    assert "error: the export failed" in result.output and "govern audit verify" in result.output


@pytest.mark.parametrize("edit", [
    "UPDATE audit_chain SET prev_hash = 'zz' WHERE seq = 2",
    "UPDATE audit_chain SET leaf = 'not hex at all' WHERE seq = 3",
    "UPDATE audit_events SET canonical = '[1, 2]' WHERE id = (SELECT min(id) FROM audit_events)",
    "UPDATE audit_checkpoints SET body = '{', frontier = 'x'",
], ids=["prev_hash", "leaf", "canonical", "checkpoint"])
def test_verify_names_unreadable_columns_without_a_traceback(edit, logged, cli, tamper):
    with tamper() as conn:
        conn.execute(text(edit))
    result = cli("verify")
    assert result.exit_code == 1
    assert result.output.startswith("FAILED:") or "FAILED:" in result.output


def test_the_api_export_of_a_tampered_log_is_a_problem_not_a_500(logged, tamper, client_as, runtime):
    key_file, had_key = runtime.settings.audit_key_path, runtime.settings.audit_key_path.exists()
    with tamper() as conn:
        conn.execute(text("UPDATE audit_events SET canonical = '{not json' WHERE id = (SELECT min(id) FROM audit_events)"))
    try:
        response = client_as("auditor").get("/api/v1/audit/export?format=ocsf")
    finally:
        if not had_key:  # the export signs with the session's key: leave the shared home as it was
            key_file.unlink(missing_ok=True)
    assert response.status_code == 409
    assert response.json["code"] == "audit_log_does_not_verify"
