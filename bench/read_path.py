"""Benchmark: the audited, decrypted, masked read of an 8-field profile through govern under gunicorn on
PostgreSQL, side by side in one run with a baseline (bench/baseline_app.py: the same profile from a plain table,
same database, same gunicorn settings, same load).

    .venv/bin/python bench/read_path.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_bench]

Bar (issue 20, raised from issue 2's 0.5): govern's throughput >= 0.7 x the baseline's. Then, in this process, the
CPU time per request of each side's WSGI call (--cpu-requests), a second figure that moves less with the load. Exit status 0 when the bar is met, 1 when not.
The database named by --database-url is WIPED (its public schema dropped) at the start of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from _load import LoadResult, free_port, run_load, start_gunicorn, wait_ready  # noqa: E402
from _seed import (  # noqa: E402
    PROFILE_FIELDS,
    bulk_seed,
    create_plain_table,
    database_name,
    ensure_database,
    keyring_namespace,
    print_progress,
    profile,
    reset_schema,
    subject_id_of,
)
from sqlalchemy import text  # noqa: E402

from govern.config import PROJECT_ROOT  # noqa: E402  (the policies of the govern being measured)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench"
BAR = 0.7  # issue 20 item 1 (issue 2 asked 0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL), help="PostgreSQL database, wiped first (default %(default)s)")
    p.add_argument("--subjects", type=int, default=10_000, help="subjects seeded (default %(default)s)")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds per side (default %(default)s)")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per side before measuring (default %(default)s)")
    p.add_argument("--max-requests", type=int, default=200_000, help="hard cap on requests per side (default %(default)s)")
    p.add_argument("--processes", type=int, default=2, help="load-generator processes (default %(default)s)")
    p.add_argument("--threads", type=int, default=4, help="keep-alive connections per load process (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers, both sides (default %(default)s: `govern serve`'s default)")
    p.add_argument("--server-threads", type=int, default=4, help="gunicorn threads per worker, both sides (default %(default)s: `govern serve`'s default)")
    p.add_argument("--role", default="privacy_staff", help="role of the reading principal (default %(default)s: all 8 fields, masked)")
    p.add_argument("--purpose", default="legal_compliance", help="X-Purpose of the reads (default %(default)s)")
    p.add_argument("--rounds", type=int, default=1, help="alternate baseline/govern this many times (default %(default)s)")
    p.add_argument("--log-level", default="INFO", help="GOVERN_LOG_LEVEL of the govern server (default %(default)s, as in production)")
    p.add_argument("--govern-app", default="govern.app:create_app()", help="gunicorn app spec of the govern side (default %(default)s)")
    p.add_argument("--govern-pythonpath", default=None, help="extra import path for --govern-app (to measure a candidate change)")
    p.add_argument("--keep-home", action="store_true", help="keep the temporary GOVERN_HOME and server logs")
    p.add_argument("--force", action="store_true", help="allow a database whose name does not contain 'bench'")
    p.add_argument("--cpu-requests", type=int, default=2000, help="then, in this process, CPU time per request of each app's WSGI call over this many reads per round, no gunicorn and no client (0: skip; default %(default)s)")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    return p.parse_args(argv)


def _govern(env: dict[str, str], *args: str) -> dict:
    exe = Path(sys.executable).with_name("govern")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from govern.cli import main; main()"]
    out = subprocess.run([*cmd, *args, "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"govern {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def _row(name: str, r: LoadResult) -> str:
    return f"  {name:<10} {r.rps:>9.1f} {r.pct(50):>9.2f} {r.pct(99):>9.2f} {r.requests:>9} {r.errors:>7}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("read_path.py measures PostgreSQL: pass a postgresql+psycopg:// URL")
    if "bench" not in database_name(url) and not args.force:
        sys.exit(f"refusing to wipe database '{database_name(url)}': its name has no 'bench' in it (use --force)")

    home = Path(tempfile.mkdtemp(prefix="govern-bench-home-"))
    env = {**os.environ, "GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": url, "GOVERN_POLICIES": str(PROJECT_ROOT / "policies"),
           "GOVERN_LOG_LEVEL": args.log_level, "BENCH_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    for key in ("GOVERN_DEK_CACHE_SIZE", "GOVERN_DEK_CACHE_SECONDS"):
        env.pop(key, None)  # production defaults
    servers = []
    try:
        print(f"read_path: load average {os.getloadavg()[0]:.2f} · {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {database_name(url)} · govern from {PROJECT_ROOT}")
        ensure_database(url)

        # --- a fresh govern: its own home, keyring, schema and principal -----------------------------
        from govern.app import build_runtime
        from govern.config import Settings
        from govern.db import make_engine

        engine = make_engine(url)
        reset_schema(engine)
        init = _govern(env, "init")
        print(f"  govern init: home {init['home']}, database at {init['migrated_to']}")
        principal = _govern(env, "principals", "create", "--name", "bench-reader", "--role", args.role, "--kind", "staff")
        api_key = principal["api_key"]
        print(f"  principal bench-reader ({args.role}) created; reads with X-Purpose: {args.purpose}")
        create_plain_table(engine)

        settings = Settings.from_env(env)
        runtime = build_runtime(settings)
        print(f"  seeding {args.subjects:,} subjects (8 encrypted fields each, per-subject data keys) and the plain baseline table")
        seeded = bulk_seed(engine=engine, policy=runtime.policy, envelope=runtime.envelope, start=0, stop=args.subjects,
                           batch_size=2000, with_audit=True, with_plain=True, progress=print_progress)
        print(f"  seeded in {seeded.seconds:.1f}s")
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        namespace = keyring_namespace(runtime.envelope)
        ids = [subject_id_of(i, namespace) for i in range(args.subjects)]
        runtime.database.dispose()

        # --- both servers, same gunicorn settings ----------------------------------------------------
        headers = {"Authorization": f"Bearer {api_key}", "X-Purpose": args.purpose}
        port_g, port_b = free_port(), free_port()
        common = {"workers": args.workers, "threads": args.server_threads, "env": env, "log_dir": home}
        servers.append(start_gunicorn(name="govern", app_spec=args.govern_app, port=port_g, pythonpath=args.govern_pythonpath, **common))
        servers.append(start_gunicorn(name="baseline", app_spec="baseline_app:create_app()", port=port_b, pythonpath=str(BENCH_DIR), **common))
        govern_srv, baseline_srv = servers
        probe = f"/api/v1/subjects/{ids[0]}"
        wait_ready(govern_srv, probe, headers)
        wait_ready(baseline_srv, probe)
        _check_same_profile(port_g, port_b, probe, headers, profile(0))

        paths = [f"/api/v1/subjects/{sid}" for sid in ids]
        concurrency = args.processes * args.threads
        print(f"  load: {concurrency} keep-alive connections ({args.processes} processes x {args.threads} threads), "
              f"{args.warmup:g}s warm-up + {args.duration:g}s measured per side, at most {args.max_requests:,} requests; "
              f"gunicorn --workers {args.workers} --threads {args.server_threads} for both")

        results: dict[str, list[LoadResult]] = {"baseline": [], "govern": []}
        cpu: dict[str, float] = {"baseline": 0.0, "govern": 0.0}
        audited = 0
        for _ in range(args.rounds):
            for name, srv, hdrs in (("baseline", baseline_srv, {}), ("govern", govern_srv, headers)):
                run_load(port=srv.port, paths=paths, headers=hdrs, duration=args.warmup, max_requests=args.max_requests,
                         processes=args.processes, threads=args.threads, seed=7)
                before_audit = _read_events(engine) if name == "govern" else 0
                cpu0 = srv.cpu_seconds()
                r = run_load(port=srv.port, paths=paths, headers=hdrs, duration=args.duration, max_requests=args.max_requests,
                             processes=args.processes, threads=args.threads, seed=11)
                cpu[name] += srv.cpu_seconds() - cpu0
                if name == "govern":
                    audited += _read_events(engine) - before_audit
                results[name].append(r)
                print(f"    {name:<9} {r.rps:8.1f} req/s  p50 {r.pct(50):6.2f} ms  p99 {r.pct(99):6.2f} ms  "
                      f"({r.requests} ok, {r.errors} errors, statuses {r.statuses})")

        base, gov = _merge(results["baseline"]), _merge(results["govern"])
        ratio = gov.rps / base.rps if base.rps else 0.0
        print()
        print(f"  {'side':<10} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'requests':>9} {'errors':>7}")
        print(_row("baseline", base))
        print(_row("govern", gov))
        print(f"  server CPU per request: baseline {1000 * cpu['baseline'] / max(base.requests, 1):.2f} ms, govern {1000 * cpu['govern'] / max(gov.requests, 1):.2f} ms")
        print(f"  audit events written during govern's measured runs: {audited} for {gov.requests} reads ({gov.errors} errors)")
        in_process = _in_process_cpu(env, home, paths, headers, args.cpu_requests, max(args.rounds, 1)) if args.cpu_requests > 0 else None
        if in_process:
            print(f"  in-process CPU per request (WSGI call, no gunicorn, no client; best of {max(args.rounds, 1)}): baseline {in_process['baseline_ms']:.3f} ms, "
                  f"govern {in_process['govern_ms']:.3f} ms, baseline/govern {in_process['ratio']:.2f}")
        verdict = "PASS" if ratio >= BAR and gov.errors == 0 and audited == gov.requests else "FAIL"
        print(f"  machine: {os.cpu_count()} cores shared by client, both servers and PostgreSQL; load average now {os.getloadavg()[0]:.2f}")
        print(f"  ratio govern/baseline throughput: {ratio:.2f}x  (bar >= {BAR}x)  {verdict}")
        if args.json:
            print(json.dumps({
                "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                "settings": {k: getattr(args, k) for k in ("subjects", "duration", "warmup", "max_requests", "processes", "threads", "workers", "server_threads", "role", "purpose", "rounds")},
                "baseline": _summary(base, cpu["baseline"]), "govern": {**_summary(gov, cpu["govern"]), "audit_events": audited},
                "ratio": round(ratio, 3), "bar": BAR, "verdict": verdict, "in_process_cpu": in_process,
            }))
        return 0 if verdict == "PASS" else 1
    finally:
        for srv in servers:
            srv.stop()
        if args.keep_home:
            print(f"  kept GOVERN_HOME and server logs in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _in_process_cpu(env: dict[str, str], home: Path, paths: list[str], headers: dict[str, str], n: int, rounds: int) -> dict:
    """CPU seconds of this process per read, each app's WSGI callable called directly (the same random paths for
    both): a figure that moves less with the machine's load than requests per second, and that leaves out the load
    generator, gunicorn and PostgreSQL's own time. govern's per-request log lines go to a file, as in production."""
    import contextlib
    import random
    import time

    import baseline_app
    from werkzeug.test import EnvironBuilder

    from govern.app import create_app
    from govern.config import Settings

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # baseline_app reads BENCH_DATABASE_URL from the environment
    try:
        with open(home / "in_process.log", "w") as sink, contextlib.redirect_stdout(sink):
            apps = {"baseline": (baseline_app.create_app(), {}), "govern": (create_app(Settings.from_env(env)), headers)}
            environs = {name: [EnvironBuilder(path=path, headers=hdrs).get_environ() for path in paths[:1000]] for name, (_, hdrs) in apps.items()}

            def run(name: str, count: int) -> float:
                app, rng = apps[name][0], random.Random(3)
                started = time.process_time()
                statuses: list[str] = []

                def start_response(status: str, _headers, _exc_info=None) -> None:
                    statuses.append(status)

                for _ in range(count):
                    body = app(dict(environs[name][rng.randrange(len(environs[name]))]), start_response)
                    b"".join(body)
                    getattr(body, "close", lambda: None)()
                failed = sum(not s.startswith("200") for s in statuses)
                if failed:
                    sys.exit(f"in-process reads failed on the {name} side: {failed} of {count}")
                return (time.process_time() - started) / count

            for name in apps:
                run(name, min(n, 300))  # warm-up: pools, prepared statements, caches
            seen: dict[str, list[float]] = {name: [] for name in apps}
            for _ in range(rounds):  # alternating, as the load runs do
                for name in apps:
                    seen[name].append(run(name, n))
            best = {name: min(times) for name, times in seen.items()}
            apps["govern"][0].extensions["govern"].database.dispose()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"baseline_ms": round(best["baseline"] * 1000, 3), "govern_ms": round(best["govern"] * 1000, 3),
            "ratio": round(best["baseline"] / best["govern"], 3), "requests_per_round": n, "rounds": rounds}


def _read_events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'subjects:profile:read' AND outcome = 'allowed'")).scalar_one()


def _check_same_profile(port_g: int, port_b: int, path: str, headers: dict[str, str], plain: dict[str, str]) -> None:
    """Both sides serve the same subject and the same 8 field names; govern's values are decrypted (then masked
    as the role sees them) and the baseline's are the plaintext."""
    import http.client

    def get(port: int, hdrs: dict[str, str]) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers=hdrs)
        body = json.loads(conn.getresponse().read())
        conn.close()
        return body

    g, b = get(port_g, headers), get(port_b, {})
    if set(g["fields"]) != set(PROFILE_FIELDS) or set(b["fields"]) != set(PROFILE_FIELDS) or g["id"] != b["id"]:
        sys.exit(f"the two sides do not serve the same 8-field profile: govern {sorted(g['fields'])}, baseline {sorted(b['fields'])}")
    if b["fields"] != plain:
        sys.exit("the baseline does not serve the seeded values")
    masked = sum(1 for n in PROFILE_FIELDS if g["fields"][n] != plain[n])
    print(f"  both sides serve the same 8-field profile; govern returns {masked} of 8 fields masked for this role")


def _merge(parts: list[LoadResult]) -> LoadResult:
    out = LoadResult()
    for r in parts:
        out.requests += r.requests
        out.errors += r.errors
        out.seconds += r.seconds
        out.latencies_ms.extend(r.latencies_ms)
        out.client_cpu_seconds += r.client_cpu_seconds
        for k, v in r.statuses.items():
            out.statuses[k] = out.statuses.get(k, 0) + v
    return out


def _summary(r: LoadResult, server_cpu: float) -> dict:
    return {"rps": round(r.rps, 1), "p50_ms": round(r.pct(50), 3), "p99_ms": round(r.pct(99), 3), "requests": r.requests, "errors": r.errors,
            "seconds": round(r.seconds, 2), "server_cpu_ms_per_request": round(1000 * server_cpu / max(r.requests, 1), 3),
            "client_cpu_seconds": round(r.client_cpu_seconds, 2)}


if __name__ == "__main__":
    sys.exit(main())
