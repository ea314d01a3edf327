"""Console page for propagation webhooks (govern/webhooks): the endpoints with their deliveries per state, the
deliveries of one state (failed first: the ones a person must follow up), and re-queueing a failed one. Listing and
re-queueing are the webhooks service's own functions, audited there exactly as through /api/v1/webhooks."""

from __future__ import annotations

import uuid

from flask import redirect, request, url_for

from govern.errors import Problem
from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission
from govern.webhooks import service as webhooks

from .views import blp, domain_present, may, page

PAGE_SIZE = 50


def _owner_names(session, endpoints) -> dict[uuid.UUID, str]:
    """The CRM component's principal name or the recipient's name, for people who do not read ids (the id on failure)."""
    from govern.identity import service as identity

    names: dict[uuid.UUID, str] = {}
    for e in endpoints:
        try:
            if e.owner_kind == "principal":
                names[e.id] = identity.get_by_name_or_id(session=session, ref=str(e.owner_id)).name
            elif domain_present("sharing"):
                from govern.sharing import service as sharing

                names[e.id] = sharing.get_recipient(session=session, recipient_id=e.owner_id).name
        except Problem:
            pass
    return names


def _filters() -> tuple[str | None, uuid.UUID | None]:
    """The state shown (failed unless another is chosen; "any" for every state) and the endpoint, from the query."""
    state = request.args.get("state", "failed")
    state = None if state == "any" else state if state in webhooks.STATES else "failed"
    try:
        endpoint = uuid.UUID(request.args["endpoint_id"]) if request.args.get("endpoint_id") else None
    except ValueError:
        endpoint = None
    return state, endpoint


def _context() -> dict:
    session = current_runtime().session()
    endpoints = webhooks.list_endpoints(session=session)
    state, endpoint = _filters()
    rows, cursor = webhooks.list_deliveries(
        session=session, actor=current_actor(), filters=webhooks.DeliveryFilters(endpoint_id=endpoint, state=state),
        limit=PAGE_SIZE, cursor=request.args.get("cursor") or None,
    )
    older = None
    if cursor:
        older = url_for("console.webhooks_overview", state=state or "any", endpoint_id=endpoint, cursor=cursor)
    return dict(
        endpoints=endpoints, counts=webhooks.delivery_counts(session=session, endpoint_ids=[e.id for e in endpoints]),
        owners=_owner_names(session, endpoints), names={e.id: e.name for e in endpoints}, deliveries=rows, older=older,
        state=state or "any", endpoint=endpoint, states=webhooks.STATES, can_retry=may(Permission.CONSOLE_WEBHOOKS_RETRY),
        done=request.args.get("done"), refused=request.args.get("refused") == "not_failed",
    )


@blp.route("/webhooks", methods=["GET"])
@requires(Permission.CONSOLE_WEBHOOKS)
def webhooks_overview():
    return page("webhooks.html", **_context())


@blp.route("/webhooks/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@requires(Permission.CONSOLE_WEBHOOKS_RETRY)
def webhook_retry(delivery_id: uuid.UUID):
    """The same re-queue as POST /api/v1/webhooks/deliveries/<id>/retry (webhooks:delivery:requeue in the audit log)."""
    try:
        webhooks.retry(session=current_runtime().session(), actor=current_actor(), delivery_id=delivery_id)
    except Problem as problem:
        if problem.status == 409:
            # Already re-queued or delivered (a second click): said on the page, which is listed afresh (and its
            # listing audited) by a GET, not inside this refused request's rolled-back transaction.
            return redirect(url_for("console.webhooks_overview", refused="not_failed"))
        raise
    return redirect(url_for("console.webhooks_overview", done="requeue"))
