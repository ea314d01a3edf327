#!/usr/bin/env python3
"""Offline verifier for a govern audit-log export. Needs the Python standard library and `cryptography` only.

    python audit/verify.py EXPORT_DIR [--checkpoint FILE_OR_DIR ...] [--keys keys.json] [--json]
    python audit/verify.py --proof PROOF.json [--keys keys.json]

Exit status: 0 the export verifies; 1 it does not (each problem is printed with the event or checkpoint and its
class); 2 the input cannot be read. The format is described in audit/README.md.

govern loads this very file (govern/audit/verifier.py; an installed wheel carries it byte for byte as
govern/_shipped/audit/verify.py, tests/test_wheel.py checks it), so that `govern audit verify` checks the live database
with exactly the rules an auditor runs.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

EXPORT_FORMAT = "govern-audit-export/1"
CHECKPOINT_FORMAT = "govern-audit-checkpoint/1"
GENESIS = b"\x00" * 32
LINE = re.compile(rb'\{"seq":(\d+),"id":(\d+),"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})","event":')
MAX_FINDINGS = 50
LOOKAHEAD = 8
MAX_RENUMBER = 64

# Tamper classes, as printed.
MODIFIED = "modified"
INSERTED = "inserted"
DELETED = "deleted"
REORDERED = "reordered"
TRUNCATED_START = "truncated_start"
TRUNCATED_END = "truncated_end"
REWRITTEN = "rewritten"
SIGNATURE_INVALID = "checkpoint_signature_invalid"
UNKNOWN_KEY = "unknown_key"
KEY_OUTSIDE_VALIDITY = "key_outside_validity"
CHECKPOINT_INCONSISTENT = "checkpoint_inconsistent"
MANIFEST_INVALID = "manifest_invalid"
FORMAT = "format"
UNSEALED = "unsealed"
PURGE_UNSIGNED = "purge_unsigned"
COLUMN_MISMATCH = "column_mismatch"
HASH_MISMATCH = "hash_algorithm_mismatch"

# Checkpoint kinds. An ordinary checkpoint has no "kind". A purge checkpoint also states, signed, which events a
# retention purge deleted ({"purge": {"first_seq", "through_seq", "through_hash", "events", "actor"}}): the log is
# verified from through_seq on, anchored at through_hash. A restore checkpoint states that the database was restored
# to seq N = tree_size ({"restore": {"restored_to_seq", "source", "actor"}}): every earlier checkpoint covering more
# than N is superseded (reported in a note, no longer compared with the chain), and the log goes on from seq N.
PURGE_KIND = "purge"
RESTORE_KIND = "restore"


# --- hashing: the one definition of every hash in the log -----------------------------------------------------
#
# Two hash functions: SHA-256, and SM3 (GB/T 32905) for a log under the commercial_cn suite. A log is SHA-256 up to a
# seq S and SM3 from there on: the event at S is the switch event (action HASH_SWITCH_ACTION, resource "sm3"), its own
# leaf and link already SM3. A Merkle node is hashed with SM3 when the range of leaves it covers reaches S (its end,
# the number of leaves up to and including its last, is at least S): so a subtree wholly before S is SHA-256 as it
# always was, and the tree's nodes never depend on its size. `sm3_from` is S everywhere (NEVER: the log never switched).

SHA256, SM3 = "sha256", "sm3"
NEVER = 1 << 62
HASH_SWITCH_ACTION = "audit:log:hash-algorithm"


def _sm3_prototype() -> Any:
    try:
        return hashlib.new("sm3")
    except ValueError:  # an OpenSSL without SM3
        return None


_SM3 = _sm3_prototype()


def sm3_available() -> bool:
    return _SM3 is not None


def sm3(data: bytes = b"") -> Any:
    """An SM3 hash object, like hashlib.sha256(data); Sm3Unavailable where this Python's OpenSSL has none."""
    if _SM3 is None:
        raise Sm3Unavailable("this Python's hashlib has no SM3 (its OpenSSL does not provide it): an SM3 audit log cannot be verified here; "
                             "run the verifier with a Python whose OpenSSL has SM3 (`python -c \"import hashlib; hashlib.new('sm3')\"` must work)")
    h = _SM3.copy()
    h.update(data)
    return h


def hasher(use_sm3: bool) -> Any:
    return sm3 if use_sm3 else hashlib.sha256


# A file's digest in a signed document (an export's events file in its manifest, an archive's manifest in the purge
# statement that names it): `digest_algorithm` says which hash — "SHA-256", or "SM3" once the log is SM3 (the
# commercial_cn suite) — and the hex is under the hash's own name (`sha256`, `sm3`; an archive statement's
# `manifest_sha256`, `manifest_sm3`). A document made before it named one has no `digest_algorithm`: SHA-256.
FILE_DIGESTS = {"SHA-256": SHA256, "SM3": SM3}


def stated_file_digest(doc: dict, prefix: str = "") -> tuple[str, str | None, str | None]:
    """(algorithm as named, the hex digest's key, the hex digest) of a file digest `doc` states; the key is None for an
    algorithm this verifier does not know, the digest None where the document has none under that key."""
    named = doc.get("digest_algorithm", "SHA-256")
    name = FILE_DIGESTS.get(named) if isinstance(named, str) else None
    key = None if name is None else prefix + name
    value = doc.get(key) if key is not None else None
    return str(named), key, value if isinstance(value, str) else None


def file_digest_fields(use_sm3: bool, hex_digest: str, prefix: str = "") -> dict:
    """What a signed document states of a file's digest (stated_file_digest reads it back)."""
    named = "SM3" if use_sm3 else "SHA-256"
    return {"digest_algorithm": named, prefix + FILE_DIGESTS[named]: hex_digest}


def file_digest(path: Path, use_sm3: bool) -> str:
    """The hex digest of a file, SHA-256 or SM3 (Sm3Unavailable where this Python has no SM3)."""
    h = hasher(use_sm3)()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def algorithm_name(sm3_from: int) -> str:
    return "SHA-256" if sm3_from >= NEVER else f"SHA-256 to seq {sm3_from - 1}, SM3 from seq {sm3_from}" if sm3_from > 1 else "SM3"


def is_switch_event(event_bytes: bytes) -> bool:
    """Is this event the one that turns the log to SM3 from its own seq on?"""
    if HASH_SWITCH_ACTION.encode() not in event_bytes:
        return False
    try:
        event = json.loads(event_bytes)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("action") == HASH_SWITCH_ACTION and event.get("resource") == SM3


def stated_sm3_from(doc: dict) -> int:
    """S as a checkpoint body or a manifest states it ({"hash": {"algorithm": "sm3", "from_seq": S}}), NEVER if not."""
    h = doc.get("hash")
    return h["from_seq"] if isinstance(h, dict) else NEVER


