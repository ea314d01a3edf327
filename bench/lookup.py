"""Benchmark: look a subject up by mobile number among 1,000,000 subjects on PostgreSQL, at the service layer
(`govern.access.reads.lookup` in a unit of work: blind index, purpose check, audit event, commit), side by
side with a baseline: the same unit of work running a plain indexed equality lookup on an unencrypted column of
a table of the same size (bench_plain_profiles.mobile).

    .venv/bin/python bench/lookup.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_bench_lookup]

Bar (issue 2): p50 <= 2 ms. Exit status 0 when the bar is met, 1 when not.

The database is created when missing and seeded once (resumable: an interrupted seed continues from its last
committed batch; a finished one is reused). Its keyring lives in --home (default /tmp/govern-bench/<database>);
if that keyring is lost, the seeded rows cannot be read and the database is wiped and seeded again.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _load import percentile  # noqa: E402
from _seed import (  # noqa: E402
    PLAIN_TABLE,
    bulk_seed,
    count_bench_subjects,
    create_plain_table,
    database_name,
    ensure_database,
    keyring_namespace,
    mobile_of,
    print_progress,
    reset_schema,
    subject_id_of,
)
from sqlalchemy import select, text  # noqa: E402

from govern.config import PROJECT_ROOT  # noqa: E402  (the policies of the govern being measured)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench_lookup"
BAR_P50_MS = 2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_LOOKUP_DATABASE_URL", DEFAULT_URL), help="PostgreSQL database (default %(default)s)")
    p.add_argument("--home", type=Path, default=None, help="GOVERN_HOME holding this database's keyring (default /tmp/govern-bench/<database>)")
    p.add_argument("--subjects", type=int, default=1_000_000, help="subjects in the database (default %(default)s)")
    p.add_argument("--lookups", type=int, default=5_000, help="measured look-ups per side (default %(default)s)")
    p.add_argument("--warmup", type=int, default=500, help="unmeasured look-ups per side first (default %(default)s)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="stop measuring a side after this long (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=5_000, help="subjects per committed seed batch (default %(default)s)")
    p.add_argument("--skip-init", action="store_true", help="do not run `govern init` on an existing keyring and schema (e.g. to measure an older checkout)")
    p.add_argument("--reseed", action="store_true", help="wipe and seed again even if the database is complete")
    p.add_argument("--force", action="store_true", help="allow a database whose name does not contain 'bench'")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    name = database_name(url)
    if not url.startswith("postgresql"):
        sys.exit("lookup.py measures PostgreSQL: pass a postgresql+psycopg:// URL")
    if "bench" not in name and not args.force:
        sys.exit(f"refusing to use database '{name}': its name has no 'bench' in it (use --force)")
    home = (args.home or Path("/tmp/govern-bench") / name).resolve()
    env = {**os.environ, "GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": url, "GOVERN_POLICIES": str(PROJECT_ROOT / "policies")}
    print(f"lookup: load average {os.getloadavg()[0]:.2f} · {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {name} · GOVERN_HOME {home} · govern from {PROJECT_ROOT}")

    from govern.access import reads
    from govern.config import Settings
    from govern.db import make_engine
    from govern.identity.actor import Actor
    from govern.runtime import build_runtime

    created = ensure_database(url)
    engine = make_engine(url)
    keyring_lost = not (home / "keyring.json").exists()
    if args.reseed or created or keyring_lost:
        if keyring_lost and not created:
            print("  no keyring for this database: wiping it and seeding again")
        reset_schema(engine)
        (home / "keyring.json").unlink(missing_ok=True)
    # govern init: the keyring (kept in `home`) and the schema; safe to run again.
    if not (args.skip_init and (home / "keyring.json").exists()):
        subprocess.run([str(Path(sys.executable).with_name("govern")), "init"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    create_plain_table(engine)

    runtime = build_runtime(Settings.from_env(env))
    have = count_bench_subjects(engine)
    if have < args.subjects:
        print(f"  seeding subjects {have:,}..{args.subjects:,} (8 encrypted fields, a fresh data key each; the plain twin table too)")
        stats = bulk_seed(engine=engine, policy=runtime.policy, envelope=runtime.envelope, start=have, stop=args.subjects,
                          batch_size=args.batch_size, with_audit=False, with_plain=True, progress=print_progress)
        print(f"  seeded {stats.seeded:,} subjects in {stats.seconds:.0f}s; ANALYZE")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        print(f"  {have:,} subjects already seeded (reused; --reseed to start over)")
    with engine.connect() as conn:
        fields = conn.execute(text("SELECT count(*) FROM profile_fields")).scalar_one()
        plain = conn.execute(text(f"SELECT count(*) FROM {PLAIN_TABLE}")).scalar_one()
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
    print(f"  database: {have if have >= args.subjects else args.subjects:,} subjects, {fields:,} encrypted field rows, {plain:,} plain rows, {size}")

    namespace = keyring_namespace(runtime.envelope)
    population = min(args.subjects, count_bench_subjects(engine))
    rng = random.Random(2)
    actor = Actor(name="bench-lookup", kind="service", roles=("sales_service",), client_addr="127.0.0.1")
    database, policy, envelope = runtime.database, runtime.policy, runtime.envelope

    # Sanity: a look-up finds exactly its subject, through the blind index.
    probe = rng.randrange(population)
    with database.unit_of_work() as session:
        found = reads.lookup(session=session, policy=policy, envelope=envelope, actor=actor, field="mobile", value=mobile_of(probe), purpose="customer_service")
    if found != [subject_id_of(probe, namespace)]:
        sys.exit(f"look-up of subject #{probe} returned {found}: the seed does not match this keyring (run with --reseed)")

    plain_query = text(f"SELECT id FROM {PLAIN_TABLE} WHERE mobile = :m ORDER BY id LIMIT 50")

    def govern_once(mobile: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        with database.unit_of_work() as session:
            ids = reads.lookup(session=session, policy=policy, envelope=envelope, actor=actor, field="mobile", value=mobile, purpose="customer_service")
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        assert len(ids) == 1
        return (t2 - t0) * 1000, (t1 - t0) * 1000

    def baseline_once(mobile: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        with database.unit_of_work() as session:
            ids = list(session.scalars(plain_query, {"m": mobile}))
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        assert len(ids) == 1
        return (t2 - t0) * 1000, (t1 - t0) * 1000

    print(f"  {args.warmup} warm-up + {args.lookups:,} measured look-ups per side (random existing mobiles, one at a time), "
          f"at most {args.max_seconds:g}s per side")
    results = {}
    for side, fn in (("baseline", baseline_once), ("govern", govern_once)):
        for _ in range(args.warmup):
            fn(mobile_of(rng.randrange(population)))
        total, inner = [], []
        deadline = time.perf_counter() + args.max_seconds
        began, cpu0 = time.perf_counter(), time.process_time()
        while len(total) < args.lookups and time.perf_counter() < deadline:
            a, b = fn(mobile_of(rng.randrange(population)))
            total.append(a)
            inner.append(b)
        results[side] = (total, inner, time.perf_counter() - began, time.process_time() - cpu0)

    print()
    print(f"  {'side':<10} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'lookups/s':>10}   {'p50 before commit':>17}  {'Python CPU ms/lookup':>20}")
    for side, (total, inner, seconds, cpu) in results.items():
        print(f"  {side:<10} {len(total):>6} {percentile(total, 50):>8.3f} {percentile(total, 99):>8.3f} {statistics.fmean(total):>8.3f} "
              f"{len(total) / seconds:>10.0f}   {percentile(inner, 50):>17.3f}  {1000 * cpu / len(total):>20.3f}")
    g50, b50 = percentile(results["govern"][0], 50), percentile(results["baseline"][0], 50)
    verdict = "PASS" if g50 <= BAR_P50_MS else "FAIL"
    print(f"  machine: {os.cpu_count()} cores; load average now {os.getloadavg()[0]:.2f} (other processes stretch every figure)")
    print(f"  govern p50 / baseline p50: {g50 / b50:.2f}x")
    print(f"  govern p50 {g50:.3f} ms (bar <= {BAR_P50_MS} ms, whole unit of work incl. the audit event's commit)  {verdict}")
    with engine.connect() as conn:
        audited = conn.execute(select(text("count(*)")).select_from(text("audit_events")).where(text("action = 'subjects:profile:lookup'"))).scalar_one()
    print(f"  audit events of look-ups in this database so far: {audited:,}")
    runtime.database.dispose()
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
