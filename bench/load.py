"""Load test: `govern serve` (gunicorn) on PostgreSQL under 32 concurrent clients for 60 s over a realistic mix, then
proof that every successful operation left exactly its audit events and that the log verifies.

    .venv/bin/python bench/load.py                    # one host, 60 s
    .venv/bin/python bench/load.py --hosts 2          # scale-out: one host, then two sharing the database, then
                                                      # a purge and a key rotation started on both hosts at once
    .venv/bin/python bench/load.py --duration 20 --json

The mix (per request, drawn at random): 70 % purpose-bound reads (55 % a CRM service reading for order fulfilment,
a contract purpose; 15 % the marketing service reading for marketing, a consent purpose, subjects who granted it),
15 % look-ups by mobile number, 10 % writes (5 % creates, 5 % updates with If-Match), 5 % consent events and
data-subject requests (3 % a grant or withdrawal of personalisation consent, 2 % an access request filed).

Every request carries its own X-Request-Id. Afterwards the audit log is read back per request id and compared with
what each successful operation must have written (a read 1 event, a look-up 1 per subject found, a create or an
update 1, a consent event 1 per purpose, a filed request 1, plus 1 when it was recorded as a duplicate); then
`govern audit checkpoint` (seal + signed checkpoint) and `govern audit verify`, and every event must be sealed.

Bars (issue 9): zero errors, zero missing audit events; the log verifies. Scale-out (--hosts 2): the two hosts'
throughput is reported against one host's, the log written by both verifies as one chain, and a retention purge
and a key rotation started on both hosts at once do the work exactly once (the second is refused).

Bounded (a duration and a request cap) and loopback only. The database named by --database-url (default
test_bench_load; the name must contain "bench") is WIPED at the start.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _load import LOOPBACK, Server, free_port, percentile, wait_ready  # noqa: E402
from _seed import (  # noqa: E402
    bulk_seed,
    database_name,
    ensure_database,
    keyring_namespace,
    mobile_of,
    print_progress,
    profile,
    reset_schema,
    subject_id_of,
)
from sqlalchemy import text  # noqa: E402

from govern.config import PROJECT_ROOT  # noqa: E402

# The profile's ID and card numbers are sensitive (PIPL Art. 28): each create names the anti-fraud real-name duty.
SENSITIVE_BASIS = {"basis": "legal_obligation", "reference": "benchmark: real-name check", "purpose": "fraud_prevention"}

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench_load"

# (operation, weight in percent). The weights are the mix: 70 reads, 15 look-ups, 10 writes, 5 consent/requests.
MIX = (
    ("read", 55), ("read_marketing", 15), ("lookup", 15), ("create", 5), ("update", 5), ("consent", 3), ("request", 2),
)
OPS = tuple(name for name, _ in MIX)

# The audit events each successful operation must leave (lookup: one per subject found, see expected_events()).
READ, LOOKUP, CREATE, UPDATE = "subjects:profile:read", "subjects:profile:lookup", "subjects:profile:create", "subjects:profile:update"
GRANT, WITHDRAW, FILE, DUPLICATE = "consent:event:grant", "consent:event:withdraw", "requests:request:file", "requests:request:duplicate"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL), help="PostgreSQL, wiped first (default %(default)s)")
    p.add_argument("--subjects", type=int, default=20_000, help="subjects seeded (default %(default)s)")
    p.add_argument("--marketing-subjects", type=int, default=300, help="seeded subjects who grant marketing consent first (default %(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds (per phase with --hosts 2) (default %(default)s)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of the same mix before measuring; audited and checked too (default %(default)s)")
    p.add_argument("--max-requests", type=int, default=500_000, help="hard cap on requests per phase (default %(default)s)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients, each one keep-alive connection (default %(default)s)")
    p.add_argument("--processes", type=int, default=4, help="load-generator processes the clients are spread over (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers per host (`govern serve --workers`, default %(default)s)")
    p.add_argument("--hosts", type=int, choices=(1, 2), default=1, help="2: scale-out — one host, then two hosts on one database, then the long jobs")
    p.add_argument("--old-records", type=int, default=600, help="--hosts 2: expired records the concurrent purge must delete (default %(default)s)")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--keep-home", action="store_true", help="keep the temporary GOVERN_HOME and server logs")
    p.add_argument("--force", action="store_true", help="allow a database whose name does not contain 'bench'")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object (last line)")
    return p.parse_args(argv)


# --- the govern command line ---------------------------------------------------------------------------------


def _govern_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("govern")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "govern.cli"]


def govern(env: dict[str, str], *args: str, json_out: bool = True, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([*_govern_cmd(), *args, *(["--json"] if json_out else [])], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        sys.exit(f"govern {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out


def start_host(name: str, env: dict[str, str], port: int, workers: int, log_dir: Path) -> Server:
    """`govern serve` as an operator would run it on a host (initialises if needed, re-applies erasures, gunicorn)."""
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    process = subprocess.Popen(
        [*_govern_cmd(), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)],
        env=env, cwd=log_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Server(name=name, process=process, port=port, log_path=log_path)


# --- the clients -----------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a client process needs: where to send, as whom, and the seeded population."""

    ports: list[int]
    sales_key: str
    marketing_key: str
    subjects: int
    marketing_subjects: int
    namespace: str
    notice_version: str
    clients: int
    tag: str  # prefix of the request ids of this phase
    slot: int = 0  # each run (warm-up, measured; per phase) writes to its own share of subjects: its clients start
    slots: int = 1  # with no memory of an earlier run's ETags or consents