def hash_statement(sm3_from: int, size: int) -> dict:
    """What a checkpoint over `size` events (or a manifest up to that seq) states about its hashes."""
    return {"hash": {"algorithm": SM3, "from_seq": sm3_from}} if sm3_from <= size else {}


def _hash_problem(doc: dict, size: int) -> str | None:
    h = doc.get("hash")
    if h is None:
        return None
    if not (isinstance(h, dict) and h.get("algorithm") == SM3 and isinstance(h.get("from_seq"), int) and not isinstance(h["from_seq"], bool)
            and 1 <= h["from_seq"] <= size):
        return f"unknown hash statement {h!r}: only {{'algorithm': 'sm3', 'from_seq': S}} with 1 <= S <= the tree size is known"
    return None


def canonical(obj: Any) -> bytes:
    """RFC 8785-style JSON: sorted keys, no whitespace, UTF-8 as is. Used for checkpoints and manifests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def leaf_hash(event_bytes: bytes, use_sm3: bool = False) -> bytes:
    """RFC 9162 leaf hash over the event's stored canonical bytes (SHA-256, or SM3 from the log's switch on)."""
    return (sm3 if use_sm3 else hashlib.sha256)(b"\x00" + event_bytes).digest()


def node_hash(left: bytes, right: bytes, use_sm3: bool = False) -> bytes:
    return (sm3 if use_sm3 else hashlib.sha256)(b"\x01" + left + right).digest()


def chain_hash(prev: bytes, seq: int, leaf: bytes, use_sm3: bool = False) -> bytes:
    """hash_n = H(hash_{n-1} || n as 8 bytes big-endian || leaf_n); hash_0 is 32 zero bytes; H is SHA-256 or SM3."""
    return (sm3 if use_sm3 else hashlib.sha256)(prev + seq.to_bytes(8, "big") + leaf).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class Frontier:
    """The right edge of an RFC 9162 Merkle tree: roots of its perfect subtrees, largest first."""

    __slots__ = ("size", "nodes", "sm3_from")

    def __init__(self, size: int = 0, nodes: list[bytes] | None = None, sm3_from: int = NEVER) -> None:
        self.size = size
        self.nodes = list(nodes or [])
        self.sm3_from = sm3_from  # a node whose range ends at or past this many leaves is SM3

    def append(self, leaf: bytes) -> None:
        nodes = self.nodes
        nodes.append(leaf)
        n = self.size
        h = sm3 if n + 1 >= self.sm3_from else hashlib.sha256  # every node merged here ends with this leaf
        # Each trailing 1-bit of the old size is a perfect subtree that now has an equal right sibling.
        while n & 1:
            right = nodes.pop()
            nodes[-1] = h(b"\x01" + nodes[-1] + right).digest()
            n >>= 1
        self.size += 1

    def append_subtree(self, root: bytes, height: int) -> None:
        """Appends the root of a perfect subtree of 2**height leaves; the size must be a multiple of 2**height."""
        if self.size & ((1 << height) - 1):
            raise ValueError("a perfect subtree goes only where the tree's size is a multiple of its width")
        nodes = self.nodes
        nodes.append(root)
        n = self.size >> height
        h = sm3 if self.size + (1 << height) >= self.sm3_from else hashlib.sha256
        while n & 1:
            right = nodes.pop()
            nodes[-1] = h(b"\x01" + nodes[-1] + right).digest()
            n >>= 1
        self.size += 1 << height

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        use_sm3 = self.size >= self.sm3_from
        r = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            r = node_hash(left, r, use_sm3)
        return r


def _split(n: int) -> int:
    """RFC 9162's k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_root(m: int, lo: int, hi: int, leaf: bytes, path: list[bytes], sm3_from: int) -> bytes:
    """The root over [lo, hi) an audit path gives for leaf m (the path is consumed from its end, the top sibling)."""
    if hi - lo == 1:
        return leaf
    k = _split(hi - lo)
    sibling = path.pop()
    if m < lo + k:
        return node_hash(_inclusion_root(m, lo, lo + k, leaf, path, sm3_from), sibling, hi >= sm3_from)
    return node_hash(sibling, _inclusion_root(m, lo + k, hi, leaf, path, sm3_from), hi >= sm3_from)


def _consistency_roots(m: int, lo: int, hi: int, complete: bool, proof: list[bytes], first_root: bytes, sm3_from: int) -> tuple[bytes, bytes]:
    """(the first tree's node over [lo, lo+m), the second tree's over [lo, hi)) from a consistency proof (consumed from
    its end), mirroring RFC 9162's SUBPROOF."""
    n = hi - lo
    if m == n:
        node = first_root if complete else proof.pop()
        return node, node
    k = _split(n)
    sibling = proof.pop()
    if m <= k:
        old, new = _consistency_roots(m, lo, lo + k, complete, proof, first_root, sm3_from)
        return old, node_hash(new, sibling, hi >= sm3_from)
    old, new = _consistency_roots(m - k, lo + k, hi, False, proof, first_root, sm3_from)
    return node_hash(sibling, old, lo + m >= sm3_from), node_hash(sibling, new, hi >= sm3_from)


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes, sm3_from: int = NEVER) -> bool:
    """RFC 9162 §2.1.3.2 (a tree with SM3 nodes: by its ranges, each node hashed as the tree hashes it)."""
    if leaf_index >= tree_size:
        return False
    if sm3_from <= tree_size:
        rest = list(path)
        try:
            return _inclusion_root(leaf_index, 0, tree_size, leaf, rest, sm3_from) == root and not rest
        except IndexError:  # the path is too short
            return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes], sm3_from: int = NEVER) -> bool:
    """RFC 9162 §2.1.4.2: the tree of size `second` extends the tree of size `first` (with SM3 nodes from `sm3_from`)."""
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if first > second or not proof:
        return False
    if sm3_from <= second:
        rest = list(proof)
        try:
            old, new = _consistency_roots(first, 0, second, True, rest, first_root, sm3_from)
        except IndexError:
            return False
        return not rest and old == first_root and new == second_root
    if first & (first - 1) == 0:  # a power of two: the first tree is a node of the second
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


_chain_hash = chain_hash


# --- keys and signatures ---------------------------------------------------------------------------------------


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def signature_ok(public_b64: str, message: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64)).verify(base64.b64decode(signature_b64), message)
        return True
    except (InvalidSignature, ValueError, binascii.Error):
        return False


