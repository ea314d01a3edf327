"""Signed checkpoints: (number, tree size, chain head, RFC 9162 Merkle root, time, key id), kept in the database and
appended as JSON lines to a folder outside it (GOVERN_CHECKPOINT_DIR), which auditors collect. A checkpoint is
issued even when nothing happened, so that silence is provable; and inclusion/consistency proofs against one.

A row of audit_checkpoints is trusted only once it is verified on read: its signature under keys.json, its columns
equal to its signed body, its frontier giving its signed Merkle root (`problem`). The sealer skips any other row (and
`govern audit verify` reports it), so a forged or edited row can neither stop nor steer later checkpoints. Purge and
restore statements are checkpoints too (`kind`), signed the same way (audit/README.md describes the bodies). A checkpoint
over a log that turned to SM3 at seq S <= its tree size says so in its signed body ({"hash": {"algorithm": "sm3",
"from_seq": S}}); its tree, frontier and proofs hash every node reaching S with SM3 (audit/verify.py)."""

from __future__ import annotations

import binascii
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from govern.audit import archived, chain, signing
from govern.audit.models import AuditChainEntry, AuditCheckpoint, AuditEvent
from govern.audit.verifier import (  # noqa: F401 (parse_time: integrity)
    CHECKPOINT_FORMAT,
    NEVER,
    Frontier,
    Report,
    canonical,
    check_checkpoints,
    hash_statement,
    leaf_hash,
    node_hash,
    parse_time,
    perfect_root,
    stated_sm3_from,
    verify_consistency,
    verify_inclusion,
)
from govern.config import Settings
from govern.db import Database
from govern.logging import get_logger
from govern.timeutil import utcnow

log = get_logger("govern.audit")


class AuditIntegrityError(Exception):
    """The stored log contradicts itself or a signed checkpoint: nothing is signed over it until `govern audit verify`
    has been run and the cause investigated."""

CHECKPOINT_FILE = "checkpoints.jsonl"


@dataclass
class Issued:
    line: dict[str, Any]
    sealed: int


def as_line(cp: AuditCheckpoint) -> dict[str, Any]:
    try:
        body = json.loads(cp.body)
    except ValueError:
        body = {"number": cp.number, "unreadable": True}  # the verifier names it ("not a govern checkpoint")
    return {"body": body, "signature": cp.signature}


def issued_at(body: dict[str, Any]) -> datetime:
    """The signed time of a checkpoint body (every body has one: `problem` and the signature checked it)."""
    when = parse_time(body["issued_at"])
    if when is None:
        raise AuditIntegrityError(f"checkpoint {body.get('number')} has no issued_at")
    return when


def _same_time(column: datetime, text_value: str) -> bool:
    signed = parse_time(text_value)
    return (column if column.tzinfo else column.replace(tzinfo=timezone.utc)) == signed


def problem(cp: AuditCheckpoint, keys: dict[str, dict[str, Any]]) -> str | None:
    """Why this stored checkpoint cannot be trusted, or None: it must be signed by a published key, its columns must
    equal its signed body and its frontier must give its signed Merkle root."""
    report = Report()
    good = check_checkpoints([as_line(cp)], keys, report)
    if not good:
        return report.findings[0].message if report.findings else "not a valid checkpoint"
    return row_problem(cp, good[0])


def row_problem(cp: AuditCheckpoint, body: dict[str, Any]) -> str | None:
    """Why the columns of a row whose body verifies disagree with that body, or None."""
    if (body["number"], body["tree_size"], body["head_hash"], body["merkle_root"], body["key_id"]) != (cp.number, cp.tree_size, cp.head_hash, cp.merkle_root, cp.key_id):
        return "its columns differ from its signed body"
    if not _same_time(cp.issued_at, body["issued_at"]):
        return "its issued_at column differs from its signed body"
    try:
        nodes = [binascii.unhexlify(h) for h in json.loads(cp.frontier)]
    except (ValueError, TypeError, binascii.Error):
        return "its frontier is unreadable"
    if len(nodes) != bin(cp.tree_size).count("1") or Frontier(cp.tree_size, nodes, stated_sm3_from(body)).root().hex() != cp.merkle_root:
        return "its frontier does not give its signed Merkle root"
    return None


