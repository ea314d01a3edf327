"""/healthz (alive), /readyz (ready to serve), /metrics (Prometheus), and the API docs' local assets."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, jsonify, send_from_directory

from govern.health import metrics
from govern.health.service import is_ready, readiness
from govern.identity.guard import current_runtime, public

blp = Blueprint("health", __name__)
# Swagger UI served from the installed package: the docs page fetches nothing from the internet.
docs_assets = Blueprint("docs_assets", __name__)
_SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


@blp.get("/healthz")
@public("liveness probe; says nothing about data")
def healthz():
    return jsonify(status="ok")


@blp.get("/readyz")
@public("readiness probe for the load balancer; names checks, no data")
def readyz():
    checks = readiness(current_runtime())
    ok = is_ready(checks)
    metrics.READY.set(1 if ok else 0)
    return jsonify(status="ready" if ok else "not_ready", checks=checks), 200 if ok else 503


@blp.get("/metrics")
@public("Prometheus scrape; counters by endpoint and status only")
def prometheus():
    return Response(metrics.render(), mimetype="text/plain; version=0.0.4")


@docs_assets.get("/api/v1/docs/assets/<path:filename>")
@public("static files of the interactive API docs")
def swagger_asset(filename: str):
    return send_from_directory(_SWAGGER_DIST, filename)
