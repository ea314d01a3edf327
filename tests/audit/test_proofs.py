"""Inclusion and consistency proofs read only what they need: the leaves between the signed checkpoints around the
event (or between the two checkpoints), starting from a checkpoint's stored frontier -- never the whole log -- and
still in the RFC 9162 form the offline verifier checks."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govern.audit import checkpoints
from govern.audit import verifier as verify
from govern.audit.checkpoints import Window, _path, _subproof


def _reference_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return verify.node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


def _window(leaves: list[bytes], at: int, size: int) -> Window:
    tree = verify.Frontier()
    for leaf in leaves[:at]:
        tree.append(leaf)
    return Window(at, tree.nodes, leaves[at:size])


def test_a_window_gives_the_same_paths_and_proofs_as_the_whole_tree_for_every_size():
    leaves = [verify.leaf_hash(str(i).encode()) for i in range(70)]
    for n in range(1, 71):
        for m in range(n):
            assert _path(m, _window(leaves, m, n), 0, n) == _path(m, leaves, 0, n)
        for m in range(1, n):
            assert _subproof(m, _window(leaves, m, n), 0, n, True) == _subproof(m, leaves, 0, n, True)
            assert verify.verify_consistency(m, n, _reference_root(leaves[:m]), _reference_root(leaves[:n]), _subproof(m, _window(leaves, m, n), 0, n, True))


def test_a_window_refuses_a_node_left_of_it_that_its_frontier_does_not_hold():
    leaves = [verify.leaf_hash(str(i).encode()) for i in range(8)]
    with pytest.raises(LookupError):
        _window(leaves, 6, 8).root(4, 5)


@pytest.fixture
def logged(record_events, checkpoint, runtime):
    """Events signed by four checkpoints; returns the signed tree sizes."""
    for n in (5, 6, 9, 4):
        record_events(n)
        checkpoint()
    with runtime.database.unit_of_work() as session:
        return [cp.tree_size for cp in checkpoints.list_checkpoints(session)]


def test_every_events_inclusion_proof_and_every_consistency_proof_verifies(logged, runtime, audit_settings):
    keys = audit_settings.audit_checkpoint_dir / "keys.json"
    with runtime.database.unit_of_work() as session:
        proofs = [checkpoints.inclusion_proof(session=session, seq=seq, settings=audit_settings) for seq in range(1, logged[-1] + 1)]
        pairs = [checkpoints.consistency_proof(session=session, first=a, second=b) for a in range(1, 5) for b in range(a, 5)]
    for proof in proofs:
        report = verify.verify_proof(proof, keys)
        assert report.ok, report.render()
        assert proof["tree_size"] == min(size for size in logged if size >= proof["seq"])  # the first checkpoint covering it
    for proof in pairs:
        assert verify.verify_consistency_proof(proof, keys).ok


def test_a_proof_reads_no_leaf_before_the_checkpoint_below_its_event(logged, runtime, audit_settings, tamper):
    """The leaves of the first two checkpoints' events made unreadable as hashes: a proof of a later event and a
    consistency proof from the second checkpoint on never read them."""
    with tamper() as c:
        c.execute(text("UPDATE audit_chain SET leaf = :bad WHERE seq <= :upto"), {"bad": "zz" * 32, "upto": logged[1]})
    keys = audit_settings.audit_checkpoint_dir / "keys.json"
    with runtime.database.unit_of_work() as session:
        proof = checkpoints.inclusion_proof(session=session, seq=logged[1] + 3, settings=audit_settings)
        consistency = checkpoints.consistency_proof(session=session, first=2, second=4)
        with pytest.raises(checkpoints.AuditIntegrityError):  # the whole tree, as before, would have read them
            checkpoints._all_leaves(session, logged[-1])
    assert verify.verify_proof(proof, keys).ok
    assert verify.verify_consistency_proof(consistency, keys).ok
