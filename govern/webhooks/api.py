"""/api/v1/webhooks: endpoints (administrators register them; the secret is shown once) and the deliveries of the
outbox (privacy staff see who was told and re-queue a failed one). Thin: the rules are in service.py."""

from __future__ import annotations

import json
import uuid

from flask import request
from flask_smorest import Blueprint

from govern.api_lists import DEPRECATION_HEADERS, answer_page, client_cursor, listing, moment, service_cursor
from govern.api_support import current_call, if_match_version, version_etag
from govern.errors import Invalid
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.openapi import requires_header
from govern.timeutil import as_utc, utcnow
from govern.webhooks import schemas, service
from govern.webhooks.egress import Guard

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks", description="Propagation webhooks: endpoints and deliveries")


def _view(e, counts: dict[str, int] | None = None) -> dict:
    if counts is None:
        counts = service.delivery_counts(session=current_call().session, endpoint_ids=[e.id])[e.id]
    grace = as_utc(e.previous_valid_until) if e.previous_valid_until else None
    return {
        "id": e.id, "name": e.name, "url": e.url, "owner": {"kind": e.owner_kind, "id": e.owner_id}, "event_types": list(e.event_types),
        "enabled": e.enabled, "secret_generation": e.secret_generation, "secret_rotated_at": e.secret_rotated_at,
        "previous_secret_valid_until": grace if grace and grace > utcnow() else None,
        "created_at": e.created_at, "created_by": e.created_by, "updated_at": e.updated_at, "deliveries": counts,
    }


def _egress_guard() -> Guard:
    # From the runtime, not the call context: the guard needs the runtime's resolver (a test's, or the system's) and `--dev`.
    return Guard.of(current_runtime())


def _delivery(d) -> dict:
    return {
        "id": d.id, "event_id": d.event_id, "event_type": d.event_type, "endpoint_id": d.endpoint_id, "subject_id": d.subject_id,
        "request_id": d.request_id, "state": d.state, "attempts": d.attempts, "next_attempt_at": d.next_attempt_at, "created_at": d.created_at,
        "delivered_at": d.delivered_at, "failed_at": d.failed_at, "last_status": d.last_status, "last_error": d.last_error,
        "assignee_id": d.assignee_id,
    }


@blp.route("/endpoints", methods=["POST"])
@requires(Permission.WEBHOOKS_ENDPOINT_MANAGE)
@blp.arguments(schemas.EndpointCreateSchema)
@blp.response(201, schemas.EndpointWithSecretSchema)
def create_endpoint(body):
    """Register an endpoint for a CRM component or a recipient. The answer carries the signing secret, this once.

    No Idempotency-Key: a replay would have to store the secret in the clear."""
    if request.headers.get("Idempotency-Key"):
        raise Invalid("idempotency_not_supported", "Idempotency-Key not supported", "The answer holds a secret that is never stored for a replay.")
    issued = service.create_endpoint(**current_call().services("envelope"), data=body, guard=_egress_guard())
    e = issued.endpoint
    return {**_view(e, dict.fromkeys(service.STATES, 0)), "secret": issued.secret}, 201, {
        "Location": f"/api/v1/webhooks/endpoints/{e.id}", "ETag": version_etag(e), "Cache-Control": "no-store",
    }


@blp.route("/endpoints", methods=["GET"])
@requires(Permission.WEBHOOKS_ENDPOINT_READ)
@blp.arguments(schemas.EndpointQuerySchema, location="query")
@blp.response(200, schemas.EndpointPageSchema)
def list_endpoints(query):
    """Every endpoint, oldest first, with its deliveries per state; secrets are never shown."""
    ctx = current_call()
    endpoints = service.list_endpoints(session=ctx.session, owner_kind=query["owner_kind"], owner_id=query["owner_id"])
    counts = service.delivery_counts(session=ctx.session, endpoint_ids=[e.id for e in endpoints])
    return answer_page(ctx.envelope, endpoints, query, key=lambda e: (moment(e.created_at), str(e.id)), view=lambda e: _view(e, counts[e.id]))


