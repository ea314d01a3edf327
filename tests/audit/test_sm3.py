"""The audit log under the commercial_cn suite: from the seq of the switch event on, leaves, links and every Merkle node
reaching that seq are SM3 (audit/verify.py); the SHA-256 part is hashed as it always was. The log verifies live and as
an export, inclusion and consistency proofs verify across the switch, a tampered SM3 event is caught, a checkpoint
naming another algorithm than the log's is refused, and a verifier without SM3 says so (exit 2) instead of passing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from govern.audit import chain, checkpoints, integrity, signing
from govern.audit import verifier as verify
from govern.audit.models import AuditChainEntry, AuditCheckpoint
from govern.audit.tags import AuditAction
from tests.audit.conftest import ACTOR, kinds, read_lines, write_lines

pytestmark = pytest.mark.skipif(not verify.sm3_available(), reason="this Python's OpenSSL has no SM3")


def _reference_root(leaves: list[bytes], lo: int, sm3_from: int) -> bytes:
    """MTH by its definition: a node over [lo, lo+n) is SM3 when lo+n >= sm3_from."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return verify.node_hash(_reference_root(leaves[:k], lo, sm3_from), _reference_root(leaves[k:], lo + k, sm3_from), lo + len(leaves) >= sm3_from)


def _leaves(n: int, sm3_from: int) -> list[bytes]:
    return [verify.leaf_hash(str(i).encode(), i + 1 >= sm3_from) for i in range(n)]


@pytest.mark.parametrize("sm3_from", [1, 2, 5, 8, 9, 13, verify.NEVER])
def test_trees_paths_and_proofs_switch_at_the_seq_and_the_sha256_part_stays_as_it_was(sm3_from):
    leaves = _leaves(21, sm3_from)
    for n in range(1, 22):
        tree = verify.Frontier(sm3_from=sm3_from)
        for leaf in leaves[:n]:
            tree.append(leaf)
        root = _reference_root(leaves[:n], 0, sm3_from)
        assert tree.root() == root
        if n < sm3_from:  # wholly before the switch: the plain SHA-256 tree
            assert root == _reference_root(leaves[:n], 0, verify.NEVER)
        whole = checkpoints.Window(0, [], leaves[:n], sm3_from)
        for m in range(n):
            path = checkpoints._path(m, whole, 0, n)
            assert verify.verify_inclusion(m, n, leaves[m], path, root, sm3_from)
            assert not verify.verify_inclusion(m, n, verify.leaf_hash(b"forged", m + 1 >= sm3_from), path, root, sm3_from)
        for m in range(1, n):
            proof = checkpoints._subproof(m, whole, 0, n, True)
            first = _reference_root(leaves[:m], 0, sm3_from)
            assert verify.verify_consistency(m, n, first, root, proof, sm3_from)
            assert not verify.verify_consistency(m, n, verify.node_hash(first, first), root, proof, sm3_from)
        if n % 4 == 0:
            assert verify.perfect_root(leaves[n - 4:n], n - 4, sm3_from) == _reference_root(leaves[n - 4:n], n - 4, sm3_from)


def _switch(runtime) -> None:
    with runtime.database.unit_of_work() as session:
        assert chain.switch_to_sm3(session, ACTOR, "test")


@pytest.fixture
def switched(runtime, record_events, checkpoint):
    """SHA-256 events (those of start-up and 5 more) and a checkpoint; the switch and 6 more events; a checkpoint; 3
    more; a checkpoint. Returns the seq of the switch."""
    record_events(5)
    checkpoint()
    with runtime.database.unit_of_work() as session:
        at = chain.head(session)[0] + 1
    _switch(runtime)
    record_events(6)
    checkpoint()
    record_events(3)
    checkpoint()
    return at


def test_the_sealer_turns_to_sm3_at_the_switch_event_and_checkpoints_name_it(switched, runtime, audit_settings):
    with runtime.database.unit_of_work() as session:
        assert chain.sm3_from(session) == switched
        assert chain.sm3_from(session, upto=switched - 1) == verify.NEVER
        assert chain.switch_to_sm3(session, ACTOR, "again") is False  # once is enough
        rows = session.execute(text("SELECT c.seq, c.leaf, e.canonical FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq")).all()
        bodies = [json.loads(cp.body) for cp in checkpoints.list_checkpoints(session)]
    for seq, leaf, canonical in rows:
        assert leaf == verify.leaf_hash(canonical.encode(), seq >= switched).hex()
    assert json.loads(rows[switched - 1][2])["action"] == AuditAction.HASH_SWITCH
    assert "hash" not in bodies[0]
    assert [b["hash"] for b in bodies[1:]] == [{"algorithm": "sm3", "from_seq": switched}] * 2
    report = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert report.ok, report.render()
    assert report.checkpoints_verified == 3


