"""Benchmark: erasure is O(1) until unreadable (issue 5). Completes an erasure request (`requests.flows.complete` in a
unit of work, commit included: data key destroyed, blind-indexed fields deleted, tombstone, certificate, audit) for a
subject with 10 records and for one with 100,000, and checks after each that the subject is unreadable (no key, no
field, no blind-index entry, a tombstone, a read answers 410). Then the rows left behind (unreadable ciphertext) are
deleted by the sweep (`govern requests sweep-erasures`: batches, each committed and audited) and its rate is printed.

Measured in the same run, each on a fresh subject of the large size: the same shredding with every row deleted in the
key's transaction (what unreadability would wait for without the sweep), and the floor of the sweep — a bare DELETE
of the same batches, each committed, without audit.

    .venv/bin/python bench/erasure.py                                  # PostgreSQL (bench_erasure) and SQLite
    .venv/bin/python bench/erasure.py --databases postgresql --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_erasure_2
    .venv/bin/python bench/erasure.py --rounds 5 --large 100000 --batch-size 5000

Bar (issue 5): time to unreadable for 100,000 records within 2x that for 10 (medians of --rounds pairs, on every
database run). Exit status 0 when met, 1 when not. The records are communications of a CN subject, which no retention
rule keeps on erasure, so the whole subject is shredded. Each database is the benchmark's own: wiped first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import _dsr  # noqa: E402

BAR_RATIO = 2.0
RECORD_TYPE = "communication"  # not kept on erasure (retention.yaml): the whole subject is shredded


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _dsr.argument_parser(__doc__, "BENCH_ERASURE_DATABASE_URL", "bench_erasure")
    p.add_argument("--small", type=int, default=10)
    p.add_argument("--large", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3, help="erasures of each size; medians are compared (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=5000, help="sweep batch (default %(default)s)")
    return p.parse_args(argv)


def erase(rt, records: int) -> tuple[float, int]:
    """Seeds a subject, files and verifies its erasure, then times its completion; returns (seconds, rows left)."""
    from sqlalchemy import func, select

    from govern.access import reads
    from govern.crypto.models import SubjectKey
    from govern.errors import Problem
    from govern.subject_requests import flows
    from govern.subjects import erasure
    from govern.subjects.models import ProfileField, Record

    sid, _ = _dsr.make_subject(rt, records=records, record_type=RECORD_TYPE)
    rid = _dsr.verified_request(rt, sid, "erasure")
    t0 = time.perf_counter()
    with rt.database.unit_of_work() as session:
        req = flows.complete(session=session, policy=rt.policy, envelope=rt.envelope, actor=_dsr.staff_actor(), request_id=rid,
                             ledgers=rt.ledgers)
    seconds = time.perf_counter() - t0
    assert req.state == "completed" and req.response["certificate"]["subject_status"] == "erased", req.response
    with rt.database.unit_of_work() as session:
        assert session.get(SubjectKey, sid) is None, "the data key survived"
        assert session.scalar(select(func.count()).select_from(ProfileField).where(ProfileField.subject_id == sid)) == 0, "fields (blind indexes) survived"
        assert erasure.is_erased(session=session, subject_id=sid), "no tombstone"
        left = session.scalar(select(func.count()).select_from(Record).where(Record.subject_id == sid))
        try:
            reads.read(session=session, policy=rt.policy, envelope=rt.envelope, actor=_dsr.crm_actor(), subject_id=sid, purpose="order_fulfilment")
            raise AssertionError("an erased subject was read")
        except Problem as exc:
            assert exc.status == 410, exc
    return seconds, left


def sweep(rt, batch_size: int) -> tuple[int, float]:
    from govern.identity.actor import Actor
    from govern.subjects import erasure

    result = erasure.sweep(database=rt.database, actor=Actor.operator(), batch_size=batch_size)
    with rt.database.unit_of_work() as session:
        assert erasure.pending_records(session=session) == 0
    return result.records, result.seconds


def floor_batched(rt, records: int, batch_size: int) -> float:
    """The floor of the sweep: the same rows deleted in batches of the same size, each committed; no audit, no lock."""
    from sqlalchemy import delete, select

    from govern.subjects.models import Record

    sid, _ = _dsr.make_subject(rt, records=records, record_type=RECORD_TYPE)
    t0 = time.perf_counter()
    done = 0
    while True:
        with rt.database.engine.begin() as conn:
            n = conn.execute(delete(Record).where(Record.id.in_(select(Record.id).where(Record.subject_id == sid).limit(batch_size)))).rowcount
        done += n
        if n < batch_size:
            break
    assert done == records
    return time.perf_counter() - t0


def one_transaction(rt, records: int) -> float:
    """The order this benchmark guards against: the key and every row deleted in one transaction (`shred` told to
    delete them all inline), commit included — unreadability then waits on the number of rows."""
    from govern.identity.actor import Actor
    from govern.subjects import erasure

    sid, _ = _dsr.make_subject(rt, records=records, record_type=RECORD_TYPE)
    t0 = time.perf_counter()
    with rt.database.unit_of_work() as session:
        result = erasure.shred(session=session, envelope=rt.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request",
                               inline_records=records)
    assert result.records_deleted == {RECORD_TYPE: records}
    return time.perf_counter() - t0


def run_on(url: str, args) -> dict:
    label = _dsr.prepare_database(url, force=args.force)
    rt = _dsr.runtime_for(url)
    print(f"\n[{label}]")
    print(f"  {'round':>5} {'records':>9} {'seed s':>7} {'to unreadable ms':>17} {'rows left':>10} {'sweep s':>8} {'sweep rec/s':>12}")
    small, large, rates = [], [], []
    for r in range(1, args.rounds + 1):
        order = (args.small, args.large) if r % 2 else (args.large, args.small)  # alternate, so drift hits both sizes alike
        for n in order:
            t0 = time.perf_counter()
            seconds, left = erase(rt, n)
            seed = time.perf_counter() - t0 - seconds
            swept, sweep_s = sweep(rt, args.batch_size)
            assert swept == left, (swept, left)
            rate = swept / sweep_s if swept else 0.0
            (small if n == args.small else large).append(seconds)
            if n == args.large:
                rates.append(rate)
            print(f"  {r:>5} {n:>9,} {seed:>7.1f} {seconds * 1000:>17.1f} {left:>10,} {sweep_s:>8.2f} {rate:>12,.0f}" if swept else
                  f"  {r:>5} {n:>9,} {seed:>7.1f} {seconds * 1000:>17.1f} {left:>10,} {'—':>8} {'—':>12}", flush=True)
    floor = floor_batched(rt, args.large, args.batch_size)
    together = one_transaction(rt, args.large)
    rt.database.dispose()
    ms_small, ms_large = _dsr.median(small) * 1000, _dsr.median(large) * 1000
    ratio = ms_large / ms_small
    rate = _dsr.median(rates)
    ok = ratio <= BAR_RATIO
    print(f"  time to unreadable, median of {args.rounds}: {args.small:,} records {ms_small:.1f} ms, {args.large:,} records {ms_large:.1f} ms "
          f"(min {min(small) * 1000:.1f} / {min(large) * 1000:.1f} ms): ratio {ratio:.2f}x (bar <= {BAR_RATIO}x): {'PASS' if ok else 'FAIL'}")
    print(f"  rows deleted in the same transaction as the key instead (shred of {args.large:,} records, commit included): "
          f"{together * 1000:.0f} ms = {together * 1000 / ms_large:.1f}x the time to unreadable above")
    print(f"  batched deletion afterwards (sweep, batches of {args.batch_size:,}, each committed and audited): median {rate:,.0f} records/s; "
          f"floor, bare DELETE of the same batches: {args.large / floor:,.0f} records/s (sweep at {rate * floor / args.large:.2f}x the floor)")
    return {"database": label, "small_ms": ms_small, "large_ms": ms_large, "ratio": ratio, "sweep_rate": rate, "floor_s": floor,
            "one_transaction_s": together, "ok": ok}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(_dsr.banner("erasure", f"{args.small:,} vs {args.large:,} {RECORD_TYPE} records, {args.rounds} rounds"))
    results = [run_on(url, args) for url in _dsr.database_urls(args.databases, args.pg_url, "bench_erasure")]
    ok = all(r["ok"] for r in results)
    ratios = ", ".join(f"{r['database'].split()[0]} {r['ratio']:.2f}x" for r in results)
    print(f"\nbar: {ratios} (<= {BAR_RATIO}x) — "
          f"{'PASS' if ok else 'FAIL'}; load average now {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