@blp.route("/endpoints/<uuid:endpoint_id>", methods=["GET"])
@requires(Permission.WEBHOOKS_ENDPOINT_READ)
@blp.response(200, schemas.EndpointSchema)
def get_endpoint(endpoint_id: uuid.UUID):
    e = service.get_endpoint(session=current_call().session, endpoint_id=endpoint_id)
    return _view(e), 200, {"ETag": version_etag(e)}


@blp.route("/endpoints/<uuid:endpoint_id>", methods=["PATCH"])
@requires(Permission.WEBHOOKS_ENDPOINT_MANAGE)
@blp.arguments(schemas.EndpointUpdateSchema)
@blp.response(200, schemas.EndpointSchema)
@requires_header("If-Match")
def update_endpoint(body, endpoint_id: uuid.UUID):
    """Change the name, URL or event types, or enable/disable it; needs the current ETag in If-Match."""
    e = service.update_endpoint(**current_call().services(), endpoint_id=endpoint_id,
                                expected_version=if_match_version(endpoint_id), changes=body, guard=_egress_guard())
    return _view(e), 200, {"ETag": version_etag(e)}


@blp.route("/endpoints/<uuid:endpoint_id>/rotate-secret", methods=["POST"])
@requires(Permission.WEBHOOKS_ENDPOINT_MANAGE)
@blp.response(200, schemas.EndpointWithSecretSchema)
def rotate_secret(endpoint_id: uuid.UUID):
    """A new signing secret, shown this once; the previous one keeps signing for the policy's grace period."""
    issued = service.rotate_secret(**current_call().services("envelope"), endpoint_id=endpoint_id)
    return {**_view(issued.endpoint), "secret": issued.secret}, 200, {"ETag": version_etag(issued.endpoint), "Cache-Control": "no-store"}


@blp.route("/deliveries", methods=["GET"])
@requires(Permission.WEBHOOKS_DELIVERY_READ)
@blp.arguments(schemas.DeliveryQuerySchema, location="query")
@blp.response(200, schemas.DeliveryPageSchema, headers=DEPRECATION_HEADERS)
def list_deliveries(query):
    """Deliveries newest first, by endpoint, state, subject or request (who was told of what, and did it arrive); audited.
    `deliveries` repeats `items` for clients of the old shape until the Sunset date (deprecated)."""
    ctx = current_call()
    filters = service.DeliveryFilters(endpoint_id=query["endpoint"], state=query["state"], subject_id=query["subject_id"], request_id=query["request_id"])
    rows, cursor = service.list_deliveries(session=ctx.session, actor=ctx.actor, filters=filters, limit=query["limit"], cursor=service_cursor(ctx.envelope, query))
    return listing([_delivery(d) for d in rows], client_cursor(ctx.envelope, query, cursor), old_key="deliveries")


@blp.route("/deliveries/<uuid:delivery_id>", methods=["GET"])
@requires(Permission.WEBHOOKS_DELIVERY_READ)
@blp.response(200, schemas.DeliveryDetailSchema)
def get_delivery(delivery_id: uuid.UUID):
    """A delivery, the body it carries and every attempt made; audited."""
    ctx = current_call()
    d, attempts = service.get_delivery(session=ctx.session, actor=ctx.actor, delivery_id=delivery_id)
    return {**_delivery(d), "payload": json.loads(d.body), "attempt_log": attempts}


@blp.route("/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@requires(Permission.WEBHOOKS_DELIVERY_RETRY)
@blp.response(200, schemas.DeliverySchema)
def retry_delivery(delivery_id: uuid.UUID):
    """Re-queue a failed delivery: the next worker run sends it, with a fresh series of attempts."""
    ctx = current_call()
    return _delivery(service.retry(session=ctx.session, actor=ctx.actor, delivery_id=delivery_id))
