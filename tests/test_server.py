"""`govern serve` under gunicorn: what gunicorn refuses by itself before the app sees a request (a request line past
its limit, too many or too large headers, a request that is not HTTP) is answered as problem+json like every other
error — 414, 431, 400 — never gunicorn's HTML page, never a traceback, never the offending header quoted back."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from govern.config import PROJECT_ROOT
from govern.server import LIMIT_REQUEST_FIELD_SIZE, LIMIT_REQUEST_FIELDS, LIMIT_REQUEST_LINE

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@contextmanager
def _serving(runtime, log_level: str, workers: int = 1) -> Iterator[tuple[int, subprocess.Popen]]:
    """The real `govern serve` (gunicorn, one worker) on a free port, on the suite's database and home; stopped (TERM)
    when the block ends, so its output can be read whole."""
    port = _free_port()
    s = runtime.settings
    env = {**os.environ, "GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_POLICIES": str(s.policies_dir),
           "GOVERN_LOG_LEVEL": log_level}
    proc = subprocess.Popen([sys.executable, "-m", "govern.cli", "serve", "--port", str(port), "--workers", str(workers), "--threads", "2", "--no-sealer"],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            try:
                if _raw(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("govern serve did not answer /healthz within a minute")
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def served(runtime):
    with _serving(runtime, "WARNING") as (port, proc):
        yield port
    proc.communicate()


def _is_problem(status: int, headers: dict, body: bytes, code: str) -> None:
    assert headers["content-type"] == "application/problem+json", (status, headers, body[:200])
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] == code and problem["type"].endswith("/" + code)
    assert b"<html" not in body.lower() and b"Traceback" not in body


def test_gunicorns_own_refusals_are_problem_json_414_431_400(served):
    secret = "Bearer gv_leaky-secret-value"
    status, headers, body = _raw(served, b"GET /api/v1/subjects?" + b"a" * (LIMIT_REQUEST_LINE + 10) + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 414
    _is_problem(status, headers, body, "uri_too_long")

    big = f"X-Big: {secret}{'b' * (LIMIT_REQUEST_FIELD_SIZE + 10)}\r\n".encode()
    status, headers, body = _raw(served, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n")
    assert status == 431
    _is_problem(status, headers, body, "header_fields_too_large")
    assert secret.encode() not in body  # gunicorn's own page quotes the header back

    many = b"".join(f"X-H{i}: {i}\r\n".encode() for i in range(LIMIT_REQUEST_FIELDS + 5))
    status, headers, body = _raw(served, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert status == 431
    _is_problem(status, headers, body, "header_fields_too_large")

    status, headers, body = _raw(served, b"GET /healthz HTTP/9.9\r\nHost: t\r\n\r\n")
    assert status == 400
    _is_problem(status, headers, body, "malformed_request")

    status, headers, body = _raw(served, b"GET /api/v1/nothing-here HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 404 and headers["content-type"] == "application/problem+json"  # the app's own, for contrast


def test_every_line_serve_writes_is_json_and_the_first_says_where_it_listens(runtime):
    with _serving(runtime, "INFO") as (port, proc):
        assert _raw(port, b"GET /x?" + b"a" * (LIMIT_REQUEST_LINE + 10) + b" HTTP/1.1\r\nHost: t\r\n\r\n")[0] == 414
    out, err = proc.communicate(timeout=30)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    not_json = [line for line in lines if not line.lstrip().startswith("{")]
    assert not not_json, not_json  # gunicorn's arbiter and workers included: no `[date] [pid] [LEVEL]` line
    events = [json.loads(line) for line in lines]
    listening = [e for e in events if e["event"] == "listening"]
    assert listening and listening[0]["urls"] == [f"http://127.0.0.1:{port}"]
    refused = [e for e in events if e.get("logger") == "gunicorn.error" and "uri_too_long" in e["event"]]
    assert refused and refused[0]["level"] == "warning" and "timestamp" in refused[0]


def _requests_counted(port: int, endpoint: str) -> float:
    status, _, body = _raw(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return sum(s.value for s in families["govern_http_requests"].samples if s.name.endswith("_total") and s.labels["endpoint"] == endpoint)


def test_metrics_count_every_workers_requests_whichever_worker_answers_the_scrape(runtime):
    with _serving(runtime, "WARNING", workers=3) as (port, proc):
        before = _requests_counted(port, "health.healthz")
        for _ in range(20):
            assert _raw(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200
        # Each scrape is answered by one of three workers; every one of them must see all twenty.
        assert {_requests_counted(port, "health.healthz") - before for _ in range(6)} == {20}
        text = _raw(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[2].decode()
        assert text.count("# TYPE govern_breach_incidents_open gauge") == 1  # a figure read at scrape: once, not once per worker
    proc.communicate()