def trusted(session: Session, settings: Settings, *, newest_first: bool = True, batch: int = 100) -> Iterator[tuple[AuditCheckpoint, dict[str, Any]]]:
    """Stored checkpoints that pass `problem`, newest first (from the newest one the checkpoint folder also holds) or
    oldest first, each with its signed body; untrusted rows are logged and skipped."""
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    order = AuditCheckpoint.number.desc() if newest_first else AuditCheckpoint.number
    last = None
    if newest_first:
        # The newest checkpoint the folder outside the database holds comes first: rows numbered above it (forged in
        # bulk, say) are never even read, so no amount of them slows the sealer down.
        anchor = _last_folder_number(settings)
        cp = session.get(AuditCheckpoint, anchor) if anchor else None
        if cp is not None and problem(cp, keys) is None:
            yield cp, json.loads(cp.body)
            last = cp.number
    while True:
        query = select(AuditCheckpoint).order_by(order).limit(batch)
        if last is not None:
            query = query.where(AuditCheckpoint.number < last if newest_first else AuditCheckpoint.number > last)
        rows = list(session.scalars(query))
        if not rows:
            return
        for cp in rows:
            why = problem(cp, keys)
            if why is None:
                yield cp, json.loads(cp.body)
            else:
                log.warning("audit_checkpoint_untrusted", checkpoint=cp.number, problem=why)
        last = rows[-1].number


def signed_purges(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """The bodies of the trusted purge statements stored in the database, oldest first."""
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.body.contains('"kind":"purge"')).order_by(AuditCheckpoint.number))
    return [json.loads(cp.body) for cp in rows if problem(cp, keys) is None]


def purged_through(session: Session, settings: Settings) -> tuple[int, str | None]:
    """(seq, chain hash there) up to which a signed purge statement says event rows were deleted; (0, None) if none."""
    purges = signed_purges(session, settings)
    if not purges:
        return 0, None
    best = max(purges, key=lambda b: b["purge"]["through_seq"])
    return best["purge"]["through_seq"], best["purge"]["through_hash"]


def next_number(session: Session, settings: Settings) -> int:
    """One more than any number used in the database or in the checkpoint folder (after a restore the folder holds
    numbers the restored database never saw; a forged row's number is simply passed over)."""
    stored = session.scalar(select(AuditCheckpoint.number).order_by(AuditCheckpoint.number.desc()).limit(1)) or 0
    return max(stored, _last_folder_number(settings)) + 1


def _last_folder_number(settings: Settings) -> int:
    path = settings.audit_checkpoint_dir / CHECKPOINT_FILE
    if not path.exists():
        return 0
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        tail = fh.read().split(b"\n")
    for raw in reversed(tail):
        try:
            number = json.loads(raw)["body"]["number"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(number, int):
            return number
    return 0


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.number.desc()).limit(1)).first()


def list_checkpoints(session: Session, *, min_size: int = 0, limit: int | None = None, after: int = 0) -> list[AuditCheckpoint]:
    """Checkpoints covering at least `min_size` events, in order, from the one after number `after` (a page's cursor)."""
    query = select(AuditCheckpoint).where(AuditCheckpoint.tree_size >= min_size, AuditCheckpoint.number > after).order_by(AuditCheckpoint.number)
    return list(session.scalars(query.limit(limit) if limit else query))


def _leaves(session: Session, after: int, upto: int, batch: int = 50_000) -> Iterator[tuple[int, bytes]]:
    if session.get_bind().dialect.name == "postgresql":
        return _leaves_aggregated(session, after, upto, batch * 4)
    return _leaf_rows(session, after, upto, batch)


