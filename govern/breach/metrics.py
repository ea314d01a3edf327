"""Prometheus gauges for breach clocks, computed when /metrics is scraped: overdue notifications and open incidents
(real incidents only; drills never count). Labels: none (never an id)."""

from __future__ import annotations

import math

from flask import current_app, has_app_context
from prometheus_client import Gauge

from govern.health.metrics import REGISTRY

OVERDUE = Gauge("govern_breach_notifications_overdue", "Required breach notifications past their due time and not sent (real incidents)", registry=REGISTRY)
OPEN = Gauge("govern_breach_incidents_open", "Real security incidents not closed", registry=REGISTRY)

_database = None


def bind(database) -> None:
    """Called when the breach API is registered: the gauges read this database at scrape time."""
    global _database
    _database = database


def _database_now():
    # The app answering the scrape reads its own database: a process may hold several apps (tests, tools), and the
    # one bound last may point at a database that is gone.
    if has_app_context() and "govern" in current_app.extensions:
        return current_app.extensions["govern"].database
    return _database


def _figure(name: str) -> float:
    database = _database_now()
    if database is None:
        return math.nan
    from govern.breach import board

    try:
        with database.sessions() as session:
            value = board.figures(session=session)[name]
            session.rollback()
            return float(value)
    except Exception:  # a scrape must never fail the exporter; NaN tells the operator the figure is unknown
        return math.nan


OVERDUE.set_function(lambda: _figure("overdue_notifications"))
OPEN.set_function(lambda: _figure("open"))