def test_an_export_of_a_log_that_switches_verifies_and_says_so(switched, make_export, verify_export):
    out = make_export()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["hash"] == {"algorithm": "sm3", "from_seq": switched} and "SM3" in manifest["hashing"]
    report = verify_export(out)
    assert report.ok, report.render()
    assert report.checkpoints_verified >= 3 and any(f"SM3 from seq {switched}" in n for n in report.notes)
    assert verify.verify_export(out, workers=1).ok


def test_a_log_sm3_from_its_first_event_verifies(runtime, record_events, checkpoint, make_export, verify_export, audit_settings):
    _switch(runtime)
    record_events(9)
    line = checkpoint()
    assert line["body"]["hash"] == {"algorithm": "sm3", "from_seq": 1}
    assert verify_export(make_export()).ok
    assert integrity.verify_live(database=runtime.database, settings=audit_settings).ok


def test_a_tampered_sm3_event_is_caught_in_an_export_and_in_the_database(switched, make_export, verify_export, runtime, tamper, audit_settings):
    out = make_export()
    lines = read_lines(out)
    seq = switched + 3
    lines[seq - 1] = lines[seq - 1].replace(b'"customer_service"', b'"marketing"')
    write_lines(out, lines)
    report = verify_export(out)
    assert not report.ok and verify.MODIFIED in kinds(report) and report.findings[0].seq == seq
    with tamper() as c:
        c.execute(text("UPDATE audit_events SET canonical = replace(canonical, 'customer_service', 'marketing') "
                       "WHERE id = (SELECT event_id FROM audit_chain WHERE seq = :s)"), {"s": seq})
    live = integrity.verify_live(database=runtime.database, settings=audit_settings)
    assert not live.ok and any(f.kind == verify.MODIFIED and f.seq == seq for f in live.findings)


def test_a_relinked_log_in_sha256_is_refused_by_the_sm3_checkpoints(switched, make_export, verify_export):
    """A forger who recomputes every hash in SHA-256 (and drops the switch from the manifest's view) does not match
    the signed checkpoints, which name SM3 from the switch."""
    from tests.audit.conftest import relink

    out = make_export()
    write_lines(out, relink(read_lines(out)))
    report = verify_export(out)
    assert not report.ok


def _forge_checkpoint(runtime, audit_settings, body_change) -> dict:
    """A checkpoint signed with the real key over the real head, its body changed by `body_change` before signing."""
    with runtime.database.unit_of_work() as session:
        newest = checkpoints.list_checkpoints(session)[-1]
    body = json.loads(newest.body)
    body_change(body)
    body["number"] += 1
    key = signing.load(audit_settings)
    return {"body": body, "signature": key.sign(verify.canonical(body))}


def test_the_verifier_refuses_a_checkpoint_whose_algorithm_does_not_match_the_log(switched, runtime, audit_settings, make_export, tmp_path):
    out = make_export()

    def sha256_claim(body):  # the same head, a SHA-256 root, and no word of SM3
        del body["hash"]
        with runtime.database.unit_of_work() as session:
            leaves = [bytes.fromhex(h) for h in session.scalars(select(AuditChainEntry.leaf).order_by(AuditChainEntry.seq))]
        tree = verify.Frontier()
        for leaf in leaves[:body["tree_size"]]:
            tree.append(leaf)
        body["merkle_root"] = tree.root().hex()

    held = tmp_path / "held.jsonl"
    held.write_text(json.dumps(_forge_checkpoint(runtime, audit_settings, sha256_claim)) + "\n")
    report = verify.verify_export(out, [held, audit_settings.audit_checkpoint_dir])
    assert not report.ok and kinds(report) == [verify.HASH_MISMATCH]
    assert "SHA-256" in report.findings[0].message and f"SM3 from seq {switched}" in report.findings[0].message

    wrong_seq = _forge_checkpoint(runtime, audit_settings, lambda b: b["hash"].update(from_seq=switched + 1))
    held.write_text(json.dumps(wrong_seq) + "\n")
    assert kinds(verify.verify_export(out, [held, audit_settings.audit_checkpoint_dir])) == [verify.HASH_MISMATCH]

    unknown = _forge_checkpoint(runtime, audit_settings, lambda b: b["hash"].update(algorithm="sha3-256"))
    held.write_text(json.dumps(unknown) + "\n")
    report = verify.verify_export(out, [held, audit_settings.audit_checkpoint_dir])
    assert kinds(report) == [verify.FORMAT] and "unknown hash statement" in report.findings[0].message