def _leaf_rows(session: Session, after: int, upto: int, batch: int = 50_000) -> Iterator[tuple[int, bytes]]:
    while after < upto:
        # Through the connection, not the ORM session: plain rows, a third of the cost per leaf for the same statement.
        rows = session.connection().execute(
            select(AuditChainEntry.seq, AuditChainEntry.leaf).where(AuditChainEntry.seq > after, AuditChainEntry.seq <= upto).order_by(AuditChainEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        for seq, leaf in rows:
            try:
                yield seq, binascii.unhexlify(leaf)
            except (binascii.Error, ValueError):
                raise AuditIntegrityError(f"the chain's leaf at seq {seq} is not a hash: run `govern audit verify`") from None
        after = rows[-1][0]


def _contiguous_leaves(session: Session, after: int, upto: int) -> Iterator[bytes]:
    """The leaves of seq after+1..upto, refusing a chain with a gap: a missing seq is named, never skipped."""
    expect = after
    for seq, leaf in _leaves(session, after, upto):
        expect += 1
        if seq != expect:
            raise AuditIntegrityError(f"the chain has a gap at seq {expect}: run `govern audit verify`")
        yield leaf
    if expect != upto:
        raise AuditIntegrityError(f"the chain has a gap at seq {expect + 1}: run `govern audit verify`")


def _leaves_aggregated(session: Session, after: int, upto: int, batch: int) -> Iterator[tuple[int, bytes]]:
    """The leaves of seq after+1..upto on PostgreSQL, a range at a time as one string (string_agg in seq order): a
    row per leaf costs more in Python than the hashing that follows. A range with a gap or a malformed leaf is read
    row by row instead, which names the seq."""
    while after < upto:
        top = min(after + batch, upto)
        count, first, last, joined = session.execute(
            text("SELECT count(*), min(seq), max(seq), string_agg(leaf, '' ORDER BY seq) FROM audit_chain WHERE seq > :a AND seq <= :b"),
            {"a": after, "b": top},
        ).one()
        if not count:
            return
        raw = None
        if first == after + 1 and last == first + count - 1 and len(joined) == 64 * count:
            try:
                raw = binascii.unhexlify(joined)
            except (binascii.Error, ValueError):
                raw = None
        if raw is None:
            yield from _leaf_rows(session, after, top)
            return
        for k in range(count):
            yield first + k, raw[32 * k:32 * k + 32]
        after = top


def issue(*, database: Database, settings: Settings, window_seconds: int | None = None) -> Issued:
    """Seals, then signs a checkpoint over the whole chain and appends it to the checkpoint folder."""
    sealed = chain.seal(database=database, window_seconds=window_seconds or settings.audit_seal_window_seconds)
    key = signing.load(settings)
    signing.publish(settings, key)
    with database.unit_of_work() as session:
        chain.lock(session)  # the sealer's lock: the head cannot move while the tree is extended
        line = sign(session=session, settings=settings, key=key)
    return Issued(line=line, sealed=sealed.sealed)


def sign(*, session: Session, settings: Settings, key: signing.SigningKey, extra: dict[str, Any] | None = None, upto: int | None = None) -> dict[str, Any]:
    """Signs a checkpoint over the chain as it stands (up to seq `upto` if given), stores it and appends it to the folder.
    The caller holds the sealer's lock. `extra` adds the fields of a purge or restore statement."""
    size, head_hash = chain.head(session)
    if upto is not None:
        size = upto
        stored = session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == upto)) if upto else GENESIS_HEX
        if stored is None:
            raise AuditIntegrityError(f"the chain has no seq {upto}")
        head_hash = stored
    previous = None
    for cp, _body in trusted(session, settings):
        if cp.tree_size > size:
            if upto is not None:
                continue  # a restore: the restored database may hold checkpoints of the log it replaced
            raise AuditIntegrityError(f"the chain head (seq {size}) is behind checkpoint #{cp.number} ({cp.tree_size}): the log was cut back; run `govern audit verify`")
        at = session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == cp.tree_size)) if cp.tree_size else GENESIS_HEX
        if at != cp.head_hash:
            raise AuditIntegrityError(f"the chain at seq {cp.tree_size} differs from signed checkpoint #{cp.number}: run `govern audit verify`")
        previous = cp
        break
    sm3_from = chain.sm3_from(session, size)  # the tree's nodes reaching this seq are SM3 (NEVER: all SHA-256)
    nodes = [binascii.unhexlify(h) for h in json.loads(previous.frontier)] if previous else []
    tree = Frontier(previous.tree_size if previous else 0, nodes, sm3_from)
    for leaf in _contiguous_leaves(session, tree.size, size):
        tree.append(leaf)
    number = next_number(session, settings)
    issued_at = utcnow()
    body = {
        "format": CHECKPOINT_FORMAT, "log": "govern-audit", "number": number, "tree_size": size, "head_hash": head_hash,
        "merkle_root": tree.root().hex(), "issued_at": issued_at.isoformat(timespec="microseconds"), "key_id": key.key_id,
        **hash_statement(sm3_from, size), **(extra or {}),
    }
    signature = key.sign(canonical(body))
    session.add(AuditCheckpoint(
        number=number, tree_size=size, head_hash=head_hash, merkle_root=body["merkle_root"], issued_at=issued_at, key_id=key.key_id,
        signature=signature, body=canonical(body).decode(), frontier=json.dumps([n.hex() for n in tree.nodes]),
    ))
    line = {"body": body, "signature": signature}
    # Outside the database first: a checkpoint that never left it proves nothing to an auditor.
    append_to_folder(settings, line)
    return line


GENESIS_HEX = "00" * 32


def append_to_folder(settings: Settings, line: dict[str, Any]) -> None:
    folder = settings.audit_checkpoint_dir
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CHECKPOINT_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_folder(settings: Settings) -> list[dict[str, Any]]:
    path = settings.audit_checkpoint_dir / CHECKPOINT_FILE
    if not path.exists():
        return []
    return [json.loads(raw) for raw in path.read_bytes().split(b"\n") if raw.strip()]


