"""Benchmark: the audit log at scale (issue 20 item 3) on PostgreSQL, with audit_events partitioned by month.

    .venv/bin/python bench/audit_scale.py [--events 100000000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_audit_scale]
                                          [--months 14] [--subjects 1000000] [--actors 50] [--clients 4] [--append-seconds 15] [--searches 200]

What it does, in one run (the database is the benchmark's own: WIPED first; a name without `bench` is refused):

1. `govern init` (migrations: the partitioned table), partitions for every month of the range.
2. Baseline: audited appends/s into the EMPTY table -- `--clients` processes, each looping "begin; govern's real
   `audit.service.append()`; commit" for `--append-seconds` -- and the WAL written per event.
3. `--events` events generated directly (not through the API): real-shaped events (the canonical text append() writes,
   with the columns it derives), spread evenly over `--months` months up to now for `--subjects` subjects and `--actors`
   service actors, written with COPY in time order with their hash-chain links (the real leaf and chain hashes), plus
   a small month of 1,000 events before them; a signed checkpoint after the small month, after the first full month,
   and at the end (what `govern serve` signs every minute).
4. Audited appends/s again into the FULL table: the ratio to step 2 (bar: >= 0.9, "within 10 %").
5. `--searches` searches through govern's `audit.service.search` (audited, committed), p50/p99: by subject over the
   last year, by actor within a one-hour window; each against the same query in bare SQL (no audit, no ORM) as the
   baseline (bar: p50 <= 20 ms).
6. The archive (`govern audit archive` code path) of the two oldest months, which the 365-day retention has passed:
   export, offline verification, then DETACH + DROP of each month's partition -- the drop's milliseconds for the
   small month and for the full one (bar: the full month's drop <= 100 ms, O(1): same order as the small one's) --
   and the offline verifier (audit/verify.py code) over the full month's archive again, in events/s (bar: >= 250,000).

Prints each figure with its baseline and ratio, table and index bytes per event, and a JSON line; saves nothing itself
(bench/figures.py saves the run in bench/results/audit_scale.json). Exit status 0 when every bar is met, 1 otherwise.
The issue's size is 10^8 events (the default); on a shared 2-core machine run it at the size you can and say so.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

from _seed import ensure_database, reset_schema  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_audit_scale"
BAR_APPEND = 0.9
BAR_SEARCH_MS = 20.0
BAR_DROP_MS = 100.0
BAR_VERIFY = 250_000
SMALL_MONTH = 1_000
FIELDS = ("address", "email", "mobile", "name")


def runtime_for(url: str, home: Path):
    from govern.cli_support import initialise
    from govern.config import PROJECT_ROOT, Settings
    from govern.logging import configure_logging
    from govern.runtime import build_runtime

    settings = Settings(home=home, database_url=url, policies_dir=PROJECT_ROOT / "policies", log_level="WARNING", archive_dir=home / "archive")
    configure_logging("WARNING", stream=sys.stderr)
    initialise(settings)
    return build_runtime(settings)


# --- appends -----------------------------------------------------------------------------------------------------------


def _append_client(url: str, start_at: float, stop_at: float, counter) -> None:
    from govern.audit import service
    from govern.audit.tags import SubjectAction
    from govern.db import Database
    from govern.identity.actor import Actor

    database = Database(url)
    actor = Actor(name="crm-sales", kind="service", roles=("sales_service",), principal_id=uuid.uuid4(), request_id=uuid.uuid4().hex, client_addr="10.0.0.1")
    done = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < stop_at:
        with database.unit_of_work() as session:
            subject = uuid.uuid4()
            service.append(session=session, actor=actor, action=SubjectAction.READ, subject_id=subject, field_names=FIELDS,
                           purpose="customer_service", resource=f"subject:{subject}")
        done += 1
    with counter.get_lock():
        counter.value += done
    database.dispose()


def appends(rt, url: str, clients: int, seconds: float, warmup: float = 3.0) -> dict:
    """Audited appends/s with `clients` processes, and the WAL bytes written per event meanwhile, after `warmup`
    seconds of the same unmeasured (connections made, the partition's hot pages read and logged once)."""
    if warmup:
        appends(rt, url, clients, warmup, warmup=0)
    counter = mp.Value("q", 0)
    with rt.database.engine.connect() as conn:
        lsn0 = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar()
    start_at = time.time() + 2.0
    procs = [mp.Process(target=_append_client, args=(url, start_at, start_at + seconds, counter)) for _ in range(clients)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    with rt.database.engine.connect() as conn:
        wal = conn.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :l)"), {"l": lsn0}).scalar()
    n = counter.value
    return {"events": n, "per_s": round(n / seconds, 1), "wal_bytes_per_event": round(float(wal) / max(n, 1), 1)}


# --- generation --------------------------------------------------------------------------------------------------------


def canonical(when: datetime, actor_id: str, actor_name: str, subject: str, request: str, client: str) -> str:
    """What service.append stores for a read (sorted keys, no whitespace), built directly; checked against
    canonical_bytes on the first events."""
    return (
        '{"action":"subjects:profile:read","actor":{"id":"%s","kind":"service","name":"%s"},"client":"%s",'
        '"fields":["address","email","mobile","name"],"outcome":"allowed","purpose":"customer_service","reason":null,'
        '"request":"%s","resource":"subject:%s","roles":["sales_service"],"subject":"%s","time":"%s"}'
    ) % (actor_id, actor_name, client, request, subject, subject, when.isoformat(timespec="microseconds"))


class Generator:
    """Writes events with their chain links by COPY, in id = seq = time order."""

    def __init__(self, rt, subjects: int, actors: int, seed: int = 20) -> None:
        self.rt = rt
        self.rng = random.Random(seed)
        self.subjects = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(subjects)]
        self.actors = [(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), f"crm-service-{i}") for i in range(actors)]
        self.seq = 0
        self.prev = b"\x00" * 32

    def write(self, first: datetime, last: datetime, n: int, batch: int = 50_000, progress: str = "", checkpoint_every: int = 0) -> None:
        from govern.audit.service import canonical_bytes

        step = (last - first) / max(n, 1)
        raw = self.rt.database.engine.raw_connection()
        sealed_at = datetime.now(timezone.utc).isoformat()
        written, t0 = 0, time.monotonic()
        try:
            while written < n:
                size = min(batch, n - written)
                events, links = [], []
                for k in range(size):
                    i = written + k
                    when = first + step * i
                    actor_id, actor_name = self.actors[int(self.rng.random() ** 2 * len(self.actors))]  # a few services read most
                    subject = self.subjects[self.rng.randrange(len(self.subjects))]
                    request = "%032x" % self.rng.getrandbits(128)
                    client = "10.0.%d.%d" % (self.rng.randrange(256), self.rng.randrange(256))
                    body = canonical(when, actor_id, actor_name, subject, request, client)
                    if self.seq < 3:
                        assert body == canonical_bytes(json.loads(body)), "the generated event is not canonical"
                    self.seq += 1
                    leaf = hashlib.sha256(b"\x00" + body.encode()).digest()
                    digest = hashlib.sha256(self.prev + self.seq.to_bytes(8, "big") + leaf).digest()
                    events.append(f"{self.seq}\t{when.isoformat()}\t{actor_id}\t{actor_name}\tsales_service\tsubjects:profile:read\tsubject:{subject}\t"
                                  f"{subject}\taddress,email,mobile,name\tcustomer_service\tallowed\t\\N\t{request}\t{client}\t{body}\n")
                    links.append(f"{self.seq}\t{self.seq}\t{leaf.hex()}\t{self.prev.hex()}\t{digest.hex()}\t{sealed_at}\n")
                    self.prev = digest
                with raw.cursor() as cur:
                    with cur.copy("COPY audit_events (id, occurred_at, actor_id, actor_name, roles, action, resource, subject_id, field_names, purpose, "
                                  "outcome, reason, request_id, client_addr, canonical) FROM STDIN") as cp:
                        cp.write("".join(events))
                    with cur.copy("COPY audit_chain (seq, event_id, leaf, prev_hash, hash, sealed_at) FROM STDIN") as cp:
                        cp.write("".join(links))
                raw.commit()
                written += size
                if checkpoint_every and self.seq // checkpoint_every != (self.seq - size) // checkpoint_every and written < n:
                    self._mark_sealed(n=0)
                    self.checkpoint()
                if progress and (written == n or written % (batch * 20) == 0):
                    rate = written / max(time.monotonic() - t0, 1e-6)
                    print(f"  {progress}: {written:,}/{n:,} events ({rate:,.0f}/s)", file=sys.stderr, flush=True)
        finally:
            raw.close()
        self._mark_sealed(n)

    def _mark_sealed(self, n: int) -> None:
        with self.rt.database.engine.begin() as conn:
            conn.execute(text("SELECT setval('audit_events_id_seq', :v)"), {"v": self.seq})
            # A sealer run long past that saw every id: the sealer then starts after them (as after a day of `govern serve`).
            conn.execute(text("INSERT INTO audit_seal_runs (ran_at, max_event_id, sealed) VALUES (now() - interval '1 day', :v, :n)"), {"v": self.seq, "n": n})

    def checkpoint(self) -> None:
        from govern.audit import checkpoints

        checkpoints.issue(database=self.rt.database, settings=self.rt.settings)


