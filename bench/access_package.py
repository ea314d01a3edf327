"""Benchmark: the access package (issue 5) of a subject with 10,000 records — every field and record decrypted, the
JSON and CSV files, the summary in the subject's language, the manifest, the zip, its SHA-256 in the audit log —
through `requests.flows.package` in a unit of work (commit included) and through `GET /api/v1/requests/{id}/package`
(Flask test client in process: authentication, the route, the response of the zip's bytes).

Baseline, measured in the same run on the same subject: the floor of any package — the subject's 10,000 record rows
selected and decrypted under one unwrapped data key, nothing else.

    .venv/bin/python bench/access_package.py                   # PostgreSQL (bench_access_package) and SQLite
    .venv/bin/python bench/access_package.py --databases sqlite --records 10000 --rounds 5

Bar (issue 5): under 3 s for 10,000 records (the median over --rounds, through the API, on every database run).
Exit status 0 when met, 1 when not. Each database is the benchmark's own: wiped first.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import zipfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import _dsr  # noqa: E402

BAR_SECONDS = 3.0
RECORD_TYPE = "purchase"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _dsr.argument_parser(__doc__, "BENCH_PACKAGE_DATABASE_URL", "bench_access_package")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    return p.parse_args(argv)


def floor(rt, sid) -> float:
    import json

    from sqlalchemy import select

    from govern.crypto.models import SubjectKey
    from govern.subjects.models import Record

    t0 = time.perf_counter()
    with rt.database.unit_of_work() as session:
        dek = rt.envelope.unwrap(sid, session.get(SubjectKey, sid).wrapped_key)
        rows = session.execute(select(Record.id, Record.ciphertext).where(Record.subject_id == sid)).all()
        payloads = [json.loads(rt.envelope.open(dek, sid, f"record:{rid}", blob)) for rid, blob in rows]
    assert len(payloads) > 0
    return time.perf_counter() - t0


def run_on(url: str, args) -> dict:
    from govern.app import create_app
    from govern.identity import service as identity
    from govern.identity.actor import Actor
    from govern.subject_requests import flows

    label = _dsr.prepare_database(url, force=args.force)
    rt = _dsr.runtime_for(url)
    sid, seed_s = _dsr.make_subject(rt, records=args.records, record_type=RECORD_TYPE, language="zh")
    rid = _dsr.verified_request(rt, sid, "access")
    with rt.database.unit_of_work() as session:
        # The package is downloaded by privacy staff with their own credential (a CRM service hands the subject a token).
        key = identity.create(session=session, policy=rt.policy, actor=Actor.operator(), name=f"{_dsr.ACTOR_NAME}-staff", roles=["privacy_staff"]).api_key
    staff = Actor(name=f"{_dsr.ACTOR_NAME}-staff", kind="staff", roles=("privacy_staff",))
    client = create_app(runtime=rt).test_client()
    print(f"\n[{label}] subject with {args.records:,} {RECORD_TYPE} records (seeded in {seed_s:.1f} s)")
    service_s, api_s, floor_s, size = [], [], [], 0
    for r in range(args.rounds + 1):  # the first round warms caches and is not counted
        t0 = time.perf_counter()
        with rt.database.unit_of_work() as session:
            pkg = flows.package(session=session, policy=rt.policy, envelope=rt.envelope, actor=staff, request_id=rid)
        s = time.perf_counter() - t0
        t0 = time.perf_counter()
        resp = client.get(f"/api/v1/requests/{rid}/package", headers={"Authorization": f"Bearer {key}"})
        a = time.perf_counter() - t0
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        body = resp.get_data()
        f = floor(rt, sid)
        if r == 0:
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                names = z.namelist()
                import json

                data = json.loads(z.read("data.json"))
            assert len(data["records"]) == args.records and "summary.zh.txt" in names, names
            size = len(body)
            print(f"  package: {len(body) / 1e6:.1f} MB zip, {len(names)} files ({', '.join(names)}); service {s:.2f} s, API {a:.2f} s (warm-up)")
            print(f"  {'round':>5} {'service s':>10} {'API s':>7} {'floor s':>8} {'API/floor':>10}")
            continue
        service_s.append(s)
        api_s.append(a)
        floor_s.append(f)
        print(f"  {r:>5} {s:>10.2f} {a:>7.2f} {f:>8.2f} {a / f:>9.1f}x", flush=True)
        assert pkg.sha256 and len(pkg.content) > 0
    rt.database.dispose()
    med_api, med_service, med_floor = _dsr.median(api_s), _dsr.median(service_s), _dsr.median(floor_s)
    ok = med_api < BAR_SECONDS
    print(f"  median of {args.rounds}: API {med_api:.2f} s, service {med_service:.2f} s, floor (select + decrypt only) {med_floor:.2f} s; "
          f"API/floor {med_api / med_floor:.1f}x; {args.records / med_api:,.0f} records/s through the API (bar < {BAR_SECONDS:.0f} s): {'PASS' if ok else 'FAIL'}")
    return {"database": label, "api_s": med_api, "service_s": med_service, "floor_s": med_floor, "bytes": size, "ok": ok}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(_dsr.banner("access_package", f"{args.records:,} records, {args.rounds} rounds"))
    results = [run_on(url, args) for url in _dsr.database_urls(args.databases, args.pg_url, "bench_access_package")]
    ok = all(r["ok"] for r in results)
    medians = ", ".join(f"{r['database'].split()[0]} {r['api_s']:.2f} s" for r in results)
    print(f"\nbar: {medians} (< {BAR_SECONDS:.0f} s) — {'PASS' if ok else 'FAIL'}; load average now {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
