"""A stored checkpoint is trusted only once verified on read: a forged, edited or out-of-order audit_checkpoints row is
reported by verify and passed over by the sealer, so it can neither stop nor steer later checkpoints."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from govern.audit import checkpoints, integrity

from .conftest import kinds


@pytest.fixture
def two_checkpoints(record_events, checkpoint):
    record_events(4)
    checkpoint()
    record_events(3)
    checkpoint()


def _forge(conn, number: int, *, tree_size: int, head: str = "ab" * 32, root: str = "cd" * 32, signature: str = "AAAA") -> None:
    body = {"format": "govern-audit-checkpoint/1", "log": "govern-audit", "number": number, "tree_size": tree_size, "head_hash": head,
            "merkle_root": root, "issued_at": "2026-12-01T00:00:00.000000+00:00", "key_id": "0" * 16}
    conn.execute(text(
        "INSERT INTO audit_checkpoints (number, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier) "
        "VALUES (:n, :t, :h, :r, CURRENT_TIMESTAMP, :k, :s, :b, '[]')"
    ), {"n": number, "t": tree_size, "h": head, "r": root, "k": body["key_id"], "s": signature, "b": json.dumps(body, sort_keys=True, separators=(",", ":"))})


def _verify(runtime, audit_settings):
    return integrity.verify_live(database=runtime.database, settings=audit_settings)


@pytest.mark.parametrize("tree_size", [10**6, 1], ids=["claims_a_longer_log", "claims_a_shorter_log"])
def test_a_forged_checkpoint_does_not_stop_the_next_one(tree_size, two_checkpoints, record_events, checkpoint, tamper, runtime, audit_settings):
    before = checkpoints.read_folder(audit_settings)[-1]["body"]["tree_size"]
    with tamper() as conn:
        _forge(conn, 3, tree_size=tree_size)
    record_events(2)
    line = checkpoint()
    assert (line["body"]["number"], line["body"]["tree_size"]) == (4, before + 2)
    report = _verify(runtime, audit_settings)
    assert [(f.kind, f.checkpoint) for f in report.findings] == [("unknown_key", 3)]


def test_a_checkpoint_with_a_bad_signature_is_reported_and_skipped(two_checkpoints, checkpoint, tamper, runtime, audit_settings):
    real = checkpoints.read_folder(audit_settings)[-1]["body"]
    with tamper() as conn:  # a real key id, a signature that does not verify, a huge number
        _forge(conn, 1000, tree_size=real["tree_size"], head=real["head_hash"], root=real["merkle_root"])
        conn.execute(text("UPDATE audit_checkpoints SET key_id = :k, body = replace(body, :z, :k2) WHERE number = 1000"), {"k": real["key_id"], "k2": real["key_id"], "z": "0" * 16})
    line = checkpoint()
    assert line["body"]["number"] == 1001
    report = _verify(runtime, audit_settings)
    assert [(f.kind, f.checkpoint) for f in report.findings] == [("checkpoint_signature_invalid", 1000)]


@pytest.mark.parametrize("edit", [
    "UPDATE audit_checkpoints SET head_hash = :h WHERE number = 2",
    "UPDATE audit_checkpoints SET tree_size = 99 WHERE number = 2",
    "UPDATE audit_checkpoints SET frontier = :f WHERE number = 2",
], ids=["head_hash", "tree_size", "frontier"])
def test_an_edited_checkpoint_row_is_reported_and_the_sealer_goes_on_from_a_trusted_one(edit, two_checkpoints, record_events, checkpoint, tamper, runtime, audit_settings):
    before = checkpoints.read_folder(audit_settings)[-1]["body"]["tree_size"]
    with tamper() as conn:
        conn.execute(text(edit), {"h": "ee" * 32, "f": json.dumps(["ff" * 32] * 3)})
    record_events(1)
    line = checkpoint()
    assert (line["body"]["number"], line["body"]["tree_size"]) == (3, before + 1)
    report = _verify(runtime, audit_settings)
    # The new checkpoint's Merkle root is right (the walk compares it); only the edited row is named.
    assert [(f.kind, f.checkpoint) for f in report.findings] == [("checkpoint_inconsistent", 2)]
    assert "stored checkpoint row" in report.findings[0].message


def test_a_checkpoint_row_copied_under_another_number_is_reported(two_checkpoints, tamper, runtime, audit_settings):
    with tamper() as conn:  # an old, genuinely signed body replayed as the newest checkpoint
        conn.execute(text(
            "INSERT INTO audit_checkpoints (number, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier) "
            "SELECT 5, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier FROM audit_checkpoints WHERE number = 1"
        ))
    report = _verify(runtime, audit_settings)
    assert ("checkpoint_inconsistent", 5) in [(f.kind, f.checkpoint) for f in report.findings]


def test_an_unreadable_checkpoint_body_is_reported_not_a_crash(two_checkpoints, tamper, runtime, audit_settings, checkpoint):
    with tamper() as conn:
        conn.execute(text("UPDATE audit_checkpoints SET body = 'not json' WHERE number = 2"))
    assert checkpoint()["body"]["number"] == 3
    assert "format" in kinds(_verify(runtime, audit_settings))


def test_forged_rows_in_bulk_are_not_even_read_by_the_sealer(two_checkpoints, record_events, checkpoint, tamper, capsys):
    with tamper() as conn:
        for number in range(3, 203):
            _forge(conn, number, tree_size=number)
    capsys.readouterr()
    record_events(1)
    assert checkpoint()["body"]["number"] == 203
    # The sealer went from the newest checkpoint the folder outside holds (#2) and never examined the 200 rows above it.
    assert "audit_checkpoint_untrusted" not in capsys.readouterr().out


def test_an_inclusion_proof_is_never_made_against_a_forged_checkpoint(two_checkpoints, tamper, runtime, audit_settings):
    from govern.audit import verifier as verify

    with tamper() as conn:  # numbered before the genuine ones, so that it would be the first to cover any seq
        _forge(conn, 0, tree_size=10**6)
    with runtime.database.unit_of_work() as session:
        proof = checkpoints.inclusion_proof(session=session, seq=2, settings=audit_settings)
    assert proof["checkpoint"]["body"]["number"] == 1
    assert verify.verify_proof(proof, audit_settings.audit_checkpoint_dir / "keys.json").ok