# --- searches ----------------------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def searches(rt, gen: Generator, n: int, first: datetime, last: datetime) -> dict:
    from govern.audit import service
    from govern.identity.actor import Actor

    auditor = Actor(name="auditor", kind="staff", roles=("auditor",), principal_id=uuid.uuid4(), client_addr="10.9.9.9")
    rng = random.Random(7)
    out: dict[str, dict] = {}
    year_ago = last - timedelta(days=365)
    kinds = {
        "subject, last 365 days": lambda: ({"subject_id": uuid.UUID(rng.choice(gen.subjects)), "time_from": year_ago, "time_to": last},
                                           "subject_id = :v AND occurred_at >= :f AND occurred_at < :t"),
        "actor, 1-hour window": lambda: (_actor_window(rng, gen, first, last), "actor_id = :v AND occurred_at >= :f AND occurred_at < :t"),
    }
    for name, draw in kinds.items():
        govern_ms, bare_ms, found = [], [], []
        for _ in range(n):
            filters, where = draw()
            value = filters.get("subject_id") or uuid.UUID(filters["actor"])
            t0 = time.perf_counter()
            with rt.database.unit_of_work() as session:
                page = service.search(session=session, actor=auditor, filters=service.SearchFilters(**filters), limit=50)
            govern_ms.append((time.perf_counter() - t0) * 1000)
            found.append(len(page.events))
            with rt.database.engine.connect() as conn:
                t0 = time.perf_counter()
                conn.execute(text(f"SELECT id, canonical FROM audit_events WHERE {where} ORDER BY id DESC LIMIT 51"),
                             {"v": value, "f": filters["time_from"], "t": filters["time_to"]}).all()
                bare_ms.append((time.perf_counter() - t0) * 1000)
        out[name] = {"govern_p50_ms": _pct(govern_ms, 0.5), "govern_p99_ms": _pct(govern_ms, 0.99), "bare_p50_ms": _pct(bare_ms, 0.5),
                     "bare_p99_ms": _pct(bare_ms, 0.99), "mean_found": round(statistics.mean(found), 1)}
    return out


