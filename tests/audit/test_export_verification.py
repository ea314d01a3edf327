"""An exported log verifies offline; every tamper class on the exported files is named at the right place."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from govern.audit import verifier as verify
from govern.audit.tags import SubjectAction
from govern.config import PROJECT_ROOT
from tests.audit.conftest import kinds, read_lines, relink, write_lines

VERIFY = PROJECT_ROOT / "audit" / "verify.py"


@pytest.fixture
def exported(record_events, checkpoint, make_export):
    record_events(12)
    checkpoint()
    record_events(3)
    return make_export()


def test_an_untouched_export_verifies_with_the_standalone_script(exported, audit_settings):
    result = subprocess.run(
        [sys.executable, str(VERIFY), str(exported), "--checkpoint", str(audit_settings.audit_checkpoint_dir)],
        capture_output=True, text=True, cwd=exported, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = len(read_lines(exported))  # the 15 reads, and whatever else govern audited meanwhile (a key check, say)
    assert events >= 15
    assert result.stdout.startswith(f"OK: {events} events (seq 1..{events}), 2 signed checkpoints match")


def test_the_verifier_needs_only_the_standard_library_and_cryptography():
    tree = ast.parse(VERIFY.read_text())
    roots = {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert roots - {"__future__", "cryptography"} <= set(sys.stdlib_module_names)


def test_govern_runs_the_auditors_own_verifier_file():
    assert verify.SOURCE == VERIFY and verify.leaf_hash.__code__.co_filename == str(VERIFY)


def test_a_failed_verification_exits_non_zero_and_names_the_event(exported, audit_settings):
    lines = read_lines(exported)
    lines[4] = lines[4].replace(b"customer_service", b"marketing")
    write_lines(exported, lines)
    result = subprocess.run([sys.executable, str(VERIFY), str(exported), "--checkpoint", str(audit_settings.audit_checkpoint_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "[modified] seq 5" in result.stdout


def test_a_modified_event_is_named(exported, verify_export):
    lines = read_lines(exported)
    lines[6] = lines[6].replace(b'"outcome":"allowed"', b'"outcome":"denied"')
    write_lines(exported, lines)
    report = verify_export(exported)
    assert report.findings[0].kind == "modified" and report.findings[0].seq == 7


def test_a_modified_event_with_its_hash_recomputed_is_named(exported, verify_export):
    lines = read_lines(exported)
    doc = json.loads(lines[6])
    body = lines[6][lines[6].index(b',"event":') + 9:-2].replace(b"customer_service", b"marketing")
    new = verify.chain_hash(bytes.fromhex(doc["prev"]), 7, verify.leaf_hash(body)).hex()
    lines[6] = lines[6].replace(doc["hash"].encode(), new.encode()).replace(b"customer_service", b"marketing")
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("modified", 7)


def test_a_deleted_event_is_named(exported, verify_export):
    lines = read_lines(exported)
    del lines[8]
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("deleted", 9)


def test_a_deleted_event_with_later_seqs_renumbered_is_named(exported, verify_export):
    lines = read_lines(exported)
    del lines[8]
    for i in range(8, len(lines)):
        doc = json.loads(lines[i])
        lines[i] = lines[i].replace(b'{"seq":%d,' % doc["seq"], b'{"seq":%d,' % (doc["seq"] - 1), 1)
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("deleted", 9)


def test_an_inserted_copy_is_named(exported, verify_export):
    lines = read_lines(exported)
    lines.insert(5, lines[4])
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("inserted", 5)


def test_an_inserted_forged_event_that_links_is_named(exported, verify_export):
    lines = read_lines(exported)
    prev = bytes.fromhex(json.loads(lines[9])["hash"])
    body = b'{"action":"subjects:profile:read","forged":"\xe4\xbc\xaa\xe9\x80\xa0"}'
    forged = verify.chain_hash(prev, 11, verify.leaf_hash(body))
    lines.insert(10, b'{"seq":11,"id":999,"prev":"%s","hash":"%s","event":%s}\n' % (prev.hex().encode(), forged.hex().encode(), body))
    for i in range(11, len(lines)):
        doc = json.loads(lines[i])
        lines[i] = lines[i].replace(b'{"seq":%d,' % doc["seq"], b'{"seq":%d,' % (doc["seq"] + 1), 1)
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq, report.findings[0].event_id) == ("inserted", 11, 999)


def test_reordered_events_are_named(exported, verify_export):
    lines = read_lines(exported)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(exported, lines)
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("reordered", 5)


def test_a_cut_tail_is_caught_by_the_manifest(exported, verify_export):
    lines = read_lines(exported)
    write_lines(exported, lines[:-2])
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("truncated_end", 14)


def test_a_cut_head_is_named(exported, verify_export):
    lines = read_lines(exported)
    write_lines(exported, lines[3:])
    report = verify_export(exported)
    assert (report.findings[0].kind, report.findings[0].seq) == ("truncated_start", 1)


def test_a_doctored_manifest_fails_its_signature(exported, verify_export):
    manifest = json.loads((exported / "manifest.json").read_text())
    manifest["range"]["last_seq"] = 13
    (exported / "manifest.json").write_text(json.dumps(manifest))
    write_lines(exported, read_lines(exported)[:-2])
    assert "manifest_invalid" in kinds(verify_export(exported))


def test_a_complete_rewrite_with_recomputed_hashes_is_caught_by_an_earlier_checkpoint(exported, verify_export, audit_settings):
    """The forger rewrites event 3, recomputes every hash and re-signs the manifest with a key of their own:
    the chain links, but the checkpoint the auditor already holds does not match."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from govern.audit.signing import SigningKey

    lines = read_lines(exported)
    lines[2] = lines[2].replace(b"customer_service", b"fraud_prevention")
    lines = relink(lines)
    write_lines(exported, lines)
    forger = SigningKey(Ed25519PrivateKey.generate())
    manifest = json.loads((exported / "manifest.json").read_text())
    manifest.pop("signature")
    manifest["events"]["sha256"] = __import__("hashlib").sha256((exported / "events.jsonl").read_bytes()).hexdigest()
    manifest["keys"].append({"key_id": forger.key_id, "public_key": forger.public_b64, "valid_from": "2000-01-01T00:00:00+00:00", "valid_to": None})
    manifest["key_id"] = forger.key_id
    manifest["signature"] = forger.sign(verify.canonical(manifest))
    (exported / "manifest.json").write_text(json.dumps(manifest))

    report = verify_export(exported)
    assert "rewritten" in kinds(report)
    rewritten = next(f for f in report.findings if f.kind == "rewritten")
    assert rewritten.checkpoint == 1 and rewritten.seq == 12
    assert "unknown_key" in kinds(report)  # the forger's key is not among the keys the auditor pinned


