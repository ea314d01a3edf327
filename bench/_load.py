"""Shared by the benchmarks: a bounded loopback HTTP load generator written in Python (processes × threads, each
thread holding one http.client keep-alive connection), latency statistics, and gunicorn process handling.

Bounded: every run stops at a fixed duration or a maximum request count, whichever comes first, and only ever
connects to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    client_cpu_seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _thread_loop(port: int, paths: list[str], headers: dict[str, str], deadline: float, budget: list[int], lock: threading.Lock,
                 out: list[float], statuses: dict[int, int], seed: int) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            path = paths[rng.randrange(len(paths))]
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()  # the next request reconnects
                status = 0
            out.append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        conn.close()


def _process_main(args) -> tuple[list[float], dict[int, int], float, float]:
    port, paths, headers, duration, max_requests, threads, seed = args
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    budget, lock = [max_requests], threading.Lock()
    start = time.perf_counter()
    deadline = start + duration
    cpu0 = time.process_time()
    outs: list[list[float]] = [[] for _ in range(threads)]
    stats: list[dict[int, int]] = [{} for _ in range(threads)]
    workers = [
        threading.Thread(target=_thread_loop, args=(port, paths, headers, deadline, budget, lock, outs[t], stats[t], seed * 1000 + t), daemon=True)
        for t in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    merged: dict[int, int] = {}
    for s in stats:
        for k, v in s.items():
            merged[k] = merged.get(k, 0) + v
    return [x for o in outs for x in o], merged, elapsed, time.process_time() - cpu0


def run_load(*, port: int, paths: list[str], headers: dict[str, str], duration: float, max_requests: int, processes: int,
             threads: int, seed: int = 1) -> LoadResult:
    """`processes × threads` concurrent keep-alive connections hitting random `paths` until `duration` seconds
    have passed or `max_requests` were sent. Latency is measured per request, from send to the last byte."""
    per_process = max(1, max_requests // processes)
    ctx = mp.get_context("fork")
    with ctx.Pool(processes) as pool:
        parts = pool.map(_process_main, [(port, paths, headers, duration, per_process, threads, seed + p) for p in range(processes)])
    result = LoadResult()
    for lat, statuses, elapsed, cpu in parts:
        result.latencies_ms.extend(lat)
        result.seconds = max(result.seconds, elapsed)
        result.client_cpu_seconds += cpu
        for k, v in statuses.items():
            result.statuses[k] = result.statuses.get(k, 0) + v
    result.requests = sum(v for k, v in result.statuses.items() if k == 200)
    result.errors = sum(v for k, v in result.statuses.items() if k != 200)
    return result


# --- gunicorn ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU time of the gunicorn master and its workers so far (from /proc)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(parts[11]) + int(parts[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start_gunicorn(*, name: str, app_spec: str, port: int, workers: int, threads: int, env: dict[str, str], log_dir: Path,
                   pythonpath: str | None = None) -> Server:
    """The same gunicorn settings for every side: the options `govern serve` (govern/server.py) uses."""
    log_path = log_dir / f"{name}.log"
    cmd = [
        sys.executable, "-m", "gunicorn", "--bind", f"{LOOPBACK}:{port}", "--workers", str(workers), "--threads", str(threads),
        "--log-level", "warning", "--error-logfile", "-", "--timeout", "60", "--graceful-timeout", "20",
    ]
    if pythonpath:
        cmd += ["--pythonpath", pythonpath]
    cmd.append(app_spec)
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the server's lifetime
    # stdout carries govern's per-request JSON log lines: written to the log file as in production.
    # cwd: a neutral folder, so the govern importable from the environment (PYTHONPATH or the venv) is the one served
    process = subprocess.Popen(cmd, env=env, cwd=log_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name=name, process=process, port=port, log_path=log_path)


def wait_ready(server: Server, path: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}; see {server.log_path}")
        try:
            conn = http.client.HTTPConnection(LOOPBACK, server.port, timeout=5)
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status == 200:
                return
            last = f"{resp.status} {body[:300]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {last}; see {server.log_path}")