def _actor_window(rng: random.Random, gen: Generator, first: datetime, last: datetime) -> dict:
    actor_id = gen.actors[int(rng.random() ** 2 * len(gen.actors))][0]
    start = first + (last - first - timedelta(hours=1)) * rng.random()
    return {"actor": actor_id, "time_from": start, "time_to": start + timedelta(hours=1)}


# --- archive -----------------------------------------------------------------------------------------------------------


def archive_two_months(rt) -> dict:
    from govern.audit import archive, verifier
    from govern.identity.actor import Actor

    policy = dataclasses.replace(rt.policy.audit, retention_days=365, archive=True, partition_period="month")
    t0 = time.perf_counter()
    run = archive.run(database=rt.database, settings=rt.settings, policy=policy, actor=Actor.operator(), max_periods=2)
    seconds = time.perf_counter() - t0
    if run.refused or len(run.archived) != 2:
        raise SystemExit(f"the archive did not take two months: {run.refused or run.archived}")
    small, full = run.archived
    folder = Path(full.folder)
    t0 = time.perf_counter()
    one = verifier.verify_export(folder, [rt.settings.audit_checkpoint_dir], workers=1)
    one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = verifier.verify_export(folder, [rt.settings.audit_checkpoint_dir])
    verify_s = time.perf_counter() - t0
    if not (report.ok and one.ok):
        raise SystemExit(f"the archive does not verify: {report.render()}")
    return {
        "small": {"events": small.events, "drop_ms": round(small.remove_ms, 1), "partition": small.dropped_partition},
        "full": {"events": full.events, "exported": full.exported, "drop_ms": round(full.remove_ms, 1), "partition": full.dropped_partition},
        "archive_seconds": round(seconds, 1), "archive_events_per_s": round((small.exported + full.exported) / seconds),
        "verify_events": report.events, "verify_seconds": round(verify_s, 2), "verify_events_per_s": round(report.events / verify_s),
        "verify_one_process_seconds": round(one_s, 2), "verify_one_process_events_per_s": round(one.events / one_s),
        "first_seq": full.first_seq, "through_seq": full.through_seq,
        "archive_bytes": sum(f.stat().st_size for f in folder.iterdir()),
    }


