"""An audit export's signed manifest names the digest of its events file (issue 21): SM3 once the log is SM3 (the
commercial_cn suite), SHA-256 otherwise; the offline verifier checks the file under the algorithm named, a manifest
made before it named one is SHA-256, and a tampered file is caught under either."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from govern.audit import export, signing
from govern.audit import verifier as verify
from govern.crypto.cli import runtime_for
from tests.audit.conftest import kinds, read_lines, write_lines
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import cn_runtime, cn_settings, seed  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(not verify.sm3_available(), reason="this Python's OpenSSL has no SM3")


def _own(settings, tmp_path):
    return dataclasses.replace(settings, audit_signing_key_file=tmp_path / "audit-key.json", checkpoint_dir=tmp_path / "checkpoints")


@pytest.fixture(params=["international", "commercial_cn"])
def suite_export(request, tmp_path):
    """(named algorithm, export folder, settings) of a whole-log export made under each suite."""
    if request.param == "international":
        rt, settings = request.getfixturevalue("runtime"), request.getfixturevalue("audit_settings")
    else:
        rt, settings = request.getfixturevalue("cn_runtime"), _own(request.getfixturevalue("cn_settings"), tmp_path)
    seed(rt, 3)
    out = tmp_path / "export"
    export.export(database=rt.database, settings=settings, out=out)
    return {"international": "SHA-256", "commercial_cn": "SM3"}[request.param], out, settings


def _report(out, settings):
    return verify.verify_export(out, [settings.audit_checkpoint_dir])


def test_the_manifest_names_the_events_files_digest_and_the_export_verifies(suite_export):
    named, out, settings = suite_export
    events = json.loads((out / "manifest.json").read_text())["events"]
    name = {"SHA-256": "sha256", "SM3": "sm3"}[named]
    assert events["digest_algorithm"] == named and set(events) == {"file", "count", "digest_algorithm", name}
    assert events[name] == hashlib.new(name, (out / "events.jsonl").read_bytes()).hexdigest()
    report = _report(out, settings)
    assert report.ok, report.render()


def test_a_tampered_events_file_is_caught_under_either_algorithm(suite_export):
    named, out, settings = suite_export
    lines = read_lines(out)
    # Bytes the chain does not cover (a line added after the last event): only the file's digest can tell.
    (out / "events.jsonl").write_bytes((out / "events.jsonl").read_bytes() + b"\n")
    report = _report(out, settings)
    assert kinds(report) == ["modified"] and f"its {named} differs" in report.render()
    # An event changed: the chain says where.
    lines[1] = lines[1].replace(b'"action":"', b'"action":"x', 1)
    write_lines(out, lines)
    assert not _report(out, settings).ok


def test_an_old_sha256_manifest_still_verifies_after_migrate_suite_and_a_new_export_is_sm3(runtime, audit_settings, cn_home, tmp_path):  # noqa: F811
    seed(runtime, 3)
    old = tmp_path / "old"
    export.export(database=runtime.database, settings=audit_settings, out=old)
    # As govern wrote it before manifests named their digest: `events.sha256` alone, signed so.
    manifest = json.loads((old / "manifest.json").read_text())
    manifest.pop("signature")
    assert manifest["events"].pop("digest_algorithm") == "SHA-256"
    manifest["signature"] = signing.load(audit_settings).sign(verify.canonical(manifest))
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert _report(old, audit_settings).ok

    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        seed(rt, 2)
        new = tmp_path / "new"
        export.export(database=rt.database, settings=audit_settings, out=new)
    finally:
        rt.database.dispose()
    events = json.loads((new / "manifest.json").read_text())["events"]
    assert events["digest_algorithm"] == "SM3" and "sha256" not in events
    for folder in (old, new):
        report = _report(folder, audit_settings)
        assert report.ok, (folder.name, report.render())


def test_a_manifest_naming_an_unknown_digest_algorithm_is_refused_not_passed(runtime, audit_settings, tmp_path):
    seed(runtime, 1)
    out = tmp_path / "export"
    export.export(database=runtime.database, settings=audit_settings, out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("signature")
    manifest["events"] = {**manifest["events"], "digest_algorithm": "MD5"}
    manifest["signature"] = signing.load(audit_settings).sign(verify.canonical(manifest))
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(verify.InputError, match="unknown digest algorithm 'MD5'"):
        _report(out, audit_settings)


def test_an_archive_of_an_sm3_log_is_named_by_its_sm3_digest_and_an_edited_manifest_is_caught(runtime, record_events, checkpoint, long_ago,
                                                                                               audit_settings, tmp_path):
    from govern.audit import archive, chain, checkpoints, integrity, partitions
    from govern.audit.policy import AuditPolicy
    from govern.identity.actor import Actor
    from tests.audit.conftest import ACTOR
    from tests.audit.test_archive import _partition_for

    settings = dataclasses.replace(audit_settings, archive_dir=tmp_path / "archive")
    with long_ago(400) as then:
        _partition_for(runtime, then)
        with runtime.database.unit_of_work() as session:
            assert chain.switch_to_sm3(session, ACTOR, "test")  # the log is SM3 from here on (commercial_cn)
        record_events(5)
        checkpoint()
    record_events(3)
    checkpoint()
    [done] = archive.run(database=runtime.database, settings=settings, policy=AuditPolicy(retention_days=365, archive=True), actor=Actor.operator()).archived
    folder = settings.audit_archive_dir / archive.Period(partitions.period_start(then, "month"), then).name
    assert done.period == folder.name
    events = json.loads((folder / "manifest.json").read_text())["events"]
    assert events["digest_algorithm"] == "SM3" and events["sm3"] == hashlib.new("sm3", (folder / "events.jsonl").read_bytes()).hexdigest()
    stated = checkpoints.read_folder(settings)[-1]["body"]["purge"]["archive"]
    assert stated["digest_algorithm"] == "SM3" and "manifest_sha256" not in stated
    assert stated["manifest_sm3"] == hashlib.new("sm3", (folder / "manifest.json").read_bytes()).hexdigest()
    report = integrity.verify_live(database=runtime.database, settings=settings)
    assert report.ok, report.render()
    (folder / "manifest.json").write_bytes((folder / "manifest.json").read_bytes() + b" ")
    edited = integrity.verify_live(database=runtime.database, settings=settings)
    assert [f.kind for f in edited.findings] == [archive.ARCHIVE_MISMATCH] and "is not the manifest signed checkpoint" in edited.render()
