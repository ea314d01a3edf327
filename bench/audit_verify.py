"""Benchmark: the offline verifier (audit/verify.py) on an export of 1,000,000 events, in events/s.

    .venv/bin/python bench/audit_verify.py [--events 1000000] [--out DIR]

The export is generated directly in the export format (real-shaped events, the real chain and Merkle hashing, a
signed checkpoint every 100,000 events, a signed manifest) so the run does not need a database. The verifier then
runs as an auditor runs it: `python audit/verify.py DIR --checkpoint DIR/checkpoints`, in a subprocess, timed.
Bar (issue 3): >= 100,000 events/s. Exit status 0 when met. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
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


def generate(out: Path, n: int, checkpoint_every: int) -> None:
    import base64

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = verify.key_id_of(pub)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    keys = [{"key_id": kid, "algorithm": "Ed25519", "public_key": base64.b64encode(pub).decode(), "valid_from": start.isoformat(), "valid_to": None}]
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints" / "keys.json").write_text(json.dumps({"format": "govern-audit-keys/1", "keys": keys}))
    actors = [(str(uuid.uuid4()), f"crm-service-{i}") for i in range(20)]
    prev, tree, cps = verify.GENESIS, verify.Frontier(), []
    digest = hashlib.sha256()
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
            body = verify.canonical(event)
            leaf = verify.leaf_hash(body)
            h = verify.chain_hash(prev, seq, leaf)
            tree.append(leaf)
            line = b'{"seq":%d,"id":%d,"prev":"%s","hash":"%s","event":%s}\n' % (seq, seq, prev.hex().encode(), h.hex().encode(), body)
            buf.append(line)
            prev = h
            if seq % checkpoint_every == 0 or seq == n:
                cp = {"format": verify.CHECKPOINT_FORMAT, "log": "govern-audit", "number": len(cps) + 1, "tree_size": seq, "head_hash": h.hex(),
                      "merkle_root": tree.root().hex(), "issued_at": (start + timedelta(seconds=seq)).isoformat(timespec="microseconds"), "key_id": kid}
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
        "events": {"file": "events.jsonl", "count": n, "sha256": digest.hexdigest()}, "checkpoints": cps, "keys": keys, "key_id": kid,
    }
    manifest["signature"] = base64.b64encode(key.sign(verify.canonical(manifest))).decode()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--checkpoint-every", type=int, default=100_000)
    p.add_argument("--out", type=Path, help="where to write the export (default: a temporary folder, removed after)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="govern-bench-verify-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(out, args.events, args.checkpoint_every)
        gen = time.perf_counter() - t0
        size = (out / "events.jsonl").stat().st_size
        print(f"generated {args.events:,} events ({size / 1e6:.0f} MB) in {gen:.1f}s")
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, str(ROOT / "audit" / "verify.py"), str(out), "--checkpoint", str(out / "checkpoints")], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        print(result.stdout.strip())
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 2
        rate = args.events / seconds
        print(f"verifier: {args.events:,} events in {seconds:.2f}s = {rate:,.0f} events/s "
              f"(bar {BAR:,}/s: {'met' if rate >= BAR else 'NOT met'}; {rate / BAR:.2f}x the bar)")
        return 0 if rate >= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
