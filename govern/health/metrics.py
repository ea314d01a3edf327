"""Prometheus metrics. Labels are endpoints, methods, status codes and states: never an id or a value.

Two kinds of figure. Counters and histograms of what a process did (requests, latency) are counted where they happen;
under gunicorn every worker writes them to files in `PROMETHEUS_MULTIPROC_DIR` (govern/server.py makes one per
`govern serve`), and a scrape answered by any worker adds up every worker's files, so 20 requests spread over 4 workers
read 20. Figures about the data (clocks running out, backlogs) are computed from the database when /metrics is
scraped (`FIGURES`): every worker reads the same rows, so whichever answers tells the same."""

from __future__ import annotations

import math
import os
from typing import Callable, Iterable, Iterator

from flask import current_app, has_app_context
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from govern.breach import board
from govern.logging import get_logger

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry()
REQUESTS = Counter("govern_http_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "govern_http_request_seconds", "HTTP request latency", ["endpoint"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
# Set by whichever worker answered /readyz last: with several workers the most recent answer is the one that counts.
READY = Gauge("govern_ready", "1 when every readiness check passes", registry=REGISTRY, multiprocess_mode="livemostrecent")
AUDIT_CHAIN_OK = Gauge("govern_audit_chain_ok", "1 when the audit chain head links and matches the newest checkpoint (set by /readyz)",
                       registry=REGISTRY, multiprocess_mode="livemostrecent")
AUDIT_CHAIN_HEAD = Gauge("govern_audit_chain_head_seq", "Sequence number of the sealed audit chain head", registry=REGISTRY,
                         multiprocess_mode="livemostrecent")
AUDIT_UNSEALED = Gauge("govern_audit_unsealed_events", "Audit events newer than the sealed head (not yet chained)", registry=REGISTRY,
                       multiprocess_mode="livemostrecent")

# A figure read from the database at scrape time: (name, help, read) where read(session) gives (labels, value) pairs.
Reading = Callable[[Session], Iterable[tuple[dict[str, str], float]]]


def _breach_figure(key: str) -> Reading:
    return lambda session: [({}, float(board.figures(session=session)[key]))]


class ScrapeFigures(Collector):
    """Figures about the data, read from the database of the app answering the scrape (a process may hold several
    apps: tests, tools). A figure that cannot be read is NaN: a scrape never fails because of one."""

    def __init__(self) -> None:
        self.readings: list[tuple[str, str, Reading]] = []

    def add(self, name: str, documentation: str, read: Reading) -> None:
        self.readings.append((name, documentation, read))

    def describe(self) -> list[Metric]:
        return []  # computed at scrape only: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        database = current_app.extensions["govern"].database if has_app_context() and "govern" in current_app.extensions else None
        for name, documentation, read in self.readings:
            yield self._family(database, name, documentation, read)

    @staticmethod
    def _family(database, name: str, documentation: str, read: Reading) -> GaugeMetricFamily:
        rows: list[tuple[dict[str, str], float]] = []
        if database is not None:
            try:
                with database.sessions() as session:
                    rows = list(read(session))
                    session.rollback()
            except Exception as exc:  # noqa: BLE001  (reported as NaN, logged without values)
                get_logger("govern.metrics").warning("figure_unreadable", metric=name, error=type(exc).__name__)
                rows = []
        labels = sorted({key for row_labels, _ in rows for key in row_labels})
        family = GaugeMetricFamily(name, documentation, labels=labels or None)
        if not rows:
            if not labels:
                family.add_metric([], math.nan)
            return family
        for row_labels, value in rows:
            family.add_metric([row_labels.get(k, "") for k in labels], value)
        return family


FIGURES = ScrapeFigures()
FIGURES.add("govern_breach_notifications_overdue", "Required breach notifications past their due time and not sent (real incidents)",
            _breach_figure("overdue_notifications"))
FIGURES.add("govern_breach_incidents_open", "Real security incidents not closed", _breach_figure("open"))
REGISTRY.register(FIGURES)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, method, str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def render() -> bytes:
    """The scrape: under gunicorn every worker's counters (their files) and the figures read now; in one process, its own."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(FIGURES)
    return generate_latest(registry)