def test_inclusion_and_consistency_proofs_verify_across_the_switch(switched, runtime, audit_settings, tmp_path):
    keys = audit_settings.audit_checkpoint_dir / "keys.json"
    with runtime.database.unit_of_work() as session:
        size = checkpoints.list_checkpoints(session)[-1].tree_size
        numbers = [cp.number for cp in checkpoints.list_checkpoints(session)]
        proofs = [checkpoints.inclusion_proof(session=session, seq=seq, settings=audit_settings) for seq in range(1, size + 1)]
        pairs = [checkpoints.consistency_proof(session=session, first=a, second=b) for a in numbers for b in numbers if a <= b]
    assert {json.dumps(p.get("hash")) for p in proofs if p["tree_size"] >= switched} == {json.dumps({"algorithm": "sm3", "from_seq": switched})}
    for proof in proofs:
        report = verify.verify_proof(proof, keys)
        assert report.ok, (proof["seq"], report.render())
    for pair in pairs:
        assert verify.verify_consistency_proof(pair, keys).ok
    # On the command line too, as an auditor runs it.
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proofs[switched]))
    assert verify.main(["--proof", str(path), "--keys", str(keys)]) == 0
    # An event altered after the switch does not lead to the root.
    bad = dict(proofs[switched + 2], event=proofs[switched + 2]["event"].replace("customer_service", "marketing"))
    assert kinds(verify.verify_proof(bad, keys)) == [verify.MODIFIED]


def test_a_consistency_proof_between_checkpoints_that_disagree_on_the_hash_is_refused(switched, runtime, audit_settings):
    keys = audit_settings.audit_checkpoint_dir / "keys.json"
    with runtime.database.unit_of_work() as session:
        numbers = [cp.number for cp in checkpoints.list_checkpoints(session)]
        good = checkpoints.consistency_proof(session=session, first=numbers[1], second=numbers[2])
    assert verify.verify_consistency_proof(good, keys).ok
    forged = _forge_checkpoint(runtime, audit_settings, lambda b: b["hash"].update(from_seq=switched - 2))
    report = verify.verify_consistency_proof(dict(good, second=forged), keys)
    assert kinds(report) == [verify.HASH_MISMATCH]


def test_a_verifier_without_sm3_says_so_and_does_not_pass(switched, make_export, monkeypatch, capsys, runtime, audit_settings):
    out = make_export()
    with runtime.database.unit_of_work() as session:
        proof = checkpoints.inclusion_proof(session=session, seq=switched + 1, settings=audit_settings)
    monkeypatch.setitem(verify.sm3.__globals__, "_SM3", None)  # the loaded audit/verify.py's own globals
    with pytest.raises(verify.Sm3Unavailable):
        verify.verify_export(out)
    assert verify.main([str(out)]) == 2
    err = capsys.readouterr().err
    assert "no SM3" in err and "cannot be verified here" in err
    with pytest.raises(verify.Sm3Unavailable):
        verify.verify_proof(proof, audit_settings.audit_checkpoint_dir / "keys.json")


def test_a_sha256_log_is_unchanged(runtime, record_events, checkpoint, make_export, verify_export):
    record_events(7)
    line = checkpoint()
    assert "hash" not in line["body"]
    out = make_export()
    assert "hash" not in json.loads((out / "manifest.json").read_text())
    with runtime.database.unit_of_work() as session:
        assert chain.sm3_from(session) == verify.NEVER
        stored = session.scalar(select(AuditCheckpoint.merkle_root).order_by(AuditCheckpoint.number.desc()).limit(1))
        leaves = [bytes.fromhex(h) for h in session.scalars(select(AuditChainEntry.leaf).order_by(AuditChainEntry.seq))]
    assert stored == _reference_root(leaves, 0, verify.NEVER).hex()
    assert verify_export(out).ok
