"""The compliance audit pack: one signed zip an external auditor takes away. Unpacked, every file matches the
manifest's SHA-256, the manifest's Ed25519 signature verifies with the published key, the summary exists in zh and en,
and the offline verifier accepts the audit-log export inside it."""

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from datetime import date, timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from govern.audit.verifier import canonical
from govern.errors import Problem
from govern.identity.actor import Actor
from govern.processing import duties, pack
from govern.timeutil import utcnow

OPERATOR = Actor.operator()


def _unpack(path, into):
    with zipfile.ZipFile(path) as archive:
        archive.extractall(into)
    return json.loads((into / "manifest.json").read_text(encoding="utf-8"))


def _signature_ok(manifest) -> bool:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    key = next(k for k in manifest["keys"] if k["key_id"] == manifest["key_id"])
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(base64.b64decode(manifest["signature"]), canonical(body))
    except InvalidSignature:
        return False
    return True


@pytest.fixture
def built(runtime, make_subject, client_as, tmp_path):
    make_subject()
    client_as("dpo").get("/api/v1/processing/records?lang=en")
    with runtime.database.unit_of_work() as session:
        duties.record_done(session=session, policy=runtime.policy, actor=OPERATOR, duty="incident_drill", done_on=date.today(), reference="DRILL-1")
    start = utcnow() - timedelta(days=1)
    result = pack.build(database=runtime.database, settings=runtime.settings, policy=runtime.policy, actor=OPERATOR,
                        start=start, end=utcnow() + timedelta(seconds=1), out=tmp_path / "pack.zip")
    return result, _unpack(result.path, tmp_path / "unpacked"), tmp_path / "unpacked"


def test_every_file_matches_the_signed_manifest(built):
    _, manifest, root = built
    assert manifest["format"] == "govern-compliance-pack/1"
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for f in manifest["files"]:
        assert hashlib.sha256((root / f["path"]).read_bytes()).hexdigest() == f["sha256"], f["path"]
    assert _signature_ok(manifest)
    changed = dict(manifest, period={"from": "2020-01-01T00:00:00+00:00", "to": manifest["period"]["to"]})
    assert not _signature_ok(changed)  # a manifest edited after signing does not verify


def test_the_pack_holds_each_domains_export_and_a_summary_in_both_languages(built):
    result, _, root = built
    for name in ("records/records-of-processing.zh.json", "records/records-of-processing.en.csv", "requests/request-log.json",
                 "breach/register.json", "drills/drills.json", "retention/runs.json", "access-review/access-review.csv",
                 "duties/tasks.json", "audit-export/events.jsonl", "audit-export/manifest.json", "verifier/verify.py"):
        assert (root / name).is_file(), name
    assert "合规审计" in (root / "summary.zh.md").read_text(encoding="utf-8")
    assert "compliance audit pack" in (root / "summary.en.md").read_text(encoding="utf-8")
    records = json.loads((root / "records/records-of-processing.en.json").read_text(encoding="utf-8"))
    assert records["activities"] and records["assessments"] and records["controller"]["dpo"]
    drills = json.loads((root / "drills/drills.json").read_text(encoding="utf-8"))
    assert [d["reference"] for d in drills["recorded_as_done"]] == ["DRILL-1"]
    assert result.summary["audit_events"] > 0


def test_the_offline_verifier_in_the_pack_accepts_its_audit_export(built):
    _, _, root = built
    done = subprocess.run([sys.executable, str(root / "verifier" / "verify.py"), str(root / "audit-export")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_verifier_also_checks_the_export_against_the_checkpoint_folder_in_the_pack(runtime, make_subject, tmp_path):
    # A checkpoint folder of this log alone (the suite's shared folder holds the checkpoints of every test's log).
    settings = replace(runtime.settings, checkpoint_dir=tmp_path / "checkpoints")
    make_subject()
    result = pack.build(database=runtime.database, settings=settings, policy=runtime.policy, actor=OPERATOR,
                        start=utcnow() - timedelta(days=1), end=utcnow() + timedelta(seconds=1), out=tmp_path / "pack.zip")
    _unpack(result.path, tmp_path / "unpacked")
    root = tmp_path / "unpacked"
    assert (root / "audit-checkpoints" / "keys.json").is_file()
    done = subprocess.run([sys.executable, str(root / "verifier" / "verify.py"), str(root / "audit-export"), "--checkpoint", str(root / "audit-checkpoints"),
                           "--keys", str(root / "audit-checkpoints" / "keys.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_tampered_audit_export_in_the_pack_is_caught(built):
    _, _, root = built
    events = root / "audit-export" / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(b"".join(lines[:-1]))  # the last event cut
    done = subprocess.run([sys.executable, str(root / "verifier" / "verify.py"), str(root / "audit-export")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1


def test_building_a_pack_is_audited(built, audit_events):
    assert [e.action for e in audit_events(action="processing:pack:create")] == ["processing:pack:create"]


def test_a_period_that_ends_before_it_starts_is_refused(runtime, tmp_path):
    now = utcnow()
    with pytest.raises(Problem, match="to: must be after from"):
        pack.build(database=runtime.database, settings=runtime.settings, policy=runtime.policy, actor=OPERATOR, start=now, end=now - timedelta(days=1), out=tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()


def test_the_command_writes_the_pack(runtime, tmp_path):
    from click.testing import CliRunner

    from govern.cli import main

    s = runtime.settings
    env = {"GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_CHECKPOINT_DIR": str(s.audit_checkpoint_dir),
           "GOVERN_AUDIT_SIGNING_KEY_FILE": str(s.audit_key_path)}
    out = tmp_path / "cli-pack.zip"
    result = CliRunner().invoke(main, ["compliance", "pack", "--from", (date.today() - timedelta(days=30)).isoformat(), "--out", str(out), "--json"], env=env)
    assert result.exit_code == 0, result.output
    manifest = _unpack(out, tmp_path / "cli")
    assert _signature_ok(manifest)
