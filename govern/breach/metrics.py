"""Prometheus gauges for breach clocks, computed when /metrics is scraped: overdue notifications and open incidents
(real incidents only; drills never count). Labels: none (never an id)."""

from __future__ import annotations

import math

from prometheus_client import Gauge

from govern.health.metrics import REGISTRY

OVERDUE = Gauge("govern_breach_notifications_overdue", "Required breach notifications past their due time and not sent (real incidents)", registry=REGISTRY)
OPEN = Gauge("govern_breach_incidents_open", "Real security incidents not closed", registry=REGISTRY)

_database = None


def bind(database) -> None:
    """Called when the breach API is registered: the gauges read this database at scrape time."""
    global _database
    _database = database


def _figure(name: str) -> float:
    if _database is None:
        return math.nan
    from govern.breach import board

    try:
        with _database.sessions() as session:
            value = board.figures(session=session)[name]
            session.rollback()
            return float(value)
    except Exception:  # a scrape must never fail the exporter; NaN tells the operator the figure is unknown
        return math.nan


OVERDUE.set_function(lambda: _figure("overdue_notifications"))
OPEN.set_function(lambda: _figure("open"))