@dataclass
class Done:
    """One finished operation as the client saw it."""

    op: str
    status: int
    ms: float
    request_id: str
    expected: dict[str, int]
    host: int
    t: float  # seconds since the phase started


def expected_events(op: str, body: dict | None, consent_action: str | None) -> dict[str, int]:
    if op in ("read", "read_marketing"):
        return {READ: 1}
    if op == "lookup":
        return {LOOKUP: len((body or {}).get("ids") or [])}
    if op == "create":
        return {CREATE: 1}
    if op == "update":
        return {UPDATE: 1}
    if op == "consent":
        return {GRANT if consent_action == "grant" else WITHDRAW: 1}
    if op == "request":
        return {FILE: 1, **({DUPLICATE: 1} if (body or {}).get("duplicate_of") else {})}
    raise ValueError(op)


class Client:
    """One simulated CRM component connection: keep-alive, its own random stream, and its own share of the
    subjects it writes to (updates and consent changes of a subject never race with another client's)."""

    def __init__(self, plan: Plan, index: int, seed: int) -> None:
        self.plan, self.index = plan, index
        self.host = index % len(plan.ports)
        self.rng = random.Random(seed)
        self.conn = http.client.HTTPConnection(LOOPBACK, plan.ports[self.host], timeout=30)
        self.ns = uuid.UUID(plan.namespace)
        # the ordinals this client alone updates or changes consent for, in this run alone
        self.mine = list(range(index + plan.clients * plan.slot, plan.subjects, plan.clients * plan.slots))
        self.versions: dict[int, int] = {}
        self.personalised: set[int] = set()
        self.created = 0
        self.n = 0
        self.weights = [w for _, w in MIX]

    def sid(self, i: int) -> str:
        return str(subject_id_of(i, self.ns))

    def call(self, method: str, path: str, key: str, body: dict | None, headers: dict[str, str]) -> tuple[int, dict | None, dict[str, str]]:
        hdrs = {"Authorization": f"Bearer {key}", **headers}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=hdrs)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request reconnects
            return 0, None, {}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return resp.status, parsed, {k.lower(): v for k, v in resp.getheaders()}

    def one(self, started: float) -> Done:
        p = self.plan
        op = self.rng.choices(OPS, weights=self.weights)[0]
        self.n += 1
        rid = f"{p.tag}{self.index:02d}x{self.n:07d}"
        base = {"X-Request-Id": rid}
        consent_action = None
        t0 = time.perf_counter()
        if op == "read":
            i = self.rng.randrange(p.subjects)
            status, body, _ = self.call("GET", f"/api/v1/subjects/{self.sid(i)}", p.sales_key, None, {**base, "X-Purpose": "order_fulfilment"})
        elif op == "read_marketing":
            i = self.rng.randrange(p.marketing_subjects)
            status, body, _ = self.call("GET", f"/api/v1/subjects/{self.sid(i)}", p.marketing_key, None, {**base, "X-Purpose": "marketing"})
        elif op == "lookup":
            i = self.rng.randrange(p.subjects)
            status, body, _ = self.call("POST", "/api/v1/subjects/lookup", p.sales_key, {"field": "mobile", "value": mobile_of(i)}, {**base, "X-Purpose": "customer_service"})
            if status == 200 and (body or {}).get("ids") != [self.sid(i)]:
                status = -1  # answered, but not exactly the one subject holding this number
        elif op == "create":
            self.created += 1
            i = 10_000_000 + (p.slot * p.clients + self.index) * 100_000 + self.created  # a fresh mobile and e-mail per create
            fields = {k: v for k, v in profile(i).items() if k != "birth_date"}
            status, body, _ = self.call("POST", "/api/v1/subjects", p.sales_key, {"jurisdiction": "CN", "fields": fields, "birth_date": profile(i)["birth_date"], "sensitive_basis": SENSITIVE_BASIS}, base)
        elif op == "update":
            i = self.rng.choice(self.mine)
            version = self.versions.get(i, 1)
            etag = f'"{uuid.UUID(self.sid(i)).hex[:8]}-{version}"'
            address = f"上海市浦东新区世纪大道{self.rng.randrange(1, 999)}号"
            status, body, hdrs = self.call("PATCH", f"/api/v1/subjects/{self.sid(i)}", p.sales_key, {"fields": {"address": address}},
                                           {**base, "If-Match": etag, "X-Purpose": "customer_service"})
            if status == 200:
                self.versions[i] = int(hdrs["etag"].strip('"').rsplit("-", 1)[1])
        elif op == "consent":
            i = self.rng.choice(self.mine)
            consent_action = "withdraw" if i in self.personalised else "grant"
            body_in = {"action": consent_action, "purpose": "personalisation", "channel": "app"}
            if consent_action == "grant":
                body_in.update(notice_version=p.notice_version, evidence=f"app-form-{self.index}-{self.n}")
            status, body, _ = self.call("POST", f"/api/v1/subjects/{self.sid(i)}/consents", p.sales_key, body_in, base)
            if status == 201:
                (self.personalised.add if consent_action == "grant" else self.personalised.discard)(i)
        else:  # request
            i = self.rng.randrange(p.subjects)
            status, body, _ = self.call("POST", "/api/v1/requests", p.sales_key, {"subject_id": self.sid(i), "type": "access", "channel": "app"}, base)
        ms = (time.perf_counter() - t0) * 1000
        expected = expected_events(op, body, consent_action) if 200 <= status < 300 else {}
        return Done(op=op, status=status, ms=ms, request_id=rid, expected=expected, host=self.host, t=t0 - started)


