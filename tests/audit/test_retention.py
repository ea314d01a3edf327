"""Audit retention: never under six months; a purge removes event rows up to a signed checkpoint and the log still
verifies from there."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govern.audit import integrity
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import PolicyError


def test_the_policy_refuses_less_than_six_months(tmp_path):
    import shutil

    from govern.config import PROJECT_ROOT

    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "p")
    (tmp_path / "p" / "audit.yaml").write_text("version: 1\nretention: {keep_days: 90, source: x}\n")
    with pytest.raises(PolicyError, match=r"audit.yaml: retention.keep_days: must be at least 184 days"):
        load_policy(tmp_path / "p")


def test_a_purge_below_six_months_is_refused(runtime):
    with pytest.raises(ValueError, match="six months"):
        integrity.purge(database=runtime.database, settings=runtime.settings, actor=Actor.operator(), keep_days=30, dry_run=True)


def test_a_purge_keeps_the_chain_verifiable_from_its_checkpoint(runtime, record_events, checkpoint, long_ago, audit_settings, make_export, verify_export):
    with long_ago(730):
        record_events(6)
        checkpoint()
    record_events(3)
    checkpoint()

    dry = integrity.purge(database=runtime.database, settings=audit_settings, actor=Actor.operator(), keep_days=365)
    assert (dry.dry_run, dry.events, dry.through_seq) == (True, 6, 6)
    done = integrity.purge(database=runtime.database, settings=audit_settings, actor=Actor.operator(), keep_days=365, dry_run=False)
    assert (done.events, done.checkpoint) == (6, 1)
    with runtime.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'subjects:profile:read'")).scalar_one() == 3

    live = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert live.ok, live.render()
    out = make_export()
    manifest_anchor = __import__("json").loads((out / "manifest.json").read_text())["anchor"]
    assert manifest_anchor["seq"] == 6
    report = verify_export(out)
    assert report.ok, report.render()
