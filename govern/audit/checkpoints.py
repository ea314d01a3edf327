"""Signed checkpoints: (number, tree size, chain head, RFC 9162 Merkle root, time, key id), kept in the database and
appended as JSON lines to a folder outside it (GOVERN_CHECKPOINT_DIR), which auditors collect. A checkpoint is
issued even when nothing happened, so that silence is provable; and inclusion/consistency proofs against one."""

from __future__ import annotations

import binascii
import json
import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import chain, signing
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent
from govern.audit.verifier import CHECKPOINT_FORMAT, Frontier, canonical, node_hash
from govern.config import Settings
from govern.db import Database
from govern.timeutil import utcnow

CHECKPOINT_FILE = "checkpoints.jsonl"


@dataclass
class Issued:
    line: dict
    sealed: int


def as_line(cp: AuditCheckpoint) -> dict:
    return {"body": json.loads(cp.body), "signature": cp.signature}


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1)).first()


def list_checkpoints(session: Session, *, min_size: int = 0, limit: int | None = None) -> list[AuditCheckpoint]:
    query = select(AuditCheckpoint).where(AuditCheckpoint.tree_size >= min_size).order_by(AuditCheckpoint.number)
    return list(session.scalars(query.limit(limit) if limit else query))


def _leaves(session: Session, after: int, upto: int, batch: int = 50_000):
    while after < upto:
        rows = session.execute(
            select(AuditChainEntry.seq, AuditChainEntry.leaf).where(AuditChainEntry.seq > after, AuditChainEntry.seq <= upto).order_by(AuditChainEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        for seq, leaf in rows:
            yield seq, binascii.unhexlify(leaf)
        after = rows[-1][0]


def issue(*, database: Database, settings: Settings, window_seconds: int | None = None) -> Issued:
    """Seals, then signs a checkpoint over the whole chain and appends it to the checkpoint folder."""
    sealed = chain.seal(database=database, window_seconds=window_seconds or settings.audit_seal_window_seconds)
    key = signing.load(settings)
    signing.publish(settings, key)
    with database.unit_of_work() as session:
        chain.lock(session)  # the sealer's lock: the head cannot move while the tree is extended
        size, head_hash = chain.head(session)
        previous = latest(session)
        tree = Frontier(previous.tree_size, [binascii.unhexlify(h) for h in json.loads(previous.frontier)]) if previous else Frontier()
        if previous and previous.tree_size > size:
            raise RuntimeError(f"the chain head (seq {size}) is behind checkpoint #{previous.number} ({previous.tree_size}): the log was cut back")
        expect = tree.size
        for seq, leaf in _leaves(session, tree.size, size):
            expect += 1
            if seq != expect:
                raise RuntimeError(f"the chain has a gap at seq {expect}: run `govern audit verify`")
            tree.append(leaf)
        number = (previous.number + 1) if previous else 1
        issued_at = utcnow()
        body = {
            "format": CHECKPOINT_FORMAT, "log": "govern-audit", "number": number, "tree_size": size, "head_hash": head_hash,
            "merkle_root": tree.root().hex(), "issued_at": issued_at.isoformat(timespec="microseconds"), "key_id": key.key_id,
        }
        signature = key.sign(canonical(body))
        session.add(AuditCheckpoint(
            number=number, tree_size=size, head_hash=head_hash, merkle_root=body["merkle_root"], issued_at=issued_at, key_id=key.key_id,
            signature=signature, body=canonical(body).decode(), frontier=json.dumps([n.hex() for n in tree.nodes]),
        ))
        line = {"body": body, "signature": signature}
        # Outside the database first: a checkpoint that never left it proves nothing to an auditor.
        append_to_folder(settings, line)
    return Issued(line=line, sealed=sealed.sealed)


def append_to_folder(settings: Settings, line: dict) -> None:
    folder = settings.audit_checkpoint_dir
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CHECKPOINT_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_folder(settings: Settings) -> list[dict]:
    path = settings.audit_checkpoint_dir / CHECKPOINT_FILE
    if not path.exists():
        return []
    return [json.loads(raw) for raw in path.read_bytes().split(b"\n") if raw.strip()]


# --- proofs --------------------------------------------------------------------------------------------------------


def _subtree_root(leaves: list[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) per RFC 9162."""
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(_subtree_root(leaves, lo, lo + k), _subtree_root(leaves, lo + k, hi))


def _path(m: int, leaves: list[bytes], lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return _path(m, leaves, lo, lo + k) + [_subtree_root(leaves, lo + k, hi)]
    return _path(m - k, leaves, lo + k, hi) + [_subtree_root(leaves, lo, lo + k)]


def _subproof(m: int, leaves: list[bytes], lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [_subtree_root(leaves, lo, hi)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return _subproof(m, leaves, lo, lo + k, complete) + [_subtree_root(leaves, lo + k, hi)]
    return _subproof(m - k, leaves, lo + k, hi, False) + [_subtree_root(leaves, lo, lo + k)]


def _all_leaves(session: Session, size: int) -> list[bytes]:
    return [leaf for _, leaf in _leaves(session, 0, size)]


def inclusion_proof(*, session: Session, seq: int, settings: Settings) -> dict:
    """The event at `seq`, its audit path and the first signed checkpoint that covers it (RFC 9162 §2.1.3)."""
    cp = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size >= seq).order_by(AuditCheckpoint.number).limit(1)).first()
    if cp is None or seq < 1:
        raise LookupError(f"no checkpoint covers seq {seq} yet: run `govern audit checkpoint`")
    entry = session.get(AuditChainEntry, seq)
    event = session.get(AuditEvent, entry.event_id) if entry else None
    if event is None:
        raise LookupError(f"the event at seq {seq} is not in the database (purged or never sealed)")
    leaves = _all_leaves(session, cp.tree_size)
    return {
        "format": "govern-audit-inclusion-proof/1", "seq": seq, "event_id": event.id, "event": event.canonical,
        "tree_size": cp.tree_size, "audit_path": [p.hex() for p in _path(seq - 1, leaves, 0, len(leaves))],
        "checkpoint": as_line(cp), "keys": signing.published_keys(settings),
    }


def consistency_proof(*, session: Session, first: int, second: int) -> dict:
    """A proof that checkpoint `second` extends checkpoint `first` (RFC 9162 §2.1.4), by checkpoint number."""
    a, b = session.get(AuditCheckpoint, first), session.get(AuditCheckpoint, second)
    if a is None or b is None or a.tree_size > b.tree_size:
        raise LookupError("give two checkpoint numbers, the earlier first")
    leaves = _all_leaves(session, b.tree_size)
    proof = _subproof(a.tree_size, leaves, 0, b.tree_size, True) if 0 < a.tree_size < b.tree_size else []
    return {"format": "govern-audit-consistency-proof/1", "first": as_line(a), "second": as_line(b), "proof": [p.hex() for p in proof]}