@dataclass
class Finding:
    kind: str
    message: str
    seq: int | None = None
    event_id: int | None = None
    line: int | None = None
    checkpoint: int | None = None

    def render(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.event_id is not None:
            where.append(f"event id {self.event_id}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.checkpoint is not None:
            where.append(f"checkpoint #{self.checkpoint}")
        return f"[{self.kind}] {', '.join(where)}{': ' if where else ''}{self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    checkpoints_verified: int = 0
    purged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok, "events": self.events, "first_seq": self.first_seq, "last_seq": self.last_seq, "head_hash": self.head_hash,
            "checkpoints_verified": self.checkpoints_verified, "purged": self.purged, "notes": self.notes,
            "findings": [f.__dict__ for f in self.findings],
        }

    def render(self) -> str:
        if self.ok:
            span = f"seq {self.first_seq}..{self.last_seq}" if self.events else "no events"
            text = f"OK: {self.events} events ({span}), {self.checkpoints_verified} signed checkpoints match, head {self.head_hash}"
            if self.purged:
                text += f", {self.purged} purged by retention"
        else:
            text = f"FAILED: {len(self.findings)} problem(s)\n" + "\n".join("  " + f.render() for f in self.findings)
        return "\n".join([text, *("  note: " + n for n in self.notes)])


def check_checkpoints(checkpoints: list[dict], trusted: dict[str, dict], report: Report) -> list[dict]:
    """Checks each checkpoint's signature, key and key validity; returns the good ones (bodies), by number."""
    good: dict[int, dict] = {}
    for cp in checkpoints:
        body = cp.get("body") if isinstance(cp, dict) else None
        body = body if isinstance(body, dict) else {}
        number = body.get("number")
        if body.get("format") != CHECKPOINT_FORMAT:
            report.add(Finding(FORMAT, "not a govern checkpoint", checkpoint=number))
            continue
        problem = _body_problem(body)
        if problem:
            report.add(Finding(FORMAT, problem, checkpoint=number if isinstance(number, int) else None))
            continue
        key = trusted.get(body.get("key_id"))
        if key is None:
            report.add(Finding(UNKNOWN_KEY, f"signed by key {body.get('key_id')}, which is not among the trusted public keys", checkpoint=number))
            continue
        if not signature_ok(key["public_key"], canonical(body), cp.get("signature", "")):
            report.add(Finding(SIGNATURE_INVALID, f"the signature does not verify under key {key['key_id']}", checkpoint=number))
            continue
        issued = parse_time(body["issued_at"])
        start, end = parse_time(key.get("valid_from")), parse_time(key.get("valid_to"))
        if (start and issued < start) or (end and issued >= end):
            report.add(Finding(
                KEY_OUTSIDE_VALIDITY,
                f"issued {body['issued_at']} with key {key['key_id']}, valid {key.get('valid_from')} to {key.get('valid_to') or 'now'}",
                checkpoint=number,
            ))
            continue
        if number in good and canonical(good[number]) != canonical(body):
            report.add(Finding(CHECKPOINT_INCONSISTENT, "two different signed checkpoints carry this number (a fork)", checkpoint=number))
            continue
        good[number] = body
    ordered = [good[n] for n in sorted(good)]
    superseded: dict[int, dict] = {}
    for r in ordered:
        if r.get("kind") == RESTORE_KIND:
            for b in ordered:
                if b["number"] < r["number"] and b["tree_size"] > r["tree_size"] and b["number"] not in superseded:
                    superseded[b["number"]] = r
    if superseded:
        for r in {id(v): v for v in superseded.values()}.values():
            numbers = sorted(n for n, by in superseded.items() if by is r)
            info = r["restore"]
            report.notes.append(
                f"checkpoint #{r['number']} ({r['issued_at']}) records a restore to seq {r['tree_size']} from {info.get('source')!r} by "
                f"{info.get('actor')!r}: checkpoints {', '.join('#' + str(n) for n in numbers)} describe the log before it and are superseded"
            )
        ordered = [b for b in ordered if b["number"] not in superseded]
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later["tree_size"] < earlier["tree_size"]:
            report.add(Finding(
                CHECKPOINT_INCONSISTENT,
                f"covers {later['tree_size']} events, fewer than the {earlier['tree_size']} of checkpoint #{earlier['number']}: the log was cut back",
                checkpoint=later["number"], seq=later["tree_size"],
            ))
        elif later["tree_size"] == earlier["tree_size"] and later["head_hash"] != earlier["head_hash"]:
            report.add(Finding(CHECKPOINT_INCONSISTENT, f"same size as checkpoint #{earlier['number']} but another head: the log was rewritten", checkpoint=later["number"]))
    return ordered


def _body_problem(body: dict) -> str | None:
    """Why a checkpoint body is malformed (before its signature is even looked at), or None."""
    def is_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def is_hash(v) -> bool:
        return isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None

    if not (is_int(body.get("number")) and is_int(body.get("tree_size")) and is_hash(body.get("head_hash")) and is_hash(body.get("merkle_root"))):
        return "the checkpoint lacks a number, tree size, head hash or Merkle root"
    if not isinstance(body.get("issued_at"), str) or not isinstance(body.get("key_id"), str):
        return "the checkpoint lacks its time or key id"
    try:
        parse_time(body["issued_at"])
    except ValueError:
        return "the checkpoint's time is not an ISO 8601 time"
    hashing = _hash_problem(body, body["tree_size"])
    if hashing:
        return hashing
    kind = body.get("kind")
    if kind is None:
        return None
    if kind == PURGE_KIND:
        p = body.get("purge")
        if not (isinstance(p, dict) and is_int(p.get("first_seq")) and is_int(p.get("through_seq")) and is_hash(p.get("through_hash"))
                and is_int(p.get("events")) and p["first_seq"] <= p["through_seq"] + 1 and p["through_seq"] <= body["tree_size"]):
            return "a purge checkpoint must state first_seq, through_seq (at most its tree size), through_hash and events"
        return None
    if kind == RESTORE_KIND:
        r = body.get("restore")
        if not (isinstance(r, dict) and r.get("restored_to_seq") == body["tree_size"]):
            return "a restore checkpoint must state restored_to_seq equal to its tree size"
        return None
    return f"unknown checkpoint kind {kind!r}"


def check_hash_algorithms(checkpoints: list[dict], sm3_from: int, report: Report, known_to: int | None = None) -> list[dict]:
    """The checkpoints (good bodies) whose stated tree hash is the log's (SHA-256, or SM3 from seq `sm3_from`); each
    other one is refused, named, and not compared with the log. `known_to`: the last seq the log's hashes are known to
    (an export's last seq) — a checkpoint past it that switches to SM3 past it too does not contradict the export (an
    auditor's folder holds the checkpoints signed after an older SHA-256 export, those after a suite migration too)."""
    kept = []
    for body in checkpoints:
        size = body["tree_size"]
        log_says = sm3_from if sm3_from <= size else NEVER
        stated = stated_sm3_from(body)
        later = known_to is not None and size > known_to and sm3_from > known_to and stated > known_to
        if stated != log_says and not later:
            report.add(Finding(
                HASH_MISMATCH,
                f"the checkpoint names its tree's hash as {algorithm_name(stated)}, but the log's first {size} events are hashed "
                f"{algorithm_name(log_says)}: refused",
                checkpoint=body["number"],
            ))
            continue
        kept.append(body)
    return kept


def purge_anchor(checkpoints: list[dict]) -> dict | None:
    """The signed purge statement that reaches furthest (from check_checkpoints' good list), or None."""
    best = None
    for body in checkpoints:
        if body.get("kind") == PURGE_KIND and (best is None or body["purge"]["through_seq"] > best["purge"]["through_seq"]):
            best = body
    return best


# --- the chain walk ----------------------------------------------------------------------------------------------

# A parsed entry: (seq, event id, prev hash, stored hash, leaf hash, content present, line number)
Entry = tuple


def parse_lines(lines: Iterable[bytes], report: Report, sm3_from: int = NEVER) -> Iterator[Entry]:
    match = LINE.match
    unhex = binascii.unhexlify
    sha = hashlib.sha256
    for number, line in enumerate(lines, 1):
        if line.endswith(b"\n"):
            line = line[:-1]
        m = match(line)
        if m is None or not line.endswith(b"}"):
            if line.strip():
                report.add(Finding(FORMAT, "not an export line", line=number))
            continue
        seq = int(m[1])
        event = line[m.end():-1]
        if seq == sm3_from:
            check_switch(seq, int(m[2]), event, report, line=number)
        yield (seq, int(m[2]), unhex(m[3]), unhex(m[4]), (sm3 if seq >= sm3_from else sha)(b"\x00" + event).digest(), True, number)


def check_switch(seq: int, event_id: int | None, event: bytes, report: Report, line: int | None = None) -> None:
    """The event at the seq the log turns to SM3 must be the switch event."""
    if not is_switch_event(event):
        report.add(Finding(HASH_MISMATCH, f"the log is SM3 from seq {seq}, but the event there is not the switch to SM3 ({HASH_SWITCH_ACTION})",
                           seq=seq, event_id=event_id, line=line))


def walk(
    entries: Iterable[Entry], *, report: Report, anchor_seq: int, anchor_hash: bytes, checkpoints: list[dict],
    expected_last: int | None, open_end: bool, made_at: datetime | None, full_tree: bool, purged_through: int = 0, sm3_from: int = NEVER,
) -> None:
    """Walks the chain from its anchor, classifying the first anomaly at each place, then compares checkpoints. Leaves
    and links are SM3 from seq `sm3_from` on (the entries' leaves already so)."""
    src = iter(entries)
    pending: deque = deque()
    wanted = {cp["tree_size"] for cp in checkpoints if anchor_seq < cp["tree_size"]}
    seen_heads: dict[int, bytes] = {}
    seen_roots: dict[int, bytes] = {}
    tree = Frontier(sm3_from=sm3_from) if full_tree and anchor_seq == 0 else None
    last_seq, last_hash, last_id, last_line, older_hash = anchor_seq, anchor_hash, None, None, None
    shift = 0  # how far the stored seqs are off after a detected renumbering
    first = True
    count = 0
    sha = hashlib.sha256

    def peek(n: int) -> list:
        while len(pending) < n:
            nxt = next(src, None)
            if nxt is None:
                break
            pending.append(nxt)
        return list(pending)[:n]

    while True:
        cur = pending.popleft() if pending else next(src, None)
        if cur is None:
            break
        seq, eid, prev, h, leaf, present, lineno = cur
        seq += shift
        expected = last_seq + 1
        if seq == expected and prev == last_hash and (sm3 if seq >= sm3_from else sha)(prev + seq.to_bytes(8, "big") + leaf).digest() == h:
            ok = True  # the fast path: everything links
        else:
            ok = False
            action = _classify(cur, seq, expected, (last_seq, last_hash, last_id, last_line, older_hash), first, peek, report, shift, sm3_from)
            if action == "skip":
                continue
            if isinstance(action, tuple):
                kind, by = action
                shift += by
                if kind == "skip":
                    continue
                seq += by
        first = False
        if not present:
            if seq <= purged_through:
                report.purged += 1
            elif ok:
                report.add(Finding(DELETED, "the chain holds this event but its row is gone", seq=seq, event_id=eid))
        count += 1
        if report.first_seq is None:
            report.first_seq = seq
        if tree is not None:
            if ok and tree.size == seq - 1:
                tree.append(leaf)
            else:
                tree = None  # past a break the tree no longer means anything; the findings already say why
        if seq in wanted:
            seen_heads[seq] = h
            if tree is not None:
                seen_roots[seq] = tree.root()
        older_hash = last_hash
        last_seq, last_hash, last_id, last_line = seq, h, eid, lineno

    _conclude(
        report, count=count, last_seq=last_seq, last_hash=last_hash, anchor_seq=anchor_seq, anchor_hash=anchor_hash, checkpoints=checkpoints,
        seen_heads=seen_heads, seen_roots=seen_roots, expected_last=expected_last, open_end=open_end, made_at=made_at,
    )


def _conclude(
    report: Report, *, count: int, last_seq: int, last_hash: bytes, anchor_seq: int, anchor_hash: bytes, checkpoints: list[dict],
    seen_heads: dict[int, bytes], seen_roots: dict[int, bytes], expected_last: int | None, open_end: bool, made_at: datetime | None,
) -> None:
    """After the walk: the range against the manifest's, then each signed checkpoint against the heads and roots seen."""
    report.events = count
    report.last_seq = last_seq if count else None
    report.head_hash = last_hash.hex() if count else None
    if count == 0 and expected_last is not None and expected_last > anchor_seq:
        report.add(Finding(TRUNCATED_START, f"no events, but seq {anchor_seq + 1}..{expected_last} were expected"))
    elif expected_last is not None and last_seq < expected_last:
        report.add(Finding(TRUNCATED_END, f"the events end at seq {last_seq}; the manifest says they run to seq {expected_last}", seq=last_seq + 1))
    elif expected_last is not None and last_seq > expected_last:
        report.add(Finding(INSERTED, f"events run past the manifest's last seq {expected_last} to {last_seq}", seq=expected_last + 1))

    matched_upto = anchor_seq
    for cp in checkpoints:
        size, number = cp["tree_size"], cp["number"]
        if size == anchor_seq:
            if anchor_hash.hex() != cp["head_hash"]:
                report.add(Finding(REWRITTEN, f"the export's starting anchor (seq {anchor_seq}) is not the head checkpoint #{number} signed", checkpoint=number, seq=size))
            else:
                report.checkpoints_verified += 1
            continue
        if size < anchor_seq:
            continue  # before this export's range
        if size > last_seq:
            issued = parse_time(cp["issued_at"])
            if open_end and (made_at is None or issued <= made_at):
                report.add(Finding(
                    TRUNCATED_END,
                    f"checkpoint #{number} signed at {cp['issued_at']} covers {size} events, but the log ends at seq {last_seq}: "
                    f"seq {last_seq + 1}..{size} are missing at the end",
                    checkpoint=number, seq=last_seq + 1,
                ))
            continue
        head = seen_heads.get(size)
        if head is None:
            continue  # the walk already reported the break at this place
        if head.hex() != cp["head_hash"]:
            report.add(Finding(
                REWRITTEN,
                f"the chain head at seq {size} differs from the one checkpoint #{number} signed at {cp['issued_at']}: "
                f"events in seq {matched_upto + 1}..{size} were rewritten (hashes recomputed)",
                checkpoint=number, seq=size,
            ))
            continue
        root = seen_roots.get(size)
        if root is not None and root.hex() != cp["merkle_root"]:
            report.add(Finding(REWRITTEN, f"the Merkle root over seq 1..{size} differs from checkpoint #{number}", checkpoint=number, seq=size))
            continue
        matched_upto = size
        report.checkpoints_verified += 1


def _classify(cur, seq, expected, state, first, peek, report, shift, sm3_from=NEVER):
    """Names what went wrong where the chain stops linking. Returns how the walk goes on."""

    def chain_hash(prev: bytes, seq: int, leaf: bytes) -> bytes:  # the link as the log hashes it at that seq
        return _chain_hash(prev, seq, leaf, seq >= sm3_from)

    last_seq, last_hash, last_id, last_line, older_hash = state
    _, eid, prev, h, leaf, _present, lineno = cur
    self_ok = chain_hash(prev, seq, leaf) == h
    if older_hash is not None and prev == older_hash and prev != last_hash:
        # This event links past the one before it: that one was slipped in (with the later seqs renumbered, or not).
        if seq - 1 == last_seq and chain_hash(prev, seq - 1, leaf) == h:
            report.add(Finding(INSERTED, "an event that is not in the chain was inserted here; the later seqs were renumbered", seq=last_seq, event_id=last_id, line=last_line))
            return ("accept", -1)
        if seq == last_seq and self_ok:
            report.add(Finding(INSERTED, "an event that is not in the chain was inserted here", seq=last_seq, event_id=last_id, line=last_line))
            return "accept"

    if first and seq > expected:
        report.add(Finding(TRUNCATED_START, f"the log starts at seq {seq}; seq {expected}..{seq - 1} are missing at the start", seq=expected, line=lineno))
        return "accept"
    if seq == expected:
        if prev == last_hash:
            # The content does not match its link. Does it fit a later place (moved), or was it edited?
            for later in peek(LOOKAHEAD):
                lseq = later[0] + shift
                if chain_hash(later[2], lseq, leaf) == later[3]:
                    report.add(Finding(REORDERED, f"this event's content belongs at seq {lseq}", seq=seq, event_id=eid, line=lineno))
                    return "accept"
            report.add(Finding(MODIFIED, "the event's bytes do not match its chain hash", seq=seq, event_id=eid, line=lineno))
            return "accept"
        nxt = peek(1)
        if nxt:
            n = nxt[0]
            nseq = n[0] + shift
            if n[2] == last_hash and chain_hash(n[2], nseq - 1, n[4]) == n[3]:
                report.add(Finding(INSERTED, f"an event that is not in the chain was inserted after seq {last_seq}; later seqs were renumbered", seq=seq, event_id=eid, line=lineno))
                return ("skip", -1)
            if nseq == expected and n[2] == last_hash:
                report.add(Finding(INSERTED, f"a second event claims seq {seq}; it is not in the chain", seq=seq, event_id=eid, line=lineno))
                return "skip"
        for k in range(1, MAX_RENUMBER + 1):
            if chain_hash(prev, seq + k, leaf) == h:
                report.add(Finding(DELETED, f"seq {expected}..{expected + k - 1} were deleted and the later events renumbered", seq=expected, line=lineno))
                return ("accept", k)
        if self_ok:
            report.add(Finding(
                MODIFIED, "the event before this one was altered and its hash recomputed: this event does not link to it",
                seq=seq - 1, event_id=last_id, line=lineno - 1 if lineno else None,
            ))
        else:
            report.add(Finding(MODIFIED, "neither the event's bytes nor its link match the chain", seq=seq, event_id=eid, line=lineno))
        return "accept"
    if seq > expected:
        for later in peek(LOOKAHEAD):
            if later[0] + shift == expected:
                report.add(Finding(REORDERED, f"seq {seq} appears before seq {expected}", seq=seq, event_id=eid, line=lineno))
                return "accept"
        report.add(Finding(DELETED, f"seq {expected}..{seq - 1} are missing", seq=expected, line=lineno))
        return "accept"
    # seq < expected: a seq that was already passed
    if seq == last_seq and h == last_hash:
        report.add(Finding(INSERTED, f"a copy of seq {seq} was inserted", seq=seq, event_id=eid, line=lineno))
        return "skip"
    nxt = peek(1)
    if nxt and nxt[0][0] + shift == expected and nxt[0][2] == last_hash:
        report.add(Finding(INSERTED, f"an event claiming seq {seq} was inserted after seq {last_seq}", seq=seq, event_id=eid, line=lineno))
        return "skip"
    report.add(Finding(REORDERED, f"seq {seq} appears after seq {last_seq}", seq=seq, event_id=eid, line=lineno))
    return "skip"


# --- the fast path over an export's events file -------------------------------------------------------------------
#
# An export that verifies -- by far the common case -- is checked by `_scan` over byte ranges of events.jsonl, in
# several processes when the file is large: each range's lines are checked exactly as the walk checks them (the line
# format, consecutive seqs, each prev equal to the hash before it, each hash recomputed from its prev, seq and leaf),
# its leaves are hashed into Merkle subtrees of BLOCK leaves, and the ranges are then stitched together in order (each
# range must start on the seq and hash the one before ended on) into the same heads and roots the walk collects. The
# first thing that does not link makes the whole file go through the walk instead, which names and classifies it.

BLOCK = 1024  # leaves a range hashes into one perfect Merkle subtree itself (a power of two)
BLOCK_HEIGHT = BLOCK.bit_length() - 1
RANGE_BYTES = 16 << 20  # the events file is cut into ranges of about this size
PARALLEL_FROM = 32 << 20  # smaller files are checked in this process alone


@dataclass
class Scanned:
    """What `_scan` saw in one byte range, all of which links: its first and last line, the heads at checkpoint sizes,
    and its leaves as Merkle pieces in order, each (True, root of BLOCK aligned leaves) or (False, leaves concatenated)."""
    count: int
    first_seq: int
    first_prev: bytes  # hex, as written
    last_seq: int
    last_hash: bytes  # hex, as written
    heads: dict[int, bytes]
    pieces: list[tuple[bool, bytes]]


def perfect_root(leaves: list[bytes], at: int = 0, sm3_from: int = NEVER) -> bytes:
    """The root of a perfect subtree (its number of leaves a power of two) whose first leaf has index `at`, level by level."""
    if at + len(leaves) < sm3_from:  # wholly SHA-256
        sha = hashlib.sha256
        while len(leaves) > 1:
            it = iter(leaves)
            leaves = [sha(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=True)]
        return leaves[0]
    if at + 2 >= sm3_from:  # wholly SM3 (every node ends at or past the switch): no per-node choice, no call per node
        new = _SM3.copy if _SM3 is not None else sm3
        while len(leaves) > 1:
            it = iter(leaves)
            out = []
            for a, b in zip(it, it, strict=True):
                h = new()
                h.update(b"\x01" + a + b)
                out.append(h.digest())
            leaves = out
        return leaves[0]
    width = 1
    while len(leaves) > 1:
        width *= 2
        it = iter(leaves)
        leaves = [node_hash(a, b, at + (j + 1) * width >= sm3_from) for j, (a, b) in enumerate(zip(it, it, strict=True))]
    return leaves[0]


def _scan(path: str, start: int, end: int, tree: bool, wanted: frozenset[int], digest: Any = None, sm3_from: int = NEVER) -> Scanned | None:
    """The fast path over the whole lines in bytes [start, end) of an events file; None at the first line that is not
    an export line or does not link to the one before it (the walk then reports it). Feeds `digest`, if given."""
    match, sha, unhex = LINE.match, hashlib.sha256, binascii.unhexlify
    new_sm3 = _SM3.copy if _SM3 is not None else sm3  # SM3 objects copied from the prototype inline (sm3() raises if none)
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    if digest is not None:
        digest.update(data)
    lines = data.split(b"\n")
    del data
    leaves: list[bytes] = []
    heads: dict[int, bytes] = {}
    first_seq = first_prev = last_hex = None
    last_raw = b""
    expected = 0
    for line in lines:
        m = match(line)
        if m is None or line[-1] != 125:  # 125 is "}": the line must end where its event does
            if not line.strip():
                continue  # a blank line: the walk passes over it too
            return None
        if first_seq is None:
            first_seq, first_prev = int(m[1]), m[3]
            expected, last_hex, last_raw = first_seq, first_prev, unhex(first_prev)
        elif int(m[1]) != expected or m[3] != last_hex:
            return None
        if expected >= sm3_from:
            if expected == sm3_from and not is_switch_event(line[m.end():-1]):
                return None
            hl = new_sm3()
            hl.update(b"\x00" + line[m.end():-1])
            leaf = hl.digest()
            hl = new_sm3()
            hl.update(last_raw + expected.to_bytes(8, "big") + leaf)
            h = hl.digest()
        else:
            leaf = sha(b"\x00" + line[m.end():-1]).digest()
            h = sha(last_raw + expected.to_bytes(8, "big") + leaf).digest()
        last_hex = m[4]
        if h != unhex(last_hex):
            return None
        if expected in wanted:
            heads[expected] = h
        if tree:
            leaves.append(leaf)
        last_raw = h
        expected += 1
    if first_seq is None:
        return Scanned(0, 0, b"", 0, b"", {}, [])
    pieces: list[tuple[bool, bytes]] = []
    if tree:
        at = first_seq - 1  # the leaf index of leaves[0]
        i = min((-at) % BLOCK, len(leaves))
        if i:
            pieces.append((False, b"".join(leaves[:i])))
        while i + BLOCK <= len(leaves):
            block = leaves[i:i + BLOCK]
            inside = any(at + i < w < at + i + BLOCK for w in wanted)  # a checkpoint inside needs the leaves themselves
            pieces.append((False, b"".join(block)) if inside else (True, perfect_root(block, at + i, sm3_from)))
            i += BLOCK
        if i < len(leaves):
            pieces.append((False, b"".join(leaves[i:])))
    return Scanned(expected - first_seq, first_seq, first_prev, expected - 1, last_hex, heads, pieces)


def _ranges(path: Path, size: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges of about RANGE_BYTES covering the file, each starting at the start of a line."""
    n = max(1, size // RANGE_BYTES)
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, n):
            fh.seek(k * size // n - 1)
            fh.readline()  # on to the start of the next line (from one byte back: a line starting right there is kept)
            if cuts[-1] < fh.tell() < size:
                cuts.append(fh.tell())
    cuts.append(size)
    return list(zip(cuts, cuts[1:], strict=False))


def _fast_export(
    path: Path, *, anchor_seq: int, anchor_hash: bytes, tree: bool, wanted: frozenset[int], workers: int | None, sm3_from: int = NEVER,
    sm3_file: bool = False,
) -> tuple[tuple[int, int, bytes, dict[int, bytes], dict[int, bytes], int | None] | None, str]:
    """(count, last seq, last hash, heads, roots, first seq) for an events file that links from the anchor to its end,
    or None if anything does not link (nothing is reported: the walk goes over it); and the file's digest (SHA-256, or
    SM3 with `sm3_file`: what its manifest names)."""
    size = path.stat().st_size
    ranges = _ranges(path, size)
    if workers is None:
        # Forked only from a process with no other thread: no lock (in OpenSSL, in logging) can be held across the fork
        # by a thread that does not exist in the child. A server's job thread checks its archives in its own process.
        alone = threading.active_count() == 1
        workers = min(len(ranges), os.cpu_count() or 1, 8) if size >= PARALLEL_FROM and alone else 1
    if workers > 1 and len(ranges) > 1:
        digest = hasher(sm3_file)()
        try:
            return _stitch_parallel(path, ranges, digest, workers, anchor_seq=anchor_seq, anchor_hash=anchor_hash, tree=tree, wanted=wanted,
                                    sm3_from=sm3_from), digest.hexdigest()
        except (OSError, RuntimeError, ValueError):  # no processes here (a sandbox, say): this one does it all
            pass
    digest = hasher(sm3_file)()
    found = _stitch((_scan(str(path), a, b, tree, wanted, digest, sm3_from) for a, b in ranges), anchor_seq=anchor_seq, anchor_hash=anchor_hash, tree=tree,
                    wanted=wanted, sm3_from=sm3_from)
    return found, digest.hexdigest()


def _stitch_parallel(path: Path, ranges: list[tuple[int, int]], digest: Any, workers: int, **how: Any):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("no fork here")
    # Forked workers only read the file and hash: nothing of the parent (connections, locks, logging) is used in them.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_scan, str(path), a, b, how["tree"], how["wanted"], None, how["sm3_from"]) for a, b in ranges]
        try:
            with open(path, "rb") as fh:  # the file's digest meanwhile, here (a hash does not split over processes)
                while chunk := fh.read(1 << 22):
                    digest.update(chunk)
            return _stitch((f.result() for f in futures), **how)
        finally:
            for f in futures:
                f.cancel()


def _stitch(
    scanned: Iterable[Scanned | None], *, anchor_seq: int, anchor_hash: bytes, tree: bool, wanted: frozenset[int], sm3_from: int = NEVER,
) -> tuple[int, int, bytes, dict[int, bytes], dict[int, bytes], int | None] | None:
    """The ranges' results put together in order, each starting where the one before ended; None if one does not."""
    frontier = Frontier(sm3_from=sm3_from) if tree else None
    roots: dict[int, bytes] = {}
    heads: dict[int, bytes] = {}
    last_seq, last_hex, count, first = anchor_seq, anchor_hash.hex().encode(), 0, None
    for part in scanned:
        if part is None:
            return None
        if not part.count:
            continue
        if part.first_seq != last_seq + 1 or part.first_prev != last_hex:
            return None
        first = part.first_seq if first is None else first
        count += part.count
        last_seq, last_hex = part.last_seq, part.last_hash
        heads.update(part.heads)
        if frontier is None:
            continue
        for whole, data in part.pieces:
            if whole:
                frontier.append_subtree(data, BLOCK_HEIGHT)
                if frontier.size in wanted:
                    roots[frontier.size] = frontier.root()
                continue
            for k in range(0, len(data), 32):
                frontier.append(data[k:k + 32])
                if frontier.size in wanted:
                    roots[frontier.size] = frontier.root()
    return count, last_seq, binascii.unhexlify(last_hex), heads, roots, first

# --- exports -----------------------------------------------------------------------------------------------------


def load_checkpoint_source(path: Path) -> tuple[list[dict], list[dict] | None]:
    """Checkpoints (JSON lines) and, for a folder, the keys.json published beside them."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    keys = None
    if path.is_dir() and (path / "keys.json").exists():
        keys = json.loads((path / "keys.json").read_text(encoding="utf-8"))["keys"]
    checkpoints = []
    for f in files:
        for raw in f.read_bytes().split(b"\n"):
            if raw.strip():
                checkpoints.append(json.loads(raw))
    return checkpoints, keys


def verify_export(export_dir: Path, checkpoint_paths: list[Path] = (), keys_path: Path | None = None, workers: int | None = None) -> Report:
    """`workers`: processes checking the events file (None: one per core for a file over 32 MB when this process runs
    no other thread, else this one alone; 1: this one alone)."""
    report = Report()
    try:
        manifest = json.loads((export_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{export_dir / 'manifest.json'}: {exc}") from None
    if manifest.get("format") != EXPORT_FORMAT:
        raise InputError(f"{export_dir}: not a {EXPORT_FORMAT} export")

    held: list[dict] = []
    trusted_keys: list[dict] | None = None
    for p in checkpoint_paths:
        cps, keys = load_checkpoint_source(Path(p))
        held.extend(cps)
        if keys is not None:
            trusted_keys = (trusted_keys or []) + keys
    if keys_path is not None:
        trusted_keys = json.loads(Path(keys_path).read_text(encoding="utf-8"))["keys"]
    if trusted_keys is None:
        trusted_keys = manifest.get("keys", [])
        report.notes.append("public keys taken from the export itself; pin them with --keys or a checkpoint folder's keys.json")
    trusted = {k["key_id"]: k for k in trusted_keys}
    for k in trusted_keys:
        raw = base64.b64decode(k["public_key"])
        if key_id_of(raw) != k["key_id"]:
            raise InputError(f"key {k['key_id']}: its id does not match its public key")

    # The manifest is signed at export time: a cut or extended events file or a doctored range shows here.
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    key = trusted.get(manifest.get("key_id"))
    if key is None:
        report.add(Finding(UNKNOWN_KEY, f"the manifest is signed by key {manifest.get('key_id')}, which is not trusted"))
    elif not signature_ok(key["public_key"], canonical(unsigned), manifest.get("signature", "")):
        report.add(Finding(MANIFEST_INVALID, "the manifest's signature does not verify: the manifest was altered"))
    else:
        made = parse_time(manifest["created_at"])
        start, end = parse_time(key.get("valid_from")), parse_time(key.get("valid_to"))
        if (start and made < start) or (end and made >= end):
            report.add(Finding(KEY_OUTSIDE_VALIDITY, f"the manifest was signed at {manifest['created_at']} with key {key['key_id']} outside its validity"))

    checkpoints = check_checkpoints([*manifest.get("checkpoints", []), *held], trusted, report)
    report.checkpoints_verified = 0
    rng = manifest["range"]
    anchor = manifest["anchor"]
    why = _hash_problem(manifest, max(rng["last_seq"], 1))
    if why:
        raise InputError(f"{export_dir / 'manifest.json'}: {why}")
    sm3_from = stated_sm3_from(manifest)
    if sm3_from <= rng["last_seq"]:
        sm3()  # Sm3Unavailable (exit 2) here, before anything is reported as verified or not
        report.notes.append(f"the log's hashes are {algorithm_name(sm3_from)} (the commercial_cn suite)")
    checkpoints = check_hash_algorithms(checkpoints, sm3_from, report, known_to=rng["last_seq"])
    if anchor["seq"] > 0 and rng.get("from") is None:
        # An export of "the whole log" may start late only where a signed purge statement says the rest was purged.
        stmt = purge_anchor(checkpoints)
        if stmt is None or stmt["purge"]["through_seq"] != anchor["seq"] or stmt["purge"]["through_hash"] != anchor["hash"]:
            report.add(Finding(
                TRUNCATED_START,
                f"the export claims the whole log but starts after seq {anchor['seq']}, and no signed purge checkpoint states that "
                f"seq 1..{anchor['seq']} were purged with that head",
                seq=1,
            ))
        else:
            report.purged = stmt["purge"]["events"]
            report.notes.append(
                f"seq {stmt['purge']['first_seq']}..{stmt['purge']['through_seq']} ({stmt['purge']['events']} events) were purged by retention "
                f"(signed checkpoint #{stmt['number']}, {stmt['issued_at']}, by {stmt['purge'].get('actor')!r})"
            )
    events_file = export_dir / manifest["events"]["file"]
    named, key, stated_digest = stated_file_digest(manifest["events"])
    if key is None:
        raise InputError(f"{export_dir / 'manifest.json'}: unknown digest algorithm {named!r} for {events_file.name}: SHA-256 or SM3 is known")
    sm3_file = FILE_DIGESTS[named] == SM3
    if sm3_file:
        sm3()  # Sm3Unavailable (exit 2) here, before anything is reported as verified or not
    anchor_hash = binascii.unhexlify(anchor["hash"])
    how = {"expected_last": rng["last_seq"], "open_end": rng.get("open_end", False), "made_at": parse_time(manifest["created_at"])}
    wanted = frozenset(cp["tree_size"] for cp in checkpoints if anchor["seq"] < cp["tree_size"])
    try:
        fast, file_digest_hex = _fast_export(events_file, anchor_seq=anchor["seq"], anchor_hash=anchor_hash, tree=anchor["seq"] == 0, wanted=wanted,
                                             workers=workers, sm3_from=sm3_from, sm3_file=sm3_file)
    except OSError as exc:
        raise InputError(f"{events_file}: {exc}") from None
    if fast is not None:
        count, last_seq, last_hash, heads, roots, report.first_seq = fast
        _conclude(report, count=count, last_seq=last_seq, last_hash=last_hash, anchor_seq=anchor["seq"], anchor_hash=anchor_hash,
                  checkpoints=checkpoints, seen_heads=heads, seen_roots=roots, **how)
    else:  # something does not link: the walk goes over the whole file and names each problem
        digest = hasher(sm3_file)()
        with events_file.open("rb") as fh:
            def lines():
                for line in fh:
                    digest.update(line)
                    yield line

            walk(parse_lines(lines(), report, sm3_from), report=report, anchor_seq=anchor["seq"], anchor_hash=anchor_hash, checkpoints=checkpoints,
                 full_tree=True, sm3_from=sm3_from, **how)
        file_digest_hex = digest.hexdigest()
    if file_digest_hex != stated_digest and report.ok:
        report.add(Finding(MODIFIED, f"{events_file.name} is not the file the manifest describes (its {named} differs)"))
    return report


def verify_proof(proof: dict, keys_path: Path | None) -> Report:
    """An inclusion proof: one event, its audit path, and the signed checkpoint whose Merkle root it leads to."""
    report = Report()
    keys = json.loads(Path(keys_path).read_text(encoding="utf-8"))["keys"] if keys_path else proof.get("keys", [])
    if not keys_path:
        report.notes.append("public keys taken from the proof itself; pin them with --keys")
    good = check_checkpoints([proof["checkpoint"]], {k["key_id"]: k for k in keys}, report)
    if not good:
        return report
    cp = good[0]
    event = proof["event"].encode("utf-8")
    path = [binascii.unhexlify(p) for p in proof["audit_path"]]
    sm3_from = stated_sm3_from(cp)
    if "hash" in proof and stated_sm3_from(proof) != sm3_from:
        report.add(Finding(HASH_MISMATCH, f"the proof says the log is {algorithm_name(stated_sm3_from(proof))}, its checkpoint {algorithm_name(sm3_from)}",
                           checkpoint=cp["number"]))
        return report
    if proof["seq"] == sm3_from:
        check_switch(proof["seq"], proof.get("event_id"), event, report)
    if not report.ok:
        return report
    if not verify_inclusion(proof["seq"] - 1, cp["tree_size"], leaf_hash(event, proof["seq"] >= sm3_from), path, binascii.unhexlify(cp["merkle_root"]), sm3_from):
        report.add(Finding(MODIFIED, "the event and its audit path do not lead to the checkpoint's Merkle root", seq=proof["seq"], checkpoint=cp["number"]))
    else:
        report.checkpoints_verified = 1
        report.events, report.first_seq, report.last_seq = 1, proof["seq"], proof["seq"]
        report.head_hash = cp["head_hash"]
    return report


def verify_consistency_proof(proof: dict, keys_path: Path | None) -> Report:
    """A consistency proof: the later signed checkpoint's tree extends the earlier one's (nothing rewritten)."""
    report = Report()
    keys = json.loads(Path(keys_path).read_text(encoding="utf-8"))["keys"] if keys_path else []
    if not keys_path:
        report.add(Finding(UNKNOWN_KEY, "give --keys keys.json to check the checkpoints' signatures"))
        return report
    good = check_checkpoints([proof["first"], proof["second"]], {k["key_id"]: k for k in keys}, report)
    if len(good) != 2:
        return report
    a, b = good
    path = [binascii.unhexlify(p) for p in proof["proof"]]
    sm3_from = stated_sm3_from(b)
    if stated_sm3_from(a) != (sm3_from if sm3_from <= a["tree_size"] else NEVER):
        report.add(Finding(
            HASH_MISMATCH,
            f"checkpoint #{a['number']} names its tree's hash as {algorithm_name(stated_sm3_from(a))}, checkpoint #{b['number']} says the log is "
            f"{algorithm_name(sm3_from)}: they are not the same log's",
            checkpoint=a["number"],
        ))
        return report
    if not verify_consistency(a["tree_size"], b["tree_size"], binascii.unhexlify(a["merkle_root"]), binascii.unhexlify(b["merkle_root"]), path, sm3_from):
        report.add(Finding(REWRITTEN, f"checkpoint #{b['number']} does not extend checkpoint #{a['number']}", checkpoint=b["number"]))
    else:
        report.checkpoints_verified = 2
        report.events, report.first_seq, report.last_seq, report.head_hash = b["tree_size"], 1, b["tree_size"], b["head_hash"]
    return report


class InputError(Exception):
    """The export, checkpoint or key file cannot be read at all (exit 2)."""


class Sm3Unavailable(InputError):
    """The log is SM3 (in part) and this Python's hashlib has no SM3: it cannot be verified here (exit 2, never a pass)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a govern audit-log export offline.")
    parser.add_argument("export_dir", nargs="?", type=Path, help="folder holding manifest.json and events.jsonl")
    parser.add_argument("--checkpoint", action="append", type=Path, default=[], help="checkpoints you collected yourself: a .jsonl file or a folder (repeatable)")
    parser.add_argument("--keys", type=Path, help="the trusted public keys (keys.json)")
    parser.add_argument("--proof", type=Path, help="verify an inclusion proof (from `govern audit prove`) instead of an export")
    parser.add_argument("--consistency", type=Path, help="verify a consistency proof (`govern audit prove --consistency A B`)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--workers", type=int, help="processes checking the events file (default: one per core for a file over 32 MB; 1: no others)")
    args = parser.parse_args(argv)
    try:
        if args.consistency:
            report = verify_consistency_proof(json.loads(args.consistency.read_text(encoding="utf-8")), args.keys)
        elif args.proof:
            report = verify_proof(json.loads(args.proof.read_text(encoding="utf-8")), args.keys)
        elif args.export_dir:
            report = verify_export(args.export_dir, args.checkpoint, args.keys, args.workers)
        else:
            parser.error("give an EXPORT_DIR or --proof FILE")
    except (InputError, OSError, ValueError, KeyError) as exc:
        print(f"error: cannot read the input: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
