"""Prometheus metrics. Labels are endpoints, methods, status codes and states: never an id or a value.

Two kinds of figure. Counters and histograms of what a process did (requests, latency) are counted where they happen;
under gunicorn every worker writes them to files in `PROMETHEUS_MULTIPROC_DIR` (govern/server.py makes one per
`govern serve`), and a scrape answered by any worker adds up every worker's files, so 20 requests spread over 4 workers
read 20. Figures about the data (clocks running out, backlogs) are computed from the database when /metrics is
scraped (`FIGURES`): every worker reads the same rows, so whichever answers tells the same."""

from __future__ import annotations

import math
import os
from datetime import datetime
from typing import Callable, Iterable, Iterator

from flask import current_app, has_app_context
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from govern.audit import chain
from govern.breach import board
from govern.crypto import service as keys
from govern.logging import get_logger
from govern.retention import service as retention
from govern.scheduler import service as scheduler
from govern.subject_requests import figures as request_figures
from govern.timeutil import utcnow
from govern.webhooks import service as webhooks

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

# A figure read from the database at scrape time: (name, help, read) where read(session) gives (labels, value) pairs.
Reading = Callable[[Session], Iterable[tuple[dict[str, str], float]]]


def _breach_figure(key: str) -> Reading:
    return lambda session: [({}, float(board.figures(session=session)[key]))]


def _runtime():
    return current_app.extensions["govern"]


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


def _request_figure(session: Session, key: str) -> list[tuple[dict[str, str], float]]:
    counts = request_figures.figures(session=session, policy=_runtime().policy, now=utcnow())[key]
    return [({"type": t, "jurisdiction": j}, float(n)) for (t, j), n in sorted(counts.items())]


def _clock_figure(session: Session, *, count: bool | None) -> list[tuple[dict[str, str], float]]:
    """count True: clocks per kind; False: the fewest seconds left per kind; None: the largest share used per kind."""
    by_kind: dict[str, list[dict]] = {}
    for c in board.running_clocks(session=session, now=utcnow()):
        by_kind.setdefault(c["kind"], []).append(c)
    if count is None:
        return [({"kind": k}, max(c["used"] for c in v)) for k, v in sorted(by_kind.items())]
    return [({"kind": k}, float(len(v)) if count else min(c["seconds_left"] for c in v)) for k, v in sorted(by_kind.items())]


def _job_status(session: Session) -> list[scheduler.JobStatus]:
    return scheduler.status(session=session, schedules=_runtime().policy.schedules)


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
# Clocks, queues and backlogs (issue 18 item 2): each read by a read-only function of its domain, labels never ids.
FIGURES.add("govern_requests_due_soon", "Open data-subject requests due within requests.yaml queue.due_soon_days (not overdue)",
            lambda session: _request_figure(session, "due_soon"))
FIGURES.add("govern_requests_overdue", "Open data-subject requests past their due time", lambda session: _request_figure(session, "overdue"))
FIGURES.add("govern_breach_notification_clocks_open", "Breach notification clocks running (required or unassessed, not sent), by kind",
            lambda session: _clock_figure(session, count=True))
FIGURES.add("govern_breach_notification_seconds_left", "Seconds left on the soonest running breach notification clock, by kind (negative: expired)",
            lambda session: _clock_figure(session, count=False))
FIGURES.add("govern_breach_notification_clock_used_ratio", "Share of the most advanced running breach notification clock already used, by kind (1: expired)",
            lambda session: _clock_figure(session, count=None))
FIGURES.add("govern_webhook_deliveries", "Webhook deliveries in the outbox by state (pending: the queue; failed: given up on)",
            lambda session: [({"state": k}, float(v)) for k, v in webhooks.figures(session=session)["by_state"].items()])
FIGURES.add("govern_webhook_endpoints_failing", "Enabled webhook endpoints with deliveries given up on (failed)",
            lambda session: [({}, float(len(webhooks.figures(session=session)["failing_endpoints"])))])
FIGURES.add("govern_audit_unsealed_backlog_events", "Audit events not yet linked into the hash chain, read at scrape",
            lambda session: [({}, float(chain.backlog(session, utcnow())["unsealed"]))])
FIGURES.add("govern_audit_unsealed_oldest_seconds", "Age in seconds of the oldest unsealed audit event (0 when none)",
            lambda session: [({}, chain.backlog(session, utcnow())["oldest_age_seconds"])])
FIGURES.add("govern_audit_last_checkpoint_timestamp_seconds", "Unix time of the newest signed audit checkpoint (0 before the first)",
            lambda session: [({}, _timestamp(chain.backlog(session, utcnow())["last_checkpoint_at"]))])
FIGURES.add("govern_audit_max_unsealed_seconds", "policies/audit.yaml sealing.max_unsealed_seconds: the bound an unsealed event may wait",
            lambda session: [({}, float(_runtime().policy.audit.max_unsealed_seconds))])
FIGURES.add("govern_audit_checkpoint_interval_seconds", "policies/audit.yaml sealing.checkpoint_seconds: how often a checkpoint is due",
            lambda session: [({}, float(_runtime().policy.audit.checkpoint_interval_seconds))])
FIGURES.add("govern_retention_purge_runs", "Retention purge runs by status",
            lambda session: [({"status": k}, float(v)) for k, v in retention.run_figures(session=session)["by_status"].items()])
FIGURES.add("govern_retention_last_purge_timestamp_seconds", "Unix time the last retention purge run finished (0 before the first)",
            lambda session: [({}, _timestamp(retention.run_figures(session=session)["last_finished_at"]))])
FIGURES.add("govern_crypto_data_keys_behind", "Subject data keys not yet rewrapped under the active master key version (rotation's work left)",
            lambda session: [({}, float(keys.data_keys_behind(session=session, active_version=_runtime().keyring.active_version)))])
# Scheduled jobs (govern/scheduler), read from job_runs: the same on every host, whichever ran them.
FIGURES.add("govern_job_last_success_timestamp_seconds", "Unix time the job last finished without error (0 before the first)",
            lambda session: [({"job": j.name}, _timestamp(j.last_success)) for j in _job_status(session)])
FIGURES.add("govern_job_lag_seconds", "How late the job is against its schedule (0 when on time)",
            lambda session: [({"job": j.name}, j.lag_seconds) for j in _job_status(session)])
FIGURES.add("govern_job_failures_total", "Failed or abandoned runs of the job kept in job_runs (policies/schedules.yaml history.keep_days)",
            lambda session: [({"job": j.name}, float(j.failures)) for j in _job_status(session)])
FIGURES.add("govern_job_overdue", "1 when the job is later than its bound (period + lease + 60 s) or overruns its lease",
            lambda session: [({"job": j.name}, 1.0 if j.overdue else 0.0) for j in _job_status(session)])
REGISTRY.register(FIGURES)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    # The labelled children, looked up once per label set: labels() validates and locks on every call, and returns the
    # very child kept here (a child checks its process id on each write, so one made before a fork still counts right).
    key = (endpoint, method, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = (REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint))
        if len(_CHILDREN) < 10_000:  # endpoints × methods × statuses: bounded by the routes, never by ids
            _CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


_CHILDREN: dict[tuple[str, str, int], tuple] = {}


def render() -> bytes:
    """The scrape: under gunicorn every worker's counters (their files) and the figures read now; in one process, its own."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(FIGURES)
    return generate_latest(registry)