def proofs(rt, arch: dict, n: int, whole_tree_upto: int) -> dict:
    """Inclusion proofs of random events (half archived, half live) against the first checkpoint covering each, each
    verified; a consistency proof between the last two checkpoints; the former whole-tree proof once, at small sizes."""
    from govern.audit import checkpoints, verifier

    rng = random.Random(3)
    keys = rt.settings.audit_checkpoint_dir / "keys.json"
    with rt.database.unit_of_work() as session:
        top = session.scalar(text("SELECT max(seq) FROM audit_chain"))
        numbers = list(session.scalars(text("SELECT number FROM audit_checkpoints ORDER BY number DESC LIMIT 2")))
    timed: dict[str, list[float]] = {"live": [], "archived": []}
    for i in range(n):
        kind = "archived" if i % 2 else "live"
        seq = rng.randint(arch["first_seq"], arch["through_seq"]) if kind == "archived" else rng.randint(arch["through_seq"] + 1, top)
        t0 = time.perf_counter()
        with rt.database.unit_of_work() as session:
            proof = checkpoints.inclusion_proof(session=session, seq=seq, settings=rt.settings)
        timed[kind].append((time.perf_counter() - t0) * 1000)
        if not verifier.verify_proof(proof, keys).ok:
            raise SystemExit(f"the inclusion proof of seq {seq} does not verify")
    t0 = time.perf_counter()
    with rt.database.unit_of_work() as session:
        consistency = checkpoints.consistency_proof(session=session, first=numbers[1], second=numbers[0])
    consistency_ms = (time.perf_counter() - t0) * 1000
    if not verifier.verify_consistency_proof(consistency, keys).ok:
        raise SystemExit("the consistency proof does not verify")
    whole = None
    if top <= whole_tree_upto:
        t0 = time.perf_counter()
        with rt.database.unit_of_work() as session:
            leaves = checkpoints._all_leaves(session, top)
            checkpoints._path(top // 2, leaves, 0, top)
        whole = round((time.perf_counter() - t0) * 1000, 1)
    every = timed["live"] + timed["archived"]
    return {"proofs": len(every), "live_p50_ms": round(_pct(timed["live"], 0.5), 1), "archived_p50_ms": round(_pct(timed["archived"], 0.5), 1),
            "p99_ms": round(_pct(every, 0.99), 1), "consistency_ms": round(consistency_ms, 1), "whole_tree_ms": whole, "tree_size": top}


def sizes(rt) -> dict:
    with rt.database.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_events'::regclass"
        )).one()
        chain = conn.execute(text("SELECT pg_total_relation_size('audit_chain')")).scalar()
        events = conn.execute(text("SELECT count(*) FROM audit_chain")).scalar()
    return {"table_bytes_per_event": round(rows[0] / events), "index_bytes_per_event": round(rows[1] / events),
            "chain_bytes_per_event": round(chain / events)}


# --- main --------------------------------------------------------------------------------------------------------------


