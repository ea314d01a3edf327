"""Benchmark: the audited, decrypted, masked read of an 8-field profile through govern under gunicorn on
PostgreSQL, side by side in one run with a baseline (bench/baseline_app.py: the same profile from a plain table,
same database, same gunicorn settings, same load).

    .venv/bin/python bench/read_path.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_bench]
    .venv/bin/python bench/read_path.py --suite commercial_cn          # SM4-GCM, HMAC-SM3 (policies/crypto.yaml)
    .venv/bin/python bench/read_path.py --provider pkcs11              # master keys in a SoftHSM2 token (GOVERN_KEK)
    .venv/bin/python bench/read_path.py --compare-suites               # international/file, commercial_cn/file and
                                                                       # international/pkcs11 in one run, with ratios

Bar (issue 20, raised from issue 2's 0.5): govern's throughput >= 0.7 x the baseline's, for every govern side
measured. Then, in this process, the CPU time per request of each side's WSGI call (--cpu-requests), a second figure
that moves less with the load. With the PKCS#11 provider it counts the calls sent to the token per 1,000 reads
(issue 21 item 3: the data-key cache keeps the token off the read path). Exit status 0 when the bar is met, 1 when not.
The database named by --database-url is WIPED (its public schema dropped) at the start of every run; with
--compare-suites so are <name>_cn and <name>_pkcs11, one database per govern side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import _softhsm  # noqa: E402
import yaml  # noqa: E402
from _load import LoadResult, Server, free_port, run_load, start_gunicorn, wait_ready  # noqa: E402
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
from sqlalchemy.engine import make_url  # noqa: E402

from govern.config import PROJECT_ROOT  # noqa: E402  (the policies of the govern being measured)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench"
BAR = 0.7  # issue 20 item 1 (issue 2 asked 0.5)
SUITES, PROVIDERS = ("international", "commercial_cn"), ("file", "pkcs11")
# --compare-suites: the first is the reference every other side's ratio is to (issue 21 item 3).
COMPARED = (("international", "file"), ("commercial_cn", "file"), ("international", "pkcs11"))
REFUSED = ("commercial_cn with the PKCS#11 provider is refused by design (govern.crypto.hsm, `suite_unsupported`): SM4 data keys "
           "would have to be wrapped with SM4 inside the token, which SoftHSM2 lacks and HSMs offer only through vendor mechanisms "
           "govern has not been tested against")
DB_SUFFIX = {("international", "file"): "", ("commercial_cn", "file"): "_cn", ("international", "pkcs11"): "_pkcs11"}
TOKEN, PIN, KEY_LABEL = "govern-bench", "246810", "bench-kek"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL), help="PostgreSQL database, wiped first (default %(default)s)")
    p.add_argument("--suite", choices=SUITES, default="international", help="cryptography suite of policies/crypto.yaml for the govern side (default %(default)s)")
    p.add_argument("--provider", choices=PROVIDERS, default="file", help="master-key provider: the keyring file, or a SoftHSM2 token through PKCS#11 (GOVERN_KEK=pkcs11:…) (default %(default)s)")
    p.add_argument("--compare-suites", action="store_true", help="measure international/file (the reference), commercial_cn/file and international/pkcs11 in one run, "
                                                                 "alternating with the baseline, each with its ratio to the reference (commercial_cn/pkcs11 is refused by design)")
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
    args = p.parse_args(argv)
    if args.compare_suites and (args.suite, args.provider) != ("international", "file"):
        p.error("--compare-suites measures every suite and provider itself: leave out --suite and --provider")
    if (args.suite, args.provider) == ("commercial_cn", "pkcs11"):
        p.error(REFUSED)
    return args


@dataclass
class Side:
    """One govern configuration measured: its suite and master-key provider, database, GOVERN_HOME and server."""

    suite: str
    provider: str
    url: str
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    ids: list[uuid.UUID] = field(default_factory=list)
    api_key: str = ""
    server: Server | None = None
    results: list[LoadResult] = field(default_factory=list)
    cpu: float = 0.0
    audited: int = 0
    token_calls: float = 0.0  # sent to the PKCS#11 token during the measured runs (all workers, from /metrics)

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.provider}"

    @property
    def paths(self) -> list[str]:
        return [f"/api/v1/subjects/{sid}" for sid in self.ids]


def sides_of(args: argparse.Namespace, run_dir: Path) -> list[Side]:
    """The govern sides of this run; with --compare-suites one database each (the reference keeps --database-url)."""
    chosen = COMPARED if args.compare_suites else ((args.suite, args.provider),)
    url = make_url(args.database_url)
    out = []
    for suite, provider in chosen:
        side_url = args.database_url if not args.compare_suites else url.set(database=(url.database or "") + DB_SUFFIX[(suite, provider)]).render_as_string(hide_password=False)
        out.append(Side(suite=suite, provider=provider, url=side_url, home=run_dir / f"home-{suite}-{provider}"))
    return out


def _govern(env: dict[str, str], *args: str) -> dict:
    exe = Path(sys.executable).with_name("govern")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from govern.cli import main; main()"]
    out = subprocess.run([*cmd, *args, "--json"], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"govern {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def _row(name: str, r: LoadResult) -> str:
    return f"  {name:<22} {r.rps:>9.1f} {r.pct(50):>9.2f} {r.pct(99):>9.2f} {r.requests:>9} {r.errors:>7}"


def _policies(side: Side) -> Path:
    """The policies of the govern measured, with policies/crypto.yaml naming the side's suite."""
    where = side.home / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", where)
    doc = yaml.safe_load((where / "crypto.yaml").read_text())
    doc["crypto"]["suite"] = side.suite
    (where / "crypto.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return where


def prepare(side: Side, args: argparse.Namespace, *, with_plain: bool, softhsm_dir: Path | None, metrics: bool) -> None:
    """Wipes the side's database, runs `govern init` in a GOVERN_HOME of its own (a key label in the token with
    pkcs11), creates the reading principal and seeds the subjects (and, for the baseline's database, the plain table)."""
    from govern.config import Settings
    from govern.db import make_engine
    from govern.runtime import build_runtime

    side.home.mkdir(mode=0o700)
    side.env = {**os.environ, "GOVERN_HOME": str(side.home), "GOVERN_DATABASE_URL": side.url, "GOVERN_POLICIES": str(_policies(side)),
                "GOVERN_LOG_LEVEL": args.log_level, "BENCH_DATABASE_URL": side.url, "PYTHONUNBUFFERED": "1"}
    for key in ("GOVERN_DEK_CACHE_SIZE", "GOVERN_DEK_CACHE_SECONDS", "GOVERN_KEK", "PROMETHEUS_MULTIPROC_DIR"):
        side.env.pop(key, None)  # production defaults
    if side.provider == "pkcs11":
        assert softhsm_dir is not None
        side.env["GOVERN_KEK"] = _softhsm.kek_uri(softhsm_dir, token=TOKEN, label=f"{KEY_LABEL}-{uuid.uuid4().hex[:6]}")
    if metrics:  # every worker's counters in files, as `govern serve` does (govern/server.py): /metrics adds them up
        (side.home / "metrics").mkdir()
        side.env["PROMETHEUS_MULTIPROC_DIR"] = str(side.home / "metrics")
    ensure_database(side.url)
    engine = make_engine(side.url)
    reset_schema(engine)
    init = _govern(side.env, "init")
    print(f"  [{side.name}] {database_name(side.url)}: govern init, home {init['home']}, database at {init['migrated_to']}")
    side.api_key = _govern(side.env, "principals", "create", "--name", "bench-reader", "--role", args.role, "--kind", "staff")["api_key"]
    if with_plain:
        create_plain_table(engine)
    runtime = build_runtime(Settings.from_env(side.env))
    try:
        print(f"  [{side.name}] seeding {args.subjects:,} subjects (8 encrypted fields each, per-subject data keys)" + (" and the plain baseline table" if with_plain else ""))
        seeded = bulk_seed(engine=engine, policy=runtime.policy, envelope=runtime.envelope, start=0, stop=args.subjects,
                           batch_size=2000, with_audit=True, with_plain=with_plain, progress=print_progress)
        print(f"  [{side.name}] seeded in {seeded.seconds:.1f}s")
        namespace = keyring_namespace(runtime.envelope)
    finally:
        runtime.database.dispose()
        getattr(runtime.keyring, "close", lambda: None)()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    side.ids = [subject_id_of(i, namespace) for i in range(args.subjects)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    if not url.startswith("postgresql"):
        sys.exit("read_path.py measures PostgreSQL: pass a postgresql+psycopg:// URL")
    if "bench" not in database_name(url) and not args.force:
        sys.exit(f"refusing to wipe database '{database_name(url)}': its name has no 'bench' in it (use --force)")

    run_dir = Path(tempfile.mkdtemp(prefix="govern-bench-home-"))
    sides = sides_of(args, run_dir)
    tokens = any(s.provider == "pkcs11" for s in sides)
    softhsm_dir = None
    if tokens:  # before anything loads the PKCS#11 module in this process
        softhsm_dir = run_dir / "softhsm"
        _softhsm.configure(softhsm_dir)
        _softhsm.init_token(softhsm_dir, TOKEN, PIN)
    servers: list[Server] = []
    try:
        print(f"read_path: load average {os.getloadavg()[0]:.2f} · {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
              f"{', '.join(database_name(s.url) for s in sides)} · govern from {PROJECT_ROOT}")
        print(f"  govern sides: {', '.join(s.name for s in sides)}" + (f"; commercial_cn/pkcs11 not measured: {REFUSED}" if args.compare_suites else ""))
        if tokens:
            print("  every govern side writes its Prometheus counters to files, as `govern serve` does (PROMETHEUS_MULTIPROC_DIR), "
                  "so that /metrics counts the token calls of all workers")

        # --- fresh govern installations: their own home, keys, schema and principal; the baseline beside the first
        for i, side in enumerate(sides):
            prepare(side, args, with_plain=i == 0, softhsm_dir=softhsm_dir, metrics=tokens)
        reference = sides[0]
        base_env = reference.env
        baseline_paths = reference.paths

        # --- the servers, same gunicorn settings ----------------------------------------------------
        common = {"workers": args.workers, "threads": args.server_threads}
        baseline_srv = start_gunicorn(name="baseline", app_spec="baseline_app:create_app()", port=free_port(), pythonpath=str(BENCH_DIR),
                                      env=base_env, log_dir=run_dir, **common)
        servers.append(baseline_srv)
        for side in sides:
            side.server = start_gunicorn(name=f"govern-{side.suite}-{side.provider}", app_spec=args.govern_app, port=free_port(),
                                         pythonpath=args.govern_pythonpath, env=side.env, log_dir=side.home, **common)
            servers.append(side.server)
        wait_ready(baseline_srv, baseline_paths[0])
        for side in sides:
            assert side.server is not None
            wait_ready(side.server, side.paths[0], _headers(side, args))
            _check_same_profile(side, baseline_srv.port, baseline_paths[0], _headers(side, args), profile(0))

        concurrency = args.processes * args.threads
        print(f"  load: {concurrency} keep-alive connections ({args.processes} processes x {args.threads} threads), "
              f"{args.warmup:g}s warm-up + {args.duration:g}s measured per side, at most {args.max_requests:,} requests; "
              f"gunicorn --workers {args.workers} --threads {args.server_threads} for every side")

        baseline: list[LoadResult] = []
        baseline_cpu = 0.0
        for _ in range(args.rounds):  # baseline, then each govern side, alternating
            _warm(baseline_srv, baseline_paths, {}, args)
            baseline_cpu += _measure("baseline", baseline_srv, baseline_paths, {}, args, baseline)
            for side in sides:
                assert side.server is not None
                _warm(side.server, side.paths, _headers(side, args), args)
                before_audit = _read_events(side.url)
                before_calls = _token_calls(side.server.port) if side.provider == "pkcs11" else 0.0
                side.cpu += _measure(side.name, side.server, side.paths, _headers(side, args), args, side.results)
                side.audited += _read_events(side.url) - before_audit
                if side.provider == "pkcs11":
                    side.token_calls += _token_calls(side.server.port) - before_calls

        base = _merge(baseline)
        merged = {side.name: _merge(side.results) for side in sides}
        ref = merged[reference.name]
        print()
        print(f"  {'side':<22} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'requests':>9} {'errors':>7}  {'/baseline':>9} {'/' + reference.name:>20}")
        print(_row("baseline", base))
        for side in sides:
            r = merged[side.name]
            print(_row(side.name, r) + f"  {_ratio(r.rps, base.rps):>8.2f}x {_ratio(r.rps, ref.rps):>19.2f}x")
        print(f"  server CPU per request: baseline {_per_request_ms(baseline_cpu, base):.2f} ms, "
              + ", ".join(f"{s.name} {_per_request_ms(s.cpu, merged[s.name]):.2f} ms" for s in sides))
        for side in sides:
            print(f"  audit events written during {side.name}'s measured runs: {side.audited} for {merged[side.name].requests} reads ({merged[side.name].errors} errors)")
            if side.provider == "pkcs11":
                print(f"  PKCS#11 token calls during {side.name}'s measured runs (every worker, govern_kek_token_calls_total): {side.token_calls:.0f} "
                      f"for {merged[side.name].requests} reads = {_per_1000(side.token_calls, merged[side.name].requests):.1f} per 1,000 reads "
                      f"({args.subjects:,} subjects read at random, {args.workers} workers each with its own data-key cache: each call is a worker's first read of a subject)")
        in_process = _in_process_cpu(base_env, run_dir, baseline_paths, sides, args, args.cpu_requests, max(args.rounds, 1)) if args.cpu_requests > 0 else None
        if in_process:
            print(f"  in-process CPU per request (WSGI call, no gunicorn, no client; best of {max(args.rounds, 1)}): baseline {in_process['baseline_ms']:.3f} ms, "
                  + ", ".join(f"{name} {fig['govern_ms']:.3f} ms (baseline/govern {fig['ratio']:.2f}, x{fig['cost_to_reference']:.2f} the CPU of {reference.name})"
                              for name, fig in in_process["sides"].items()))
            for name, fig in in_process["sides"].items():
                if "token_calls_per_1000_cold" in fig:
                    print(f"  {name}: token calls per 1,000 reads in this process: {fig['token_calls_per_1000_cold']} with the data-key cache emptied first "
                          f"({fig['token_reads']:,} reads, each of another subject), {fig['token_calls_per_1000_warm']} when the same are read again (cache warm)")
        ratios = {name: _ratio(r.rps, base.rps) for name, r in merged.items()}
        ok = all(ratios[s.name] >= BAR and merged[s.name].errors == 0 and s.audited == merged[s.name].requests for s in sides)
        verdict = "PASS" if ok else "FAIL"
        print(f"  machine: {os.cpu_count()} cores shared by client, every server and PostgreSQL; load average now {os.getloadavg()[0]:.2f}")
        for side in sides:
            print(f"  ratio govern ({side.name})/baseline throughput: {ratios[side.name]:.2f}x  (bar >= {BAR}x)")
        print(f"  verdict: {verdict}")
        if args.json:
            first = merged[reference.name]
            print(json.dumps({
                "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
                "settings": {k: getattr(args, k) for k in ("subjects", "duration", "warmup", "max_requests", "processes", "threads", "workers", "server_threads",
                                                            "role", "purpose", "rounds", "suite", "provider", "compare_suites")},
                "baseline": _summary(base, baseline_cpu), "govern": {**_summary(first, reference.cpu), "audit_events": reference.audited},
                "ratio": round(ratios[reference.name], 3), "bar": BAR, "verdict": verdict, "in_process_cpu": in_process,
                "sides": {s.name: {**_summary(merged[s.name], s.cpu), "audit_events": s.audited, "ratio_to_baseline": round(ratios[s.name], 3),
                                   "ratio_to_reference": round(_ratio(merged[s.name].rps, first.rps), 3),
                                   "token_calls_per_1000_reads": round(_per_1000(s.token_calls, merged[s.name].requests), 2) if s.provider == "pkcs11" else None}
                          for s in sides},
                "reference": reference.name, "refused": {"commercial_cn/pkcs11": REFUSED} if args.compare_suites else {},
            }))
        return 0 if ok else 1
    finally:
        for srv in servers:
            srv.stop()
        if args.keep_home:
            print(f"  kept the GOVERN_HOMEs and server logs in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def _headers(side: Side, args: argparse.Namespace) -> dict[str, str]:
    return {"Authorization": f"Bearer {side.api_key}", "X-Purpose": args.purpose}


def _warm(srv: Server, paths: list[str], headers: dict[str, str], args: argparse.Namespace) -> None:
    run_load(port=srv.port, paths=paths, headers=headers, duration=args.warmup, max_requests=args.max_requests,
             processes=args.processes, threads=args.threads, seed=7)


def _measure(name: str, srv: Server, paths: list[str], headers: dict[str, str], args: argparse.Namespace, into: list[LoadResult]) -> float:
    """A measured load against one server (after its warm-up); returns the server CPU seconds it took."""
    cpu0 = srv.cpu_seconds()
    r = run_load(port=srv.port, paths=paths, headers=headers, duration=args.duration, max_requests=args.max_requests,
                 processes=args.processes, threads=args.threads, seed=11)
    into.append(r)
    print(f"    {name:<22} {r.rps:8.1f} req/s  p50 {r.pct(50):6.2f} ms  p99 {r.pct(99):6.2f} ms  "
          f"({r.requests} ok, {r.errors} errors, statuses {r.statuses})")
    return srv.cpu_seconds() - cpu0


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _per_request_ms(cpu_seconds: float, r: LoadResult) -> float:
    return 1000 * cpu_seconds / max(r.requests, 1)


def _per_1000(calls: float, reads: int) -> float:
    return 1000 * calls / max(reads, 1)


_TOKEN_LINE = re.compile(r"^govern_kek_token_calls_total\{[^}]*\}\s+(\S+)$", re.M)


def _token_calls(port: int) -> float:
    """Calls sent to the PKCS#11 token so far by every worker of the server (govern.crypto.hsm.TOKEN_CALLS on /metrics)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    return sum(float(v) for v in _TOKEN_LINE.findall(body))


def _in_process_cpu(base_env: dict[str, str], run_dir: Path, baseline_paths: list[str], sides: list[Side], args: argparse.Namespace,
                    n: int, rounds: int) -> dict:
    """CPU seconds of this process per read, each app's WSGI callable called directly (the same random ordinals for
    every side): a figure that moves less with the machine's load than requests per second, and that leaves out the
    load generator, gunicorn and PostgreSQL's own time. govern's per-request log lines go to a file, as in production.
    With the PKCS#11 provider, also the token calls of 1,000 reads of 1,000 subjects with the data-key cache emptied
    first, then of the same reads again (TokenKeyring.token_calls: this process's count)."""
    import contextlib
    import random
    import time

    import baseline_app
    from werkzeug.test import EnvironBuilder

    from govern.app import create_app
    from govern.config import Settings

    reference = sides[0].name
    saved = {k: os.environ.get(k) for k in base_env}
    os.environ.update({k: v for k, v in base_env.items() if k != "PROMETHEUS_MULTIPROC_DIR"})  # baseline_app reads BENCH_DATABASE_URL
    try:
        with open(run_dir / "in_process.log", "w") as sink, contextlib.redirect_stdout(sink):
            apps = {"baseline": (baseline_app.create_app(), baseline_paths, {})}
            for side in sides:
                env = {k: v for k, v in side.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
                apps[side.name] = (create_app(Settings.from_env(env)), side.paths, _headers(side, args))
            environs = {name: [EnvironBuilder(path=path, headers=hdrs).get_environ() for path in paths[:1000]] for name, (_, paths, hdrs) in apps.items()}

            def run(name: str, count: int, seed: int = 3) -> float:
                app, rng = apps[name][0], random.Random(seed)
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
            tokens: dict[str, tuple[int, int, int]] = {}
            for side in sides:
                if side.provider != "pkcs11":
                    continue
                runtime = apps[side.name][0].extensions["govern"]
                runtime.envelope.cache.clear()
                counts = []
                for _ in range(2):  # cold, then warm: each ordinal of paths[:1000] once, in order
                    before = runtime.keyring.token_calls
                    app = apps[side.name][0]
                    for environ in environs[side.name]:
                        b"".join(app(dict(environ), lambda *a: None))
                    counts.append(runtime.keyring.token_calls - before)
                reads = len(environs[side.name])
                tokens[side.name] = (round(1000 * counts[0] / reads), round(1000 * counts[1] / reads), reads)
            for side in sides:
                runtime = apps[side.name][0].extensions["govern"]
                runtime.database.dispose()
                getattr(runtime.keyring, "close", lambda: None)()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    figures: dict[str, dict] = {}
    for side in sides:
        fig: dict = {"govern_ms": round(best[side.name] * 1000, 3), "ratio": round(best["baseline"] / best[side.name], 3),
                     "cost_to_reference": round(best[side.name] / best[reference], 3)}
        if side.name in tokens:
            fig["token_calls_per_1000_cold"], fig["token_calls_per_1000_warm"], fig["token_reads"] = tokens[side.name]
        figures[side.name] = fig
    first = figures[reference]
    return {"baseline_ms": round(best["baseline"] * 1000, 3), "govern_ms": first["govern_ms"], "ratio": first["ratio"],
            "requests_per_round": n, "rounds": rounds, "sides": figures}


_engines: dict[str, object] = {}


def _read_events(url: str) -> int:
    from govern.db import make_engine

    engine = _engines.setdefault(url, make_engine(url))
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'subjects:profile:read' AND outcome = 'allowed'")).scalar_one()


def _check_same_profile(side: Side, port_b: int, path_b: str, headers: dict[str, str], plain: dict[str, str]) -> None:
    """The govern side and the baseline serve subject 0 with the same 8 field names; govern's values are decrypted
    (then masked as the role sees them) and the baseline's are the plaintext."""
    import http.client

    def get(port: int, path: str, hdrs: dict[str, str]) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers=hdrs)
        body = json.loads(conn.getresponse().read())
        conn.close()
        return body

    assert side.server is not None
    path_g = side.paths[0]
    g, b = get(side.server.port, path_g, headers), get(port_b, path_b, {})
    if set(g["fields"]) != set(PROFILE_FIELDS) or set(b["fields"]) != set(PROFILE_FIELDS) or g["id"] != path_g.rsplit("/", 1)[1] or b["id"] != path_b.rsplit("/", 1)[1]:
        sys.exit(f"the two sides do not serve the same 8-field profile: {side.name} {sorted(g['fields'])}, baseline {sorted(b['fields'])}")
    if b["fields"] != plain:
        sys.exit("the baseline does not serve the seeded values")
    masked = sum(1 for n in PROFILE_FIELDS if g["fields"][n] != plain[n])
    print(f"  [{side.name}] serves the baseline's 8-field profile; {masked} of 8 fields masked for this role")


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