# --- proofs --------------------------------------------------------------------------------------------------------
#
# A proof never reads the whole log. Every node an RFC 9162 audit path or consistency proof names lies either wholly
# left of a place `at` -- then it is one of the perfect subtrees of the tree of size `at`, its frontier -- or wholly
# right of it, within the leaves from `at` to the proof's tree size. The frontier at `at` is a stored checkpoint's
# (signed root, verified on read) extended by the leaves after it; so a proof reads the leaves between the signed
# checkpoints around the event (or between the two checkpoints of a consistency proof), whatever the log's size.


class Window:
    """The nodes a proof needs: the frontier of the tree of size `at` (perfect subtrees, largest first) and the leaves
    from index `at` on."""

    def __init__(self, at: int, frontier: list[bytes], leaves: list[bytes], sm3_from: int = NEVER) -> None:
        self.at, self.leaves, self.sm3_from = at, leaves, sm3_from
        self.left: dict[tuple[int, int], bytes] = {}
        lo = 0
        for bit in reversed(range(at.bit_length())):
            if at >> bit & 1:
                self.left[(lo, lo + (1 << bit))] = frontier[len(self.left)]
                lo += 1 << bit

    def root(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) of a range that is a node of the tree (or a run of frontier nodes)."""
        if (lo, hi) in self.left:
            return self.left[(lo, hi)]
        if lo >= self.at:
            tree = Frontier(sm3_from=self.sm3_from - lo)  # counted from leaf lo
            extend(tree, self.leaves[lo - self.at:hi - self.at])
            return tree.root()
        if hi - lo == 1:
            raise LookupError(f"leaf {lo} is left of the window at {self.at}")
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        return node_hash(self.root(lo, lo + k), self.root(lo + k, hi), hi >= self.sm3_from)


Leaves = list[bytes] | Window


def _subtree_root(leaves: Leaves, lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) per RFC 9162 (its nodes reaching the window's sm3_from hashed with SM3; a bare list: SHA-256)."""
    return (leaves if isinstance(leaves, Window) else Window(0, [], leaves)).root(lo, hi)


def extend(tree: Frontier, leaves: list[bytes]) -> None:
    """Appends the leaves to the tree, a whole perfect subtree at a time where the tree's size allows (level by level,
    several times faster than leaf by leaf)."""
    i = 0
    while i < len(leaves):
        height = (len(leaves) - i).bit_length() - 1  # the largest perfect subtree that fits in what is left
        if tree.size:
            height = min(height, (tree.size & -tree.size).bit_length() - 1)  # and that the tree's size is a multiple of
        tree.append_subtree(perfect_root(leaves[i:i + (1 << height)], tree.size, tree.sm3_from), height)
        i += 1 << height


def _path(m: int, leaves: Leaves, lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return _path(m, leaves, lo, lo + k) + [_subtree_root(leaves, lo + k, hi)]
    return _path(m - k, leaves, lo + k, hi) + [_subtree_root(leaves, lo, lo + k)]


def _subproof(m: int, leaves: Leaves, lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [_subtree_root(leaves, lo, hi)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return _subproof(m, leaves, lo, lo + k, complete) + [_subtree_root(leaves, lo + k, hi)]
    return _subproof(m - k, leaves, lo + k, hi, False) + [_subtree_root(leaves, lo, lo + k)]


def _all_leaves(session: Session, size: int, sm3_from: int = NEVER) -> Window:
    return Window(0, [], [leaf for _, leaf in _leaves(session, 0, size)], sm3_from)


def _frontier_below(session: Session, settings: Settings, size: int) -> Frontier:
    """The stored frontier of the largest trusted checkpoint of at most `size` events whose head is the chain's head
    there now (not one a restore superseded), or the empty tree's."""
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    rows = session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.tree_size <= size, AuditCheckpoint.tree_size > 0)
        .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.number.desc()).limit(20)
    )
    for cp in rows:
        if problem(cp, keys) is None and session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == cp.tree_size)) == cp.head_hash:
            return Frontier(cp.tree_size, [binascii.unhexlify(h) for h in json.loads(cp.frontier)])
    return Frontier()