def add_months(when: datetime, months: int) -> datetime:
    index = when.year * 12 + when.month - 1 + months
    return when.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_URL)
    p.add_argument("--events", type=int, default=100_000_000)
    p.add_argument("--months", type=int, default=14)
    p.add_argument("--subjects", type=int, default=1_000_000)
    p.add_argument("--actors", type=int, default=50)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--append-seconds", type=float, default=15.0)
    p.add_argument("--searches", type=int, default=200)
    p.add_argument("--checkpoint-every", type=int, default=600_000, help="a signed checkpoint every N generated events (a minute at 10k reads/s)")
    p.add_argument("--proofs", type=int, default=40, help="inclusion proofs timed (half of archived events)")
    p.add_argument("--whole-tree-proof-upto", type=int, default=3_000_000, help="time the former whole-tree proof too up to this many events")
    p.add_argument("--force", action="store_true", help="allow a database whose name lacks 'bench' (it is WIPED)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    name = make_url(args.database_url).database or ""
    if "bench" not in name and not args.force:
        print(f"refusing to wipe {name!r}: its name lacks 'bench' (use --force)", file=sys.stderr)
        return 2
    load_start = os.getloadavg()[0]
    started = datetime.now(timezone.utc)
    ensure_database(args.database_url)
    from sqlalchemy import create_engine

    engine = create_engine(args.database_url)
    reset_schema(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS audit_partitions CASCADE"))
    engine.dispose()
    home = Path(tempfile.mkdtemp(prefix="govern-audit-scale-"))
    rt = runtime_for(args.database_url, home)
    now = datetime.now(timezone.utc)
    first = add_months(now, -args.months)
    small_first = add_months(now, -args.months - 1)
    with rt.database.engine.begin() as conn:
        month = small_first
        while month <= now:
            conn.execute(text("SELECT govern_audit_add_partition('month', :at)"), {"at": month})
            month = add_months(month, 1)

    print(f"audit_scale: {args.events:,} events over {args.months} months (+ a month of {SMALL_MONTH:,}), {args.subjects:,} subjects, "
          f"{args.actors} actors; PostgreSQL {name}; {os.cpu_count()} cores, load average {load_start:.2f}", flush=True)
    empty = appends(rt, args.database_url, args.clients, args.append_seconds)
    print(f"appends into the empty table: {empty['per_s']:,} events/s at {args.clients} clients; WAL {empty['wal_bytes_per_event']:,} bytes/event", flush=True)
    with rt.database.engine.begin() as conn:  # the appended events are not part of the generated history
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("TRUNCATE audit_events, audit_chain, audit_checkpoints, audit_seal_runs"))
    for f in rt.settings.audit_checkpoint_dir.glob("checkpoints.jsonl"):
        f.unlink()

    gen = Generator(rt, args.subjects, args.actors)
    t0 = time.perf_counter()
    gen.write(small_first + timedelta(days=1), small_first + timedelta(days=2), SMALL_MONTH)
    gen.checkpoint()
    month_one = min(args.events, max(1, args.events // args.months))
    end = now - timedelta(minutes=10)
    gen.write(first, add_months(first, 1) - timedelta(seconds=1), month_one, progress="month 1")
    gen.checkpoint()
    gen.write(add_months(first, 1), end, args.events - month_one, progress="months 2..", checkpoint_every=args.checkpoint_every)
    seeded_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    gen.checkpoint()
    checkpoint_s = time.perf_counter() - t1
    with rt.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE audit_events"))
        conn.execute(text("ANALYZE audit_chain"))
        conn.execute(text("CHECKPOINT"))
    total = args.events + SMALL_MONTH
    print(f"generated {total:,} events with their chain links by COPY in {seeded_s:,.0f} s ({total / seeded_s:,.0f}/s); "
          f"final checkpoint over them {checkpoint_s:,.1f} s", flush=True)
    size = sizes(rt)
    print(f"bytes per event: table {size['table_bytes_per_event']}, indexes {size['index_bytes_per_event']}, chain (with its indexes) "
          f"{size['chain_bytes_per_event']}", flush=True)

    full = appends(rt, args.database_url, args.clients, args.append_seconds)
    append_ratio = full["per_s"] / max(empty["per_s"], 1e-9)
    print(f"appends into the full table:  {full['per_s']:,} events/s at {args.clients} clients; WAL {full['wal_bytes_per_event']:,} bytes/event", flush=True)
    print(f"ratio full/empty: {append_ratio:.2f} (bar >= {BAR_APPEND})", flush=True)

    found = searches(rt, gen, args.searches, first, end)
    print(f"{'search':24} {'govern p50':>10} {'p99':>8} {'bare SQL p50':>12} {'p99':>8} {'ratio p50':>9} {'rows':>6}")
    for kind, r in found.items():
        print(f"{kind:24} {r['govern_p50_ms']:>9.2f}  {r['govern_p99_ms']:>7.2f} {r['bare_p50_ms']:>11.2f}  {r['bare_p99_ms']:>7.2f} "
              f"{r['govern_p50_ms'] / max(r['bare_p50_ms'], 1e-9):>9.2f} {r['mean_found']:>6}")
    arch = archive_two_months(rt)
    drop_ratio = arch["full"]["drop_ms"] / max(arch["small"]["drop_ms"], 1e-9)
    print(f"archive of the two oldest months: {arch['small']['events'] + arch['full']['events']:,} events out in {arch['archive_seconds']} s "
          f"({arch['archive_events_per_s']:,} events/s: export, verify, drop, signed statement)", flush=True)
    print(f"drop (DETACH + DROP) of a month: {arch['full']['drop_ms']} ms for {arch['full']['events']:,} events, {arch['small']['drop_ms']} ms for "
          f"{arch['small']['events']:,}; ratio {drop_ratio:.2f} (bar <= {BAR_DROP_MS:.0f} ms)", flush=True)
    print(f"verify of the archive: {arch['verify_events']:,} events in {arch['verify_seconds']} s = {arch['verify_events_per_s']:,} events/s "
          f"(bar >= {BAR_VERIFY:,}); in one process {arch['verify_one_process_events_per_s']:,} events/s (ratio "
          f"{arch['verify_events_per_s'] / max(arch['verify_one_process_events_per_s'], 1):.2f}); archive "
          f"{arch['archive_bytes'] / max(arch['verify_events'], 1):.0f} bytes/event", flush=True)
    proof = proofs(rt, arch, args.proofs, whole_tree_upto=args.whole_tree_proof_upto)
    print(f"inclusion proof p50 {proof['live_p50_ms']} ms (live event), {proof['archived_p50_ms']} ms (archived event), p99 {proof['p99_ms']} ms, "
          f"{proof['proofs']} proofs, all verify; consistency proof between the last two checkpoints {proof['consistency_ms']} ms; "
          f"whole-tree proof (before): {proof['whole_tree_ms'] if proof['whole_tree_ms'] is not None else 'not run at this size'} ms", flush=True)

    bars = {
        "append_within_10_percent": append_ratio >= BAR_APPEND,
        "search_p50_20ms": all(r["govern_p50_ms"] <= BAR_SEARCH_MS for r in found.values()),
        "drop_ms": arch["full"]["drop_ms"] <= BAR_DROP_MS,
        "verify_250k": arch["verify_events_per_s"] >= BAR_VERIFY,
    }
    verdict = "PASS" if all(bars.values()) else "FAIL"
    said = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in bars.items())
    print(f"bar: {verdict} ({said})", flush=True)
    load_end = os.getloadavg()[0]
    print(f"load average {load_start:.2f} at the start, {load_end:.2f} at the end")
    result = {
        "command": " ".join(["bench/audit_scale.py", *(argv if argv is not None else sys.argv[1:])]), "date": started.isoformat(timespec="seconds"),
        "events": total, "months": args.months, "appends": {"empty": empty, "full": full, "ratio": round(append_ratio, 3)}, "searches": found,
        "archive": arch, "proofs": proof, "drop_ratio": round(drop_ratio, 2), "sizes": size, "bars": bars, "verdict": verdict,
        "load_average": {"start": round(load_start, 2), "end": round(load_end, 2)}, "machine": platform.node(),
    }
    print(json.dumps(result))
    rt.database.dispose()
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