def test_a_forged_checkpoint_signature_is_rejected(exported, verify_export, audit_settings):
    path = audit_settings.audit_checkpoint_dir / "checkpoints.jsonl"
    cps = [json.loads(line) for line in path.read_text().splitlines()]
    cps[0]["body"]["tree_size"] = 11
    path.write_text("".join(json.dumps(cp) + "\n" for cp in cps))
    report = verify_export(exported)
    assert any(f.kind == "checkpoint_signature_invalid" and f.checkpoint == 1 for f in report.findings)


def test_a_checkpoint_signed_by_an_unknown_key_is_rejected(exported, verify_export, audit_settings):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from govern.audit.signing import SigningKey

    stranger = SigningKey(Ed25519PrivateKey.generate())
    body = dict(json.loads((audit_settings.audit_checkpoint_dir / "checkpoints.jsonl").read_text().splitlines()[0])["body"], number=99, key_id=stranger.key_id)
    with open(audit_settings.audit_checkpoint_dir / "checkpoints.jsonl", "a") as fh:
        fh.write(json.dumps({"body": body, "signature": stranger.sign(verify.canonical(body))}) + "\n")
    report = verify_export(exported)
    assert [(f.kind, f.checkpoint) for f in report.findings] == [("unknown_key", 99)]


def test_a_checkpoint_signed_outside_its_keys_validity_is_rejected(exported, verify_export, audit_settings):
    keys_file = audit_settings.audit_checkpoint_dir / "keys.json"
    doc = json.loads(keys_file.read_text())
    doc["keys"][0]["valid_to"] = "2000-01-01T00:00:00+00:00"  # as if the key had been retired long ago
    keys_file.write_text(json.dumps(doc))
    report = verify_export(exported)
    assert {f.kind for f in report.findings} == {"key_outside_validity"}
    assert {f.checkpoint for f in report.findings if f.checkpoint} == {1, 2}


