"""Benchmark: does the retention purge scale linearly? Purge 10,000, 100,000 and 1,000,000 due records on
PostgreSQL through the real code path (`govern.retention.purge.purge_plan`: the approved plan's items in batches,
hold checks, `erasure.erase_records`, one audit event per subject per batch, cursor and counts committed with each
batch), and print records/s and cost per record at each size, with the ratio to the smallest size.

Baseline, measured in the same run on the same data: the bare floor -- `DELETE FROM records WHERE id = ANY(...)`
in batches of the same size, no plan, no holds, no audit.

    .venv/bin/python bench/purge_scale.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_retention]
                                          [--sizes 10000,100000,1000000] [--batch-size 5000] [--per-subject 100]

Bars (issue 6): cost per record at 1,000,000 within 1.5x of that at 10,000; at least 20,000 records/s at 1,000,000.
Exit status 0 when both bars are met (or the largest size run is below 1,000,000 and the ratio bar holds), 1 otherwise.

The database is the benchmark's own: its schema is dropped and rebuilt. Each size is seeded afresh with COPY
(subjects with a data key and one profile field, `--per-subject` purchase records each, occurred four years
ago, so every record is due under the 3-year E-Commerce Law rule and no subject is left empty). The record
ciphertext is random bytes of a real sealed payload's size: the purge never decrypts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

from _seed import ensure_database, reset_schema  # noqa: E402
from sqlalchemy import text  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_retention"
BAR_RATIO = 1.5
BAR_RATE = 20_000


def runtime_for(url: str, home: Path):
    from govern.cli_support import initialise
    from govern.config import PROJECT_ROOT, Settings
    from govern.logging import configure_logging
    from govern.runtime import build_runtime

    settings = Settings(home=home, database_url=url, policies_dir=PROJECT_ROOT / "policies", log_level="WARNING")
    configure_logging("WARNING", stream=sys.stderr)
    initialise(settings)
    return build_runtime(settings)


def empty(rt) -> None:
    tables = ["retention_plan_items", "retention_runs", "retention_plans", "retention_hold_records", "retention_holds", "records",
              "profile_fields", "subject_keys", "tombstones", "subjects", "audit_events"]
    with rt.database.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # the audit table's append-only trigger
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def seed(rt, records: int, per_subject: int) -> float:
    """COPY subjects, their data keys, one field each, and `records` due purchase records; returns seconds."""
    from govern.timeutil import utcnow

    started = time.perf_counter()
    now = utcnow()
    long_ago = now - timedelta(days=4 * 365)
    subjects = max(1, records // per_subject)
    ids = [uuid.uuid4() for _ in range(subjects)]
    raw = rt.database.engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            with cur.copy("COPY subjects (id, external_ref, jurisdiction, language, status, version, created_at, updated_at) FROM STDIN") as cp:
                for i, sid in enumerate(ids):
                    cp.write_row((sid, f"bench-{i}", "CN", "zh", "active", 1, now, now))
            with cur.copy("COPY subject_keys (subject_id, wrapped_key, master_key_version, created_at) FROM STDIN") as cp:
                for sid in ids:
                    _, wrapped, version = rt.envelope.new_data_key(sid)
                    cp.write_row((sid, wrapped, version, now))
            with cur.copy("COPY profile_fields (subject_id, name, ciphertext, collected_at, updated_at) FROM STDIN") as cp:
                for sid in ids:
                    cp.write_row((sid, "name", os.urandom(40), now, now))
            with cur.copy("COPY records (id, subject_id, type, occurred_at, ciphertext, created_at) FROM STDIN") as cp:
                for n in range(records):
                    cp.write_row((uuid.uuid4(), ids[n % subjects], "purchase", long_ago + timedelta(seconds=n), os.urandom(90), now))
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE subjects, subject_keys, profile_fields, records")
        conn.autocommit = False
    finally:
        raw.close()
    return time.perf_counter() - started


def run_govern(rt, batch_size: int) -> dict:
    from govern.identity.actor import Actor
    from govern.retention import purge, service

    # Two staff principals (four eyes compare principal ids; the OS account is neither of the two).
    maker = Actor(name="bench-maker", kind="staff", roles=("privacy_staff",), principal_id=uuid.uuid4())
    checker = Actor(name="bench-checker", kind="staff", roles=("dpo",), principal_id=uuid.uuid4())
    t0 = time.perf_counter()
    with rt.database.unit_of_work() as session:
        made = service.make_plan(session=session, policy=rt.policy, actor=maker, save=True)
        plan_id = made.plan.id
    plan_s = time.perf_counter() - t0
    with rt.database.unit_of_work() as session:
        service.approve_plan(session=session, policy=rt.policy, actor=checker, plan_id=plan_id)
    t1 = time.perf_counter()
    result = purge.purge_plan(
        database=rt.database, envelope=rt.envelope, policy=rt.policy, actor=Actor.operator(), plan_id=plan_id,
        ledgers=rt.ledgers, batch_size=batch_size,
    )
    purge_s = time.perf_counter() - t1
    with rt.database.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM records")).scalar_one()
    return {"plan_s": plan_s, "purge_s": purge_s, "purged": result.counts["records"], "left": left, "items": made.plan.items}


def run_baseline(rt, batch_size: int) -> dict:
    """The floor: the same rows deleted by id in batches of the same size, one transaction per batch, nothing else."""
    with rt.database.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM records ORDER BY subject_id, id"))]
    t0 = time.perf_counter()
    for start in range(0, len(ids), batch_size):
        with rt.database.engine.begin() as conn:
            conn.execute(text("DELETE FROM records WHERE id = ANY(:ids)"), {"ids": ids[start:start + batch_size]})
    return {"purge_s": time.perf_counter() - t0, "purged": len(ids)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("GOVERN_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--per-subject", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ensure_database(args.database_url)
    from sqlalchemy import create_engine

    engine = create_engine(args.database_url)
    reset_schema(engine)
    engine.dispose()
    home = Path(tempfile.mkdtemp(prefix="govern-bench-purge-"))
    rt = runtime_for(args.database_url, home)
    print(f"# retention purge scale: PostgreSQL, {platform.machine()} {os.cpu_count()} cores, batch {args.batch_size}, "
          f"{args.per_subject} records per subject")
    print(f"{'records':>10} {'seed s':>7} {'plan s':>7} {'purge s':>8} {'records/s':>10} {'us/record':>10} {'vs 1st':>7} "
          f"{'floor rec/s':>12} {'vs floor':>9}")
    rows = []
    for size in sizes:
        empty(rt)
        seed_s = seed(rt, size, args.per_subject)
        g = run_govern(rt, args.batch_size)
        assert g["purged"] == size and g["left"] == 0, g
        empty(rt)
        seed(rt, size, args.per_subject)
        b = run_baseline(rt, args.batch_size)
        cost = g["purge_s"] / size * 1e6
        rows.append((size, cost, size / g["purge_s"]))
        floor_rate = size / b["purge_s"]
        print(f"{size:>10,} {seed_s:>7.1f} {g['plan_s']:>7.1f} {g['purge_s']:>8.1f} {size / g['purge_s']:>10,.0f} {cost:>10.1f} "
              f"{cost / rows[0][1]:>6.2f}x {floor_rate:>12,.0f} {g['purge_s'] / b['purge_s']:>8.2f}x", flush=True)
    empty(rt)
    rt.database.dispose()
    ratio = rows[-1][1] / rows[0][1]
    ok = ratio <= BAR_RATIO and (rows[-1][0] < 1_000_000 or rows[-1][2] >= BAR_RATE)
    print(f"cost per record at {rows[-1][0]:,} is {ratio:.2f}x that at {rows[0][0]:,} (bar <= {BAR_RATIO}x); "
          f"{rows[-1][2]:,.0f} records/s at {rows[-1][0]:,} (bar >= {BAR_RATE:,} at 1,000,000): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
