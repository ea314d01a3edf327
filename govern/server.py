"""gunicorn, embedded: `govern serve` runs the app factory in each worker (no shared state between workers)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

from govern.logging import get_logger, stdlib_json_formatter

# What gunicorn reads before the app sees anything: the request line (method, path and query) and the headers. Past
# these it answers itself (GovernWorker: 414 or 431 problem+json). 8190 is gunicorn's ceiling for both sizes.
LIMIT_REQUEST_LINE = 8190
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190

_CLIENT_ERRORS = tuple(getattr(http_errors, name) for name in (
    "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader", "InvalidHeaderName", "InvalidProxyLine",
    "InvalidSchemeHeaders", "ObsoleteFolding", "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension",
) if hasattr(http_errors, name))


def _problem_of(exc: BaseException) -> tuple[int, str, str, str] | None:
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, "uri_too_long", "URI Too Long", f"The request line is longer than {LIMIT_REQUEST_LINE} bytes."
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, "header_fields_too_large", "Request Header Fields Too Large", (
            f"At most {LIMIT_REQUEST_FIELDS} header fields of at most {LIMIT_REQUEST_FIELD_SIZE} bytes each.")
    if isinstance(exc, _CLIENT_ERRORS):
        return 400, "malformed_request", "Bad Request", "The request is not valid HTTP/1.1."
    return None


class GovernWorker(ThreadWorker):
    """gunicorn's threaded worker, whose own refusals (a request line or headers past the limits, a request that is not
    HTTP) are RFC 9457 problem+json like every answer of the app — not gunicorn's HTML page, which also quotes the
    offending header back (a header can carry a credential or a person's data)."""

    def handle_error(self, req, client, addr, exc):  # noqa: D102
        problem = _problem_of(exc)
        if problem is None:
            return super().handle_error(req, client, addr, exc)
        status, code, title, detail = problem
        self.log.warning("refused request from ip=%s: %s", (addr or ("",))[0], code)
        body = json.dumps({"type": f"https://govern.dev/problems/{code}", "title": title, "status": status, "code": code, "detail": detail}).encode()
        head = (f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
        try:
            client.sendall(head + body)
        except OSError:
            self.log.debug("could not send the refusal")


class GovernLogger(GunicornLogger):
    """gunicorn's own lines (arbiter, worker boot and exit, refusals, errors) as JSON lines like every other line
    govern writes, instead of gunicorn's `[date] [pid] [LEVEL] text` format."""

    def setup(self, cfg) -> None:  # noqa: D102
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "_gunicorn", False):
                handler.setFormatter(stdlib_json_formatter())


def _say_where_it_listens(server) -> None:
    """The start line: one JSON line naming every address the service answers on, once the workers may boot."""
    get_logger("govern.server").info(
        "listening", urls=[f"http://{address}" for address in server.cfg.bind], workers=server.cfg.workers, threads=server.cfg.threads)


class GovernServer(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from govern.app import create_app

        return create_app()


def prepare_metrics_dir() -> Path:
    """Where every worker writes its Prometheus counters, so that a scrape answered by any worker counts all of them
    (govern/health/metrics.py). Must run before anything imports prometheus_client in this process: the workers fork
    from it. An operator's own PROMETHEUS_MULTIPROC_DIR is used (and emptied: its files are a previous run's);
    otherwise a private temporary folder, removed when the server stops."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return folder
    folder = Path(tempfile.mkdtemp(prefix="govern-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    arbiter = os.getpid()
    atexit.register(lambda: os.getpid() == arbiter and shutil.rmtree(folder, ignore_errors=True))
    return folder


def _forget_worker(server, worker) -> None:
    """A worker that exited no longer counts in the live gauges; its counters stay in the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run_gunicorn(*, host: str, port: int, workers: int, threads: int = 4) -> None:
    GovernServer({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "accesslog": None,  # govern logs each request itself, with ids and without query strings
        "errorlog": "-",
        "logger_class": "govern.server.GovernLogger",
        "when_ready": _say_where_it_listens,
        "child_exit": _forget_worker,
        "loglevel": "warning",
        "timeout": 60,
        "graceful_timeout": 20,
        "worker_class": "govern.server.GovernWorker",
        "limit_request_line": LIMIT_REQUEST_LINE,
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
    }).run()
