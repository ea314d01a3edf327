"""The window in which an unsealed event could be changed or cut unnoticed is bounded: `govern serve` seals and
checkpoints continuously (policies/audit.yaml sealing), readiness reports the age of the oldest unsealed event and
fails beyond the bound, and verify flags every event unsealed for longer."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from govern.audit import chain, checkpoints, integrity, sealing
from govern.audit.models import AuditChainEntry
from govern.audit.policy import AuditPolicy
from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError


def _head(runtime) -> int:
    with runtime.database.unit_of_work() as session:
        return session.scalar(select(func.max(AuditChainEntry.seq))) or 0


def test_the_policy_bounds_sealing_and_refuses_a_bound_shorter_than_the_interval(tmp_path):
    policy = load_policy(PROJECT_ROOT / "policies").audit
    assert policy.max_unsealed_seconds > max(policy.seal_interval_seconds, policy.checkpoint_interval_seconds)
    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "p")
    path = tmp_path / "p" / "audit.yaml"
    path.write_text(path.read_text().replace("max_unsealed_seconds: 300", "max_unsealed_seconds: 30"))
    with pytest.raises(PolicyError, match="max_unsealed_seconds"):
        load_policy(tmp_path / "p")


def test_a_tick_seals_and_signs_a_checkpoint_only_when_one_is_due(record_events, runtime, audit_settings):
    policy = AuditPolicy(checkpoint_interval_seconds=3600)
    record_events(3)
    first = sealing.tick(database=runtime.database, settings=audit_settings, policy=policy)
    assert first.checkpoint == 1 and _head(runtime) >= 3
    record_events(2)
    second = sealing.tick(database=runtime.database, settings=audit_settings, policy=policy)
    assert (second.sealed, second.checkpoint) == (2, None)  # sealed; the last checkpoint is younger than the interval


def test_a_tick_goes_on_past_a_forged_checkpoint(record_events, runtime, audit_settings, tamper):
    from tests.audit.test_checkpoint_trust import _forge

    record_events(2)
    sealing.tick(database=runtime.database, settings=audit_settings, policy=AuditPolicy())
    with tamper() as conn:  # a row that claims to be a fresh checkpoint, so that none looks due
        _forge(conn, 2, tree_size=10**6)
    record_events(1)
    done = sealing.tick(database=runtime.database, settings=audit_settings, policy=AuditPolicy(checkpoint_interval_seconds=3600))
    assert done.checkpoint is None  # the genuine #1 is recent: not due
    assert sealing.checkpoint_due(database=runtime.database, settings=audit_settings, interval_seconds=0)
    assert checkpoints.issue(database=runtime.database, settings=audit_settings).line["body"]["number"] == 3


def test_readiness_reports_the_unsealed_age_and_fails_beyond_the_bound(record_events, runtime, audit_settings, long_ago):
    record_events(1)
    fresh = integrity.status(database=runtime.database, settings=audit_settings, max_unsealed_seconds=300)
    assert fresh.ok and fresh.unsealed_age_seconds < 300
    with long_ago(1):
        record_events(1)
    stale = integrity.status(database=runtime.database, settings=audit_settings, max_unsealed_seconds=300)
    assert not stale.ok and stale.unsealed_age_seconds > 86_000
    assert "longer than the 300s bound" in stale.problem
    assert stale.as_dict()["unsealed_age_seconds"] > 86_000
    chain.seal(database=runtime.database, full=True)
    assert integrity.status(database=runtime.database, settings=audit_settings, max_unsealed_seconds=300).ok


def test_verify_flags_events_unsealed_longer_than_the_bound(record_events, runtime, audit_settings, long_ago):
    with long_ago(1):
        record_events(2)
    record_events(1)
    report = integrity.verify_live(database=runtime.database, settings=audit_settings, max_unsealed_seconds=300)
    assert [f.kind for f in report.findings] == ["unsealed"]
    assert "more than 300s ago" in report.findings[0].message and report.findings[0].event_id is not None


def test_serve_starts_the_sealer_by_default():
    from click.testing import CliRunner

    from govern.cli import main

    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--sealer / --no-sealer" in help_text and "[default: sealer]" in help_text
