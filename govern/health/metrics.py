"""Prometheus metrics. Labels are endpoints, methods and status codes: never an id or a value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry()
REQUESTS = Counter("govern_http_requests_total", "HTTP requests", ["endpoint", "method", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "govern_http_request_seconds", "HTTP request latency", ["endpoint"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
READY = Gauge("govern_ready", "1 when every readiness check passes", registry=REGISTRY)
AUDIT_CHAIN_OK = Gauge("govern_audit_chain_ok", "1 when the audit chain head links and matches the newest checkpoint (set by /readyz)", registry=REGISTRY)
AUDIT_CHAIN_HEAD = Gauge("govern_audit_chain_head_seq", "Sequence number of the sealed audit chain head", registry=REGISTRY)
AUDIT_UNSEALED = Gauge("govern_audit_unsealed_events", "Audit events newer than the sealed head (not yet chained)", registry=REGISTRY)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, method, str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)
