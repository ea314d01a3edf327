"""Under the commercial_cn suite the audit log hashes with SM3 from a recorded seq on: a new commercial_cn installation
records the switch at its first start, `govern keys migrate-suite` when it begins; the log verifies across it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import text

from govern.audit import chain, checkpoints, integrity
from govern.audit import verifier as verify
from govern.audit.tags import AuditAction
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import cn_runtime, cn_settings, seed  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not verify.sm3_available(), reason="this Python's OpenSSL has no SM3")


def _own(settings, tmp_path):
    """These settings with a checkpoint folder and signing key of this test's own (not the session's)."""
    return dataclasses.replace(settings, audit_signing_key_file=tmp_path / "audit-key.json", checkpoint_dir=tmp_path / "checkpoints")


def _switch_seq(rt) -> int:
    with rt.database.unit_of_work() as session:
        return session.execute(text(
            "SELECT min(c.seq) FROM audit_chain c JOIN audit_events e ON e.id = c.event_id WHERE e.action = :a"), {"a": str(AuditAction.HASH_SWITCH)}).scalar_one()


def test_a_new_commercial_installation_hashes_its_log_with_sm3_from_its_first_start(cn_runtime, cn_settings, tmp_path):  # noqa: F811 (fixtures)
    cn_settings = _own(cn_settings, tmp_path)
    seed(cn_runtime, 2)
    line = checkpoints.issue(database=cn_runtime.database, settings=cn_settings).line
    at = _switch_seq(cn_runtime)
    with cn_runtime.database.unit_of_work() as session:
        assert chain.sm3_from(session) == at
        assert session.execute(text("SELECT count(*) FROM audit_chain WHERE seq < :s"), {"s": at}).scalar_one() <= 2  # start-up's own events at most
    assert line["body"]["hash"] == {"algorithm": "sm3", "from_seq": at}
    report = integrity.verify_live(database=cn_runtime.database, settings=cn_settings)
    assert report.ok, report.render()


def test_migrating_to_commercial_cn_turns_the_log_to_sm3_and_it_verifies_across_the_switch(runtime, cn_home, settings, tmp_path):  # noqa: F811
    from govern.crypto.cli import runtime_for

    settings = _own(settings, tmp_path)
    seed(runtime, 3)
    before = checkpoints.issue(database=runtime.database, settings=settings).line
    assert "hash" not in before["body"]
    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        seed(rt, 2)
        after = checkpoints.issue(database=rt.database, settings=settings).line
        at = _switch_seq(rt)
        assert at > before["body"]["tree_size"]
        assert after["body"]["hash"] == {"algorithm": "sm3", "from_seq": at}
        with rt.database.unit_of_work() as session:
            assert chain.sm3_from(session) == at
            events = session.execute(text("SELECT e.action FROM audit_chain c JOIN audit_events e ON e.id = c.event_id WHERE c.seq >= :s ORDER BY c.seq"),
                                     {"s": at - 1}).scalars().all()
            assert events[:2] == ["crypto:suite:migrate-begin", AuditAction.HASH_SWITCH]
            proof = checkpoints.consistency_proof(session=session, first=before["body"]["number"], second=after["body"]["number"])
        assert verify.verify_consistency_proof(json.loads(json.dumps(proof)), settings.audit_checkpoint_dir / "keys.json").ok
        report = integrity.verify_live(database=rt.database, settings=settings)
        assert report.ok, report.render()
    finally:
        rt.database.dispose()