def _client_thread(plan: Plan, index: int, seed: int, started: float, deadline: float, budget: list[int], lock: threading.Lock, out: list[Done]) -> None:
    client = Client(plan, index, seed)
    try:
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            out.append(client.one(started))
    finally:
        client.conn.close()


def _process_main(args) -> tuple[list[Done], float]:
    plan, indexes, duration, max_requests, seed = args
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    budget, lock = [max_requests], threading.Lock()
    started = time.perf_counter()
    deadline = started + duration
    cpu0 = time.process_time()
    outs: list[list[Done]] = [[] for _ in indexes]
    threads = [
        threading.Thread(target=_client_thread, args=(plan, idx, seed * 1000 + idx, started, deadline, budget, lock, outs[k]), daemon=True)
        for k, idx in enumerate(indexes)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [d for o in outs for d in o], time.process_time() - cpu0


@dataclass
class Phase:
    name: str
    seconds: float
    done: list[Done] = field(default_factory=list)
    client_cpu: float = 0.0
    server_cpu: dict[str, float] = field(default_factory=dict)


def run_phase(name: str, plan: Plan, *, duration: float, max_requests: int, processes: int, seed: int, servers: list[Server]) -> Phase:
    groups = [list(range(p, plan.clients, processes)) for p in range(processes)]
    cpu0 = {s.name: s.cpu_seconds() for s in servers}
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(processes) as pool:
        parts = pool.map(_process_main, [(plan, g, duration, max(1, max_requests // processes), seed + k) for k, g in enumerate(groups)])
    phase = Phase(name=name, seconds=time.perf_counter() - t0)
    for done, cpu in parts:
        phase.done.extend(done)
        phase.client_cpu += cpu
    phase.seconds = min(phase.seconds, max((d.t + d.ms / 1000 for d in phase.done), default=duration))
    phase.server_cpu = {s.name: s.cpu_seconds() - cpu0[s.name] for s in servers}
    return phase


def ok(d: Done) -> bool:
    return 200 <= d.status < 300


def summarise(phase: Phase, hosts: int) -> dict:
    by_op: dict[str, list[Done]] = defaultdict(list)
    for d in phase.done:
        by_op[d.op].append(d)
    ops = {}
    for op in OPS:
        rows = by_op.get(op, [])
        lat = [d.ms for d in rows if ok(d)]
        ops[op] = {
            "ok": len(lat), "errors": sum(1 for d in rows if not ok(d)), "per_s": round(len(lat) / phase.seconds, 1),
            "p50_ms": round(percentile(lat, 50), 2) if lat else None, "p95_ms": round(percentile(lat, 95), 2) if lat else None,
            "p99_ms": round(percentile(lat, 99), 2) if lat else None,
            "statuses": dict(sorted(Counter(d.status for d in rows).items())),
        }
    good = [d for d in phase.done if ok(d)]
    all_lat = [d.ms for d in good]
    per_host = {}
    for h in range(hosts):
        n = sum(1 for d in good if d.host == h)
        per_host[f"host{h + 1}"] = round(n / phase.seconds, 1)
    return {
        "phase": phase.name, "seconds": round(phase.seconds, 2), "requests": len(phase.done), "ok": len(good),
        "errors": len(phase.done) - len(good), "throughput": round(len(good) / phase.seconds, 1), "per_host": per_host,
        "p50_ms": round(percentile(all_lat, 50), 2) if all_lat else None, "p95_ms": round(percentile(all_lat, 95), 2) if all_lat else None,
        "p99_ms": round(percentile(all_lat, 99), 2) if all_lat else None, "ops": ops,
        "server_cpu_seconds": {k: round(v, 1) for k, v in phase.server_cpu.items()}, "client_cpu_seconds": round(phase.client_cpu, 1),
    }


def print_phase(s: dict) -> None:
    print(f"\n  {s['phase']}: {s['throughput']:.1f} ops/s over {s['seconds']:.1f}s, {s['ok']} ok, {s['errors']} errors; "
          f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms")
    if len(s["per_host"]) > 1:
        print("    per host: " + ", ".join(f"{h} {v:.1f} ops/s" for h, v in s["per_host"].items()))
    print(f"    server CPU s: {s['server_cpu_seconds']}, client CPU s: {s['client_cpu_seconds']}")
    print(f"    {'operation':<15} {'ok':>7} {'errors':>7} {'ops/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for op, r in s["ops"].items():
        def f(v):
            return f"{v:8.2f}" if v is not None else f"{'-':>8}"
        print(f"    {op:<15} {r['ok']:>7} {r['errors']:>7} {r['per_s']:>8.1f} {f(r['p50_ms'])} {f(r['p95_ms'])} {f(r['p99_ms'])}  {r['statuses']}")


# --- the audit accounting -----------------------------------------------------------------------------------------


def audit_accounting(engine, done: list[Done], since_id: int) -> dict:
    """Every event written since `since_id` against what the operations that succeeded must have written."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT request_id, action, count(*) FROM audit_events WHERE id > :since GROUP BY request_id, action"), {"since": since_id}
        ).all()
    found: dict[tuple[str, str], int] = {(r, a): n for r, a, n in rows}
    expected: dict[tuple[str, str], int] = {}
    for d in done:
        for action, n in d.expected.items():
            if n:
                expected[(d.request_id, action)] = expected.get((d.request_id, action), 0) + n
    missing = sum(max(0, n - found.get(k, 0)) for k, n in expected.items())
    unexpected = sum(max(0, n - expected.get(k, 0)) for k, n in found.items())
    by_action = Counter()
    for (_, action), n in expected.items():
        by_action[action] += n
    return {
        "operations_ok": sum(1 for d in done if ok(d)), "events_expected": sum(expected.values()), "events_found": sum(found.values()),
        "missing": missing, "unexpected": unexpected, "expected_by_action": dict(sorted(by_action.items())),
    }


def max_event_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_events")).scalar_one()


def seal_and_verify(env: dict[str, str], engine) -> dict:
    """`govern audit checkpoint` seals every committed event and signs a checkpoint; `govern audit verify` walks the
    whole chain against it; every event must then be in the chain."""
    seal = json.loads(govern(env, "audit", "seal", "--full").stdout)
    cp = json.loads(govern(env, "audit", "checkpoint").stdout)
    verify = govern(env, "audit", "verify", check=False)
    report = json.loads(verify.stdout) if verify.stdout.strip().startswith("{") else {"ok": False, "raw": verify.stdout[-500:] + verify.stderr[-500:]}
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
        chained = conn.execute(text("SELECT count(*) FROM audit_chain")).scalar_one()
    return {
        "sealed_now": seal["sealed"], "checkpoint": cp["body"]["number"], "tree_size": cp["body"]["tree_size"], "verify_ok": bool(report.get("ok")) and verify.returncode == 0,
        "events": events, "chained": chained, "all_sealed": events == chained, "verify": {k: report.get(k) for k in ("ok", "head_seq", "findings") if k in report},
    }


# --- the long jobs on two hosts at once ----------------------------------------------------------------------


def old_records(runtime, subjects: list[uuid.UUID], per_subject: int, age_days: int) -> int:
    from govern.identity.actor import Actor
    from govern.subjects import service

    now = datetime.now(timezone.utc)
    n = 0
    with runtime.database.unit_of_work() as session:
        for sid in subjects:
            for k in range(per_subject):
                service.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid,
                                   type="purchase", occurred_at=now - timedelta(days=age_days + k), payload={"order": f"bench-{k}"})
                n += 1
    return n


def approved_plan(runtime) -> tuple[uuid.UUID, dict]:
    """A plan made by one person and approved by another (the four-eyes rule), as privacy staff and the DPO would."""
    from govern.identity.actor import Actor
    from govern.retention import service

    maker = Actor(name="bench-privacy-staff", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=101))
    approver = Actor(name="bench-dpo", kind="staff", roles=("dpo",), principal_id=uuid.UUID(int=102))
    with runtime.database.unit_of_work() as session:
        made = service.make_plan(session=session, policy=runtime.policy, actor=maker, save=True)
        plan_id = made.plan.id
        summary = made.summary
    with runtime.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=runtime.policy, actor=approver, plan_id=plan_id)
    return plan_id, summary


def both_at_once(envs: list[dict[str, str]], *args: str) -> list[subprocess.CompletedProcess]:
    """Starts the same command on every host at the same instant and waits for all."""
    procs = [subprocess.Popen([*_govern_cmd(), *args], env=e, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for e in envs]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def long_jobs(env_a: dict[str, str], env_b: dict[str, str], engine, runtime, ids: list[uuid.UUID], old: int, home: Path) -> dict:
    from govern.config import Settings

    result: dict = {}
    # -- a retention purge, approved once, started on both hosts at once -------------------------------------------
    per = 3
    targets = ids[: max(1, old // per)]
    added = old_records(runtime, targets, per, age_days=3 * 365 + 10)
    plan_id, summary = approved_plan(runtime)
    due = summary["totals"]["records"]
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM records")).scalar_one()
    runs = both_at_once([env_a, env_b], "retention", "purge", "--plan", str(plan_id), "--batch-size", "25", "--pause", "0.05", "--json")
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM records")).scalar_one()
        run_rows = conn.execute(text("SELECT status, attempts, counts FROM retention_runs WHERE plan_id = :p"), {"p": plan_id}).all()
    codes = sorted(r.returncode for r in runs)
    counts = run_rows[0][2] if run_rows else {}
    if isinstance(counts, str):
        counts = json.loads(counts)
    purge_ok = (codes == [0, 3] and len(run_rows) == 1 and run_rows[0][0] == "completed" and run_rows[0][1] == 1
                and before - after == due == added and counts.get("records") == due)
    result["purge"] = {
        "records_added": added, "records_due": due, "deleted": before - after, "exit_codes": [r.returncode for r in runs], "runs": len(run_rows),
        "run_status": run_rows[0][0] if run_rows else None, "run_attempts": run_rows[0][1] if run_rows else None, "run_counted": counts.get("records"),
        "refusal": next((r.stderr.strip().splitlines()[-1] for r in runs if r.returncode == 3 and r.stderr.strip()), None), "ok": purge_ok,
    }

    # -- a master-key rotation started on both hosts at once (the hosts share the keyring folder) ---------------------
    with engine.connect() as conn:
        v0 = dict(conn.execute(text("SELECT master_key_version, count(*) FROM subject_keys GROUP BY 1")).all())
        begun0 = conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'crypto:master:rotate-begin'")).scalar_one()
    rot = both_at_once([env_a, env_b], "keys", "rotate", "--batch-size", "500", "--pause", "0.05", "--json")
    with engine.connect() as conn:
        v1 = dict(conn.execute(text("SELECT master_key_version, count(*) FROM subject_keys GROUP BY 1")).all())
        begun = conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'crypto:master:rotate-begin'")).scalar_one() - begun0
        finished = conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'crypto:master:rotate-finish'")).scalar_one()
    winner = next((json.loads(r.stdout) for r in rot if r.returncode == 0 and r.stdout.strip().startswith("{")), {})
    total_keys = sum(v0.values())
    rot_ok = sorted(r.returncode for r in rot) == [0, 3] and begun == 1 and finished == 1 and v1 == {winner.get("version"): total_keys}
    result["rotation"] = {
        "keys": total_keys, "versions_before": {str(k): v for k, v in v0.items()}, "versions_after": {str(k): v for k, v in v1.items()},
        "exit_codes": [r.returncode for r in rot], "rotate_begin_events": begun, "rotate_finish_events": finished,
        "refusal": next((r.stderr.strip().splitlines()[-1] for r in rot if r.returncode == 3 and r.stderr.strip()), None), "ok": rot_ok,
    }

    # -- hosts that do not share a lock file: only PostgreSQL's advisory lock stands between them ---------------------
    home_b = Path(tempfile.mkdtemp(prefix="govern-bench-hostb-"))
    shutil.copytree(home, home_b, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.log", "*.lock"))
    env_b2 = {**env_b, "GOVERN_HOME": str(home_b)}
    settings = Settings.from_env(env_a)
    first = subprocess.Popen([*_govern_cmd(), "keys", "rotate", "--batch-size", "100", "--pause", "0.2", "--json"], env=env_a, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        target = (v1 and max(v1)) or 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                moved = conn.execute(text("SELECT count(*) FROM subject_keys WHERE master_key_version > :v"), {"v": target}).scalar_one()
            if moved > 0 or first.poll() is not None:
                break
            time.sleep(0.05)
        second = govern(env_b2, "keys", "rotate", check=False)
    finally:
        out, err = first.communicate(timeout=600)
        shutil.rmtree(home_b, ignore_errors=True)
    result["rotation_other_lock_file"] = {
        "first_exit": first.returncode, "second_exit": second.returncode, "second_said": (second.stderr.strip().splitlines() or [""])[-1],
        "ok": first.returncode == 0 and second.returncode == 3,
    }
    del settings
    return result


def readable_everywhere(servers: list[Server], key: str, ids: list[uuid.UUID]) -> dict:
    """After the rotation every host still reads every sampled subject (the keyring reloads on its own)."""
    out = {}
    for srv in servers:
        conn = http.client.HTTPConnection(LOOPBACK, srv.port, timeout=30)
        good = 0
        for sid in ids:
            conn.request("GET", f"/api/v1/subjects/{sid}", headers={"Authorization": f"Bearer {key}", "X-Purpose": "order_fulfilment"})
            r = conn.getresponse()
            r.read()
            good += r.status == 200
        conn.close()
        out[srv.name] = f"{good}/{len(ids)}"
    return out


# --- main ----------------------------------------------------------------------------------------------------------


def notice_version(port: int, purpose: str) -> str:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    conn.request("GET", "/api/v1/notices")
    notices = json.loads(conn.getresponse().read())
    conn.close()
    return next(n["current_version"] for n in notices if n["purpose"] == purpose)


def grant_marketing(port: int, key: str, ids: list[uuid.UUID], version: str) -> None:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    for sid in ids:
        body = json.dumps({"action": "grant", "purpose": "marketing", "channel": "web", "notice_version": version, "evidence": "bench-setup"}).encode()
        conn.request("POST", f"/api/v1/subjects/{sid}/consents", body=body, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        r = conn.getresponse()
        answer = r.read()
        if r.status != 201:
            sys.exit(f"granting marketing consent failed: {r.status} {answer[:300]!r}")
    conn.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("load.py measures PostgreSQL: pass a postgresql+psycopg:// URL")
    if "bench" not in database_name(url) and not args.force:
        sys.exit(f"refusing to wipe database '{database_name(url)}': its name has no 'bench' in it (use --force)")
    if args.clients < args.processes:
        args.processes = args.clients

    home = Path(tempfile.mkdtemp(prefix="govern-bench-load-"))
    env = {**os.environ, "GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": url, "GOVERN_POLICIES": str(PROJECT_ROOT / "policies"),
           "GOVERN_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    for k in ("GOVERN_DEK_CACHE_SIZE", "GOVERN_DEK_CACHE_SECONDS"):
        env.pop(k, None)
    servers: list[Server] = []
    started_at = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    try:
        print(f"load: {started_at:%Y-%m-%d %H:%M} UTC · {platform.node()} · {os.cpu_count()} cores · load average {load_before[0]:.2f} · "
              f"Python {platform.python_version()} · database {database_name(url)} · govern from {PROJECT_ROOT}")
        ensure_database(url)
        from govern.config import Settings
        from govern.db import make_engine
        from govern.runtime import build_runtime

        engine = make_engine(url)
        reset_schema(engine)
        govern(env, "init")
        sales_key = json.loads(govern(env, "principals", "create", "--name", "bench-crm-sales", "--role", "sales_service").stdout)["api_key"]
        marketing_key = json.loads(govern(env, "principals", "create", "--name", "bench-crm-marketing", "--role", "marketing_service").stdout)["api_key"]
        runtime = build_runtime(Settings.from_env(env))
        print(f"  seeding {args.subjects:,} subjects (8 encrypted fields each)")
        bulk_seed(engine=engine, policy=runtime.policy, envelope=runtime.envelope, start=0, stop=args.subjects, batch_size=2000,
                  with_audit=True, with_plain=False, progress=print_progress)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        namespace = keyring_namespace(runtime.envelope)
        ids = [subject_id_of(i, namespace) for i in range(args.subjects)]

        ports = [free_port() for _ in range(args.hosts)]
        for h, port in enumerate(ports):
            servers.append(start_host(f"host{h + 1}", env, port, args.workers, home))
        probe = f"/api/v1/subjects/{ids[0]}"
        for srv in servers:
            wait_ready(srv, probe, {"Authorization": f"Bearer {sales_key}", "X-Purpose": "order_fulfilment"})
        version = notice_version(ports[0], "personalisation")
        m = min(args.marketing_subjects, args.subjects)
        grant_marketing(ports[0], marketing_key, ids[:m], notice_version(ports[0], "marketing"))
        print(f"  {args.hosts} host(s): `govern serve --workers {args.workers}` on port(s) {', '.join(map(str, ports))}; "
              f"{m} subjects granted marketing; {args.clients} clients in {args.processes} processes")

        slots = 2 * args.hosts

        def plan_for(tag: str, host_ports: list[int], slot: int) -> Plan:
            return Plan(ports=host_ports, sales_key=sales_key, marketing_key=marketing_key, subjects=args.subjects, marketing_subjects=m,
                        namespace=str(namespace), notice_version=version, clients=args.clients, tag=tag, slot=slot, slots=slots)

        since = max_event_id(engine)
        all_done: list[Done] = []
        summaries: list[dict] = []
        phase_specs = [("one host" if args.hosts == 2 else "load", [ports[0]], [servers[0]], "a")]
        if args.hosts == 2:
            phase_specs.append(("two hosts", ports, servers, "b"))
        for k, (name, host_ports, srvs, tag) in enumerate(phase_specs):
            if args.warmup > 0:
                warm = run_phase("warm-up", plan_for(f"w{tag}", host_ports, 2 * k), duration=args.warmup, max_requests=args.max_requests,
                                 processes=args.processes, seed=args.seed + 100 * k, servers=srvs)
                all_done.extend(warm.done)
            phase = run_phase(name, plan_for(f"m{tag}", host_ports, 2 * k + 1), duration=args.duration, max_requests=args.max_requests,
                              processes=args.processes, seed=args.seed + 100 * k + 50, servers=srvs)
            all_done.extend(phase.done)
            s = summarise(phase, len(host_ports))
            s["load_average"] = round(os.getloadavg()[0], 2)
            summaries.append(s)
            print_phase(s)

        accounting = audit_accounting(engine, all_done, since)
        print(f"\n  audit: {accounting['operations_ok']} successful operations must have written {accounting['events_expected']} events; "
              f"found {accounting['events_found']}; missing {accounting['missing']}, unexpected {accounting['unexpected']}")
        print(f"    expected by action: {accounting['expected_by_action']}")

        jobs = None
        if args.hosts == 2:
            env_b = dict(env)  # the second host: same keyring folder, same database
            print("\n  long jobs started on both hosts at once:")
            jobs = long_jobs(env, env_b, engine, runtime, ids, args.old_records, home)
            p, r, o = jobs["purge"], jobs["rotation"], jobs["rotation_other_lock_file"]
            print(f"    retention purge: {p['records_due']} due, {p['deleted']} deleted, exit codes {p['exit_codes']}, {p['runs']} run "
                  f"({p['run_status']}, attempts {p['run_attempts']}, counted {p['run_counted']}); refused: {p['refusal']!r} — {'OK' if p['ok'] else 'FAIL'}")
            print(f"    key rotation: {r['keys']} data keys {r['versions_before']} -> {r['versions_after']}, exit codes {r['exit_codes']}, "
                  f"{r['rotate_begin_events']} begin / {r['rotate_finish_events']} finish events; refused: {r['refusal']!r} — {'OK' if r['ok'] else 'FAIL'}")
            print(f"    rotation from a host with its own lock file while another rotates: exit {o['second_exit']} ({o['second_said']!r}) — {'OK' if o['ok'] else 'FAIL'}")
            sample = random.Random(1).sample(ids[m:], min(50, len(ids) - m))
            jobs["readable_after"] = readable_everywhere(servers, sales_key, sample)
            print(f"    subjects readable after the rotation, per host: {jobs['readable_after']}")

        integrity = seal_and_verify(env, engine)
        print(f"  audit log: {integrity['events']} events, {integrity['chained']} in the chain, checkpoint #{integrity['checkpoint']} "
              f"over {integrity['tree_size']}; `govern audit verify`: {'OK' if integrity['verify_ok'] else 'FAILED ' + json.dumps(integrity['verify'])}")

        errors = sum(s["errors"] for s in summaries)
        verdict_ok = errors == 0 and accounting["missing"] == 0 and accounting["unexpected"] == 0 and integrity["verify_ok"] and integrity["all_sealed"]
        if jobs is not None:
            verdict_ok = verdict_ok and jobs["purge"]["ok"] and jobs["rotation"]["ok"] and jobs["rotation_other_lock_file"]["ok"]
            verdict_ok = verdict_ok and all(v.split("/")[0] == v.split("/")[1] for v in jobs["readable_after"].values())
        scale = None
        if args.hosts == 2:
            one, two = summaries[0]["throughput"], summaries[1]["throughput"]
            scale = {"one_host": one, "two_hosts": two, "per_host": summaries[1]["per_host"], "ratio": round(two / one, 2) if one else None}
            print(f"\n  scale-out: one host {one:.1f} ops/s; two hosts {two:.1f} ops/s ({' + '.join(f'{v:.1f}' for v in summaries[1]['per_host'].values())}) "
                  f"= {scale['ratio']}x one host, on {os.cpu_count()} cores shared by clients, both hosts and PostgreSQL")
        verdict = "PASS" if verdict_ok else "FAIL"
        print(f"\n  machine: {os.cpu_count()} cores shared by the clients, the server(s) and PostgreSQL; load average at start "
              f"{load_before[0]:.2f}, now {os.getloadavg()[0]:.2f}")
        print(f"  bar: zero errors ({errors}), zero missing audit events ({accounting['missing']}), the log verifies "
              f"({integrity['verify_ok']}){', long jobs done once' if jobs else ''}: {verdict}")
        if args.json:
            print(json.dumps({
                "benchmark": "load", "date": started_at.isoformat(timespec="seconds"), "machine": {"cores": os.cpu_count(), "node": platform.node(), "python": platform.python_version()},
                "load_average": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)}, "database": database_name(url),
                "command": " ".join(["bench/load.py", *(argv if argv is not None else sys.argv[1:])]),
                "settings": {k: getattr(args, k) for k in ("subjects", "marketing_subjects", "duration", "warmup", "clients", "processes", "workers", "hosts")},
                "mix": dict(MIX), "phases": summaries, "audit": accounting, "integrity": integrity, "scale_out": scale, "jobs": jobs, "verdict": verdict,
            }, default=str))
        return 0 if verdict_ok else 1
    finally:
        for srv in servers:
            srv.stop()
        if args.keep_home:
            print(f"  kept GOVERN_HOME and server logs in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