def test_a_time_range_export_verifies_from_its_anchor(record_events, checkpoint, make_export, verify_export, runtime):
    from datetime import timedelta

    from govern.audit.models import AuditEvent
    from govern.timeutil import utcnow

    record_events(5)
    checkpoint()
    cut = utcnow()
    record_events(5)
    checkpoint()
    out = make_export(time_from=cut, time_to=utcnow() + timedelta(seconds=1))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["anchor"]["seq"] == 5 and manifest["range"]["first_seq"] == 6
    report = verify_export(out)
    assert report.ok, report.render()
    assert report.first_seq == 6
    with runtime.database.unit_of_work() as session:
        assert session.query(AuditEvent).count() == 10


def test_ocsf_output_has_one_api_activity_per_event(exported, make_export):
    out = make_export(fmt="ocsf")
    ocsf = [json.loads(line) for line in (out / "events.ocsf.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(ocsf) == len(read_lines(out))
    assert {e["class_uid"] for e in ocsf} == {6003}
    assert ocsf[0]["api"]["operation"] == "subjects:profile:read" and ocsf[0]["activity_id"] == 2


def test_an_interrupted_export_resumes(record_events, make_export, runtime, audit_settings, tmp_path, monkeypatch, verify_export):
    from govern.audit import export

    record_events(25)
    monkeypatch.setattr(export, "BATCH", 10)
    out = tmp_path / "resumable"
    calls = []

    def stop_after_two(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export.export(database=runtime.database, settings=audit_settings, out=out, on_progress=stop_after_two)
    assert (out / ".export-state.json").exists()
    result = export.export(database=runtime.database, settings=audit_settings, out=out)
    assert result.resumed
    assert verify_export(out).ok


def test_inclusion_and_consistency_proofs_verify(record_events, checkpoint, runtime, audit_settings, tmp_path):
    from govern.audit import checkpoints

    record_events(7)
    checkpoint()
    record_events(6)
    checkpoint()
    with runtime.database.unit_of_work() as session:
        proof = checkpoints.inclusion_proof(session=session, seq=5, settings=audit_settings)
        consistency = checkpoints.consistency_proof(session=session, first=1, second=2)
    assert verify.verify_proof(proof, None).ok
    proof["event"] = proof["event"].replace("customer_service", "marketing")
    assert [f.kind for f in verify.verify_proof(proof, None).findings] == ["modified"]
    a, b = consistency["first"]["body"], consistency["second"]["body"]
    path = [bytes.fromhex(p) for p in consistency["proof"]]
    assert verify.verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(a["merkle_root"]), bytes.fromhex(b["merkle_root"]), path)
    assert not verify.verify_consistency(a["tree_size"], b["tree_size"], bytes.fromhex(b["merkle_root"]), bytes.fromhex(b["merkle_root"]), path)


def _reference_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return verify.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return verify.node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def test_the_incremental_merkle_root_is_rfc_9162s_for_every_size():
    from govern.audit.checkpoints import _path, _subproof

    leaves = [verify.leaf_hash(str(i).encode()) for i in range(40)]
    tree = verify.Frontier()
    for n in range(1, 41):
        tree.append(leaves[n - 1])
        assert tree.root() == _reference_root(leaves[:n])
        for m in (0, n // 2, n - 1):
            assert verify.verify_inclusion(m, n, leaves[m], _path(m, leaves, 0, n), tree.root())
        for m in range(1, n):
            assert verify.verify_consistency(m, n, _reference_root(leaves[:m]), tree.root(), _subproof(m, leaves, 0, n, True))


def test_the_line_reader_does_not_split_on_unicode_line_separators(record_events, make_export, verify_export, runtime):
    from govern.audit import service
    from tests.audit.conftest import ACTOR

    with runtime.database.unit_of_work() as session:
        service.append(session=session, actor=ACTOR, action=SubjectAction.READ, reason="行\u2028分隔\u0085")
    out = make_export()
    assert verify_export(out).ok
    assert Path(out / "events.jsonl").read_bytes().count(b"\n") == 1