def window(session: Session, at: int, size: int, *, frontier: Frontier | None = None, settings: Settings | None = None,
           sm3_from: int = NEVER) -> Window:
    """The frontier at `at` -- `frontier`'s, or else that of the nearest trusted checkpoint below (`settings` names the
    keys) -- extended by the leaves after it, and the leaves from `at` to `size`; nodes reaching seq `sm3_from` are SM3."""
    if frontier is None:
        if settings is None:
            raise ValueError("give a frontier or the settings naming the trusted keys")
        frontier = _frontier_below(session, settings, at)
    tree = Frontier(frontier.size, list(frontier.nodes), sm3_from)
    leaves = list(_contiguous_leaves(session, tree.size, size))
    extend(tree, leaves[:at - tree.size])
    return Window(at, tree.nodes, leaves[at - frontier.size:], sm3_from)


def inclusion_proof(*, session: Session, seq: int, settings: Settings) -> dict[str, Any]:
    """The event at `seq`, its audit path and the first signed checkpoint that covers it (RFC 9162 §2.1.3). Reads the
    leaves between the trusted checkpoints around `seq`, not the log (see `Window`)."""
    keys = {k["key_id"]: k for k in signing.published_keys(settings)}
    candidates = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.tree_size >= seq).order_by(AuditCheckpoint.number).limit(50))
    cp = next((c for c in candidates if problem(c, keys) is None), None)  # never a proof against a forged row
    if cp is None or seq < 1:
        raise LookupError(f"no checkpoint covers seq {seq} yet: run `govern audit checkpoint`")
    entry = session.get(AuditChainEntry, seq)
    event = session.get(AuditEvent, entry.event_id) if entry else None
    found = (event.id, event.canonical) if event is not None else None
    if found is None and entry is not None:
        found = archived.find_event(settings, signed_purges(session, settings), seq)  # left the database through an archive
    if found is None:
        raise LookupError(f"the event at seq {seq} is neither in the database nor in an archive (purged or never sealed)")
    root = binascii.unhexlify(cp.merkle_root)
    sm3_from = stated_sm3_from(json.loads(cp.body))  # as the checkpoint signed it
    leaf = leaf_hash(found[1].encode("utf-8"), seq >= sm3_from)
    path = _path(seq - 1, window(session, seq - 1, cp.tree_size, settings=settings, sm3_from=sm3_from), 0, cp.tree_size)
    if not verify_inclusion(seq - 1, cp.tree_size, leaf, path, root, sm3_from):
        # A stored leaf or frontier that is not what was signed: the whole tree from its leaves (slow; `verify` names why).
        log.warning("audit_proof_window_failed", seq=seq, checkpoint=cp.number)
        path = _path(seq - 1, _all_leaves(session, cp.tree_size, sm3_from), 0, cp.tree_size)
    return {
        "format": "govern-audit-inclusion-proof/1", "seq": seq, "event_id": found[0], "event": found[1],
        "tree_size": cp.tree_size, "audit_path": [p.hex() for p in path], **hash_statement(sm3_from, cp.tree_size),
        "checkpoint": as_line(cp), "keys": signing.published_keys(settings),
    }


def consistency_proof(*, session: Session, first: int, second: int) -> dict[str, Any]:
    """A proof that checkpoint `second` extends checkpoint `first` (RFC 9162 §2.1.4), by checkpoint number. Reads the
    leaves between the two, starting from the first one's stored frontier (see `Window`)."""
    a, b = session.get(AuditCheckpoint, first), session.get(AuditCheckpoint, second)
    if a is None or b is None or a.tree_size > b.tree_size:
        raise LookupError("give two checkpoint numbers, the earlier first")
    proof: list[bytes] = []
    if 0 < a.tree_size < b.tree_size:
        try:
            sm3_from = stated_sm3_from(json.loads(b.body))  # as the later checkpoint signed it
        except ValueError:
            sm3_from = NEVER
        try:
            start = Frontier(a.tree_size, [binascii.unhexlify(h) for h in json.loads(a.frontier)], sm3_from)
            proof = _subproof(a.tree_size, window(session, a.tree_size, b.tree_size, frontier=start, sm3_from=sm3_from), 0, b.tree_size, True)
        except (ValueError, TypeError, LookupError, IndexError):
            proof = []
        roots = binascii.unhexlify(a.merkle_root), binascii.unhexlify(b.merkle_root)
        if not verify_consistency(a.tree_size, b.tree_size, *roots, proof, sm3_from):
            log.warning("audit_proof_window_failed", first=first, second=second)
            proof = _subproof(a.tree_size, _all_leaves(session, b.tree_size, sm3_from), 0, b.tree_size, True)
    return {"format": "govern-audit-consistency-proof/1", "first": as_line(a), "second": as_line(b), "proof": [p.hex() for p in proof]}
