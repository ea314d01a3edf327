"""Benchmark: the offline verifier (audit/verify.py) on an export of 1,000,000 events, in events/s.

    .venv/bin/python bench/audit_verify.py [--events 1000000] [--out DIR] [--suite commercial_cn]

The export is generated directly in the export format (real-shaped events, the real chain and Merkle hashing, a
signed checkpoint every 100,000 events, a signed manifest) so the run does not need a database. The verifier then
runs as an auditor runs it: `python audit/verify.py DIR --checkpoint DIR/checkpoints`, in a subprocess, timed.
Bar (issue 3): >= 100,000 events/s. Exit status 0 when met. Not a test.

`--suite commercial_cn` (issue 21): also an export of a log under the commercial_cn suite, SM3 from its first event
(the switch event, as a new commercial_cn installation's log is; leaves, links and Merkle nodes SM3), verified the same
way in the same invocation, with its rate as a ratio to the international (SHA-256) run's. The bar applies to both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "audit"))

import verify  # noqa: E402  (the auditor's file itself, not govern's copy)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

BAR = 100_000


def generate(out: Path, n: int, checkpoint_every: int, sm3: bool = False) -> None:
    import base64

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = verify.key_id_of(pub)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    keys = [{"key_id": kid, "algorithm": "Ed25519", "public_key": base64.b64encode(pub).decode(), "valid_from": start.isoformat(), "valid_to": None}]
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints" / "keys.json").write_text(json.dumps({"format": "govern-audit-keys/1", "keys": keys}))
    actors = [(str(uuid.uuid4()), f"crm-service-{i}") for i in range(20)]
    sm3_from = 1 if sm3 else verify.NEVER  # commercial_cn: the first event is the switch, SM3 from it on
    prev, tree, cps = verify.GENESIS, verify.Frontier(sm3_from=sm3_from), []
    digest = verify.hasher(sm3)()  # the events file's digest as govern states it: SM3 once the log is (audit/export.py)
    with open(out / "events.jsonl", "wb") as fh:
        buf = []
        for seq in range(1, n + 1):
            actor_id, actor_name = actors[seq % 20]
            event = {
                "time": (start + timedelta(microseconds=seq * 1370)).isoformat(timespec="microseconds"),
                "actor": {"id": actor_id, "name": actor_name, "kind": "service"}, "roles": ["sales_service"],
                "action": "subjects:profile:read", "resource": f"subject:{uuid.UUID(int=seq)}", "subject": str(uuid.UUID(int=seq)),
                "fields": ["address", "email", "mobile", "name"], "purpose": "customer_service", "outcome": "allowed", "reason": None,
                "request": uuid.UUID(int=seq * 7).hex, "client": "10.0.0.17",
            }
            if seq == sm3_from:
                event.update(action=verify.HASH_SWITCH_ACTION, resource=verify.SM3, subject=None, fields=[], purpose=None, reason="suite_in_force")
            body = verify.canonical(event)
            leaf = verify.leaf_hash(body, seq >= sm3_from)
            h = verify.chain_hash(prev, seq, leaf, seq >= sm3_from)
            tree.append(leaf)
            line = b'{"seq":%d,"id":%d,"prev":"%s","hash":"%s","event":%s}\n' % (seq, seq, prev.hex().encode(), h.hex().encode(), body)
            buf.append(line)
            prev = h
            if seq % checkpoint_every == 0 or seq == n:
                cp = {"format": verify.CHECKPOINT_FORMAT, "log": "govern-audit", "number": len(cps) + 1, "tree_size": seq, "head_hash": h.hex(),
                      "merkle_root": tree.root().hex(), "issued_at": (start + timedelta(seconds=seq)).isoformat(timespec="microseconds"), "key_id": kid,
                      **verify.hash_statement(sm3_from, seq)}
                cps.append({"body": cp, "signature": base64.b64encode(key.sign(verify.canonical(cp))).decode()})
            if len(buf) >= 10_000:
                data = b"".join(buf)
                digest.update(data)
                fh.write(data)
                buf.clear()
        data = b"".join(buf)
        digest.update(data)
        fh.write(data)
    with open(out / "checkpoints" / "checkpoints.jsonl", "w") as fh:
        for cp in cps:
            fh.write(json.dumps(cp) + "\n")
    manifest = {
        "format": verify.EXPORT_FORMAT, "created_at": (start + timedelta(seconds=n + 10)).isoformat(timespec="microseconds"),
        "range": {"from": None, "to": None, "first_seq": 1, "last_seq": n, "open_end": True}, "anchor": {"seq": 0, "hash": verify.GENESIS.hex()},
        "events": {"file": "events.jsonl", "count": n, **verify.file_digest_fields(sm3, digest.hexdigest())}, "checkpoints": cps, "keys": keys, "key_id": kid,
        **verify.hash_statement(sm3_from, n),
    }
    manifest["signature"] = base64.b64encode(key.sign(verify.canonical(manifest))).decode()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def run(args: argparse.Namespace, sm3: bool) -> float | None:
    """Generates the export and verifies it as an auditor does; the rate in events/s, or None if it did not verify."""
    label = "commercial_cn (SM3)" if sm3 else "international (SHA-256)" if args.suite == "commercial_cn" else None
    with tempfile.TemporaryDirectory(prefix="govern-bench-verify-") as tmp:
        out = (args.out / ("sm3" if sm3 else "sha256") if args.suite == "commercial_cn" else args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(out, args.events, args.checkpoint_every, sm3)
        gen = time.perf_counter() - t0
        size = (out / "events.jsonl").stat().st_size
        print(f"{label + ': ' if label else ''}generated {args.events:,} events ({size / 1e6:.0f} MB) in {gen:.1f}s")
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, str(ROOT / "audit" / "verify.py"), str(out), "--checkpoint", str(out / "checkpoints")], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        print(result.stdout.strip())
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return None
        rate = args.events / seconds
        print(f"{label + ' ' if label else ''}verifier: {args.events:,} events in {seconds:.2f}s = {rate:,.0f} events/s "
              f"(bar {BAR:,}/s: {'met' if rate >= BAR else 'NOT met'}; {rate / BAR:.2f}x the bar)")
        return rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--checkpoint-every", type=int, default=100_000)
    p.add_argument("--out", type=Path, help="where to write the export (default: a temporary folder, removed after)")
    p.add_argument("--suite", choices=("international", "commercial_cn"), default="international",
                   help="commercial_cn: also an SM3 log, verified in the same invocation, as a ratio to the international run")
    args = p.parse_args()
    if args.suite == "commercial_cn" and not verify.sm3_available():
        print("error: this Python's hashlib has no SM3 (its OpenSSL does not provide it): the commercial_cn run cannot be made here", file=sys.stderr)
        return 2
    rate = run(args, False)
    if rate is None:
        return 2
    if args.suite != "commercial_cn":
        return 0 if rate >= BAR else 1
    cn = run(args, True)
    if cn is None:
        return 2
    print(f"commercial_cn / international: {cn / rate:.2f}x the events/s ({cn:,.0f} against {rate:,.0f}; SM3 in place of SHA-256 for every leaf, link and node)")
    return 0 if min(rate, cn) >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
