"""Console page for propagation webhooks (govern/webhooks): the endpoints with their deliveries per state, the queue
of deliveries (failed first: the ones a person must follow up, with the days left to do it; filters, search by id,
paging without a cap, the CSV of the view), and re-queueing a failed one. Listing and
re-queueing are the webhooks service's own functions, audited there exactly as through /api/v1/webhooks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import g, redirect, request, url_for

from govern import paging
from govern.api_support import current_call
from govern.errors import Problem, validation_failed
from govern.identity import assignees
from govern.identity import service as identity
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.sharing import service as sharing
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks

from . import queue
from .views import after_refusal, blp, may, page, t

PAGE_SIZE = 50


def _owner_names(session, endpoints) -> dict[uuid.UUID, str]:
    """The CRM component's principal name or the recipient's name, for people who do not read ids (the id on failure)."""
    names: dict[uuid.UUID, str] = {}
    for e in endpoints:
        try:
            if e.owner_kind == "principal":
                names[e.id] = identity.get_by_name_or_id(session=session, ref=str(e.owner_id)).name
            elif e.owner_kind == "recipient":
                names[e.id] = sharing.get_recipient(session=session, recipient_id=e.owner_id).name
        except Problem:
            pass
    return names


def _filters(args) -> webhooks.DeliveryFilters:
    """The deliveries shown: failed unless another state is chosen ("any" for every state), an endpoint, the assignee
    ("me", "none" or a staff member's id), the date range (days in the user's time zone), and the search box (a
    delivery's, its request's or its subject's id)."""
    state = args.get("state", "failed")
    state = None if state == "any" else state if state in webhooks.STATES else "failed"
    created_from, created_before = queue.day_range(args, "created_from", "created_to")
    errors: dict[str, list[str]] = {}
    endpoint = search = None
    try:
        endpoint = uuid.UUID(args["endpoint_id"]) if args.get("endpoint_id") else None
    except ValueError:
        errors["endpoint_id"] = ["an endpoint's id"]
    try:
        search = uuid.UUID(queue.search_text(args)) if queue.search_text(args) else None
    except ValueError:
        errors["search"] = ["a delivery's, request's or subject's id"]
    if errors:
        raise validation_failed(errors)
    return webhooks.DeliveryFilters(endpoint_id=endpoint, state=state, created_from=created_from, created_before=created_before, search=search,
                                    assignee=args.get("assignee") or None)


def _assignee_words(session):
    """A delivery's assignee by name (a former staff member as such, never a bare id), or None."""
    return lambda d: queue.assignee_words(assignees.assignee_of(session=session, principal_id=d.assignee_id))


def _follow_up(delivery) -> float | None:
    """Seconds left to follow a failed delivery up by hand (console.yaml queues.follow_up_days after it failed)."""
    if delivery.state != "failed" or delivery.failed_at is None:
        return None
    # The policy only, per row: no call context (and no session) needed.
    due = as_utc(delivery.failed_at) + timedelta(days=current_runtime().policy.console.follow_up_days)
    return (due - utcnow()).total_seconds()


def _urgency(seconds_left: float | None) -> str:
    return queue.urgency(seconds_left, current_runtime().policy.console.warn_hours * 3600)


def _context() -> dict:
    ctx = current_call()
    session = ctx.session
    endpoints = webhooks.list_endpoints(session=session)
    args = request.args
    base = dict(
        endpoints=endpoints, counts=webhooks.delivery_counts(session=session, endpoint_ids=[e.id for e in endpoints]),
        owners=_owner_names(session, endpoints), names={e.id: e.name for e in endpoints}, states=webhooks.STATES,
        can_retry=may(Permission.CONSOLE_WEBHOOKS_RETRY), done=request.args.get("done"), refused=request.args.get("refused") == "not_failed",
        args=args, follow_up=_follow_up, urgency=_urgency, time_left=queue.time_left, assignee_of=_assignee_words(session),
        staff=assignees.assignable(session=session, policy=ctx.policy, permission=webhooks.WORKS_THE_FAILURES),
    )
    try:
        filters = _filters(args)
        rows, cursor = webhooks.list_deliveries(session=session, actor=ctx.actor, filters=filters, limit=PAGE_SIZE,
                                                cursor=args.get("cursor") or None)
    except Problem as problem:
        return dict(base, problem=problem, deliveries=[], state=args.get("state", "failed"), endpoint=None, next_url=None, export_url=None)
    return dict(base, deliveries=rows, state=filters.state or "any", endpoint=filters.endpoint_id,
                **queue.links("console.webhooks_overview", "console.webhooks_export", args, cursor))


@blp.route("/webhooks", methods=["GET"])
@requires(Permission.CONSOLE_WEBHOOKS)
def webhooks_overview():
    context = _context()
    return page("webhooks.html", status=context["problem"].status if context.get("problem") else 200, **context)


@blp.route("/webhooks/export.csv", methods=["GET"])
@requires(Permission.CONSOLE_WEBHOOKS)
def webhooks_export():
    """Every delivery of the filtered view as CSV (ids, states, errors: no payload); each page's listing audited."""
    ctx = current_call()
    filters = _filters(request.args)
    names = {e.id: e.name for e in webhooks.list_endpoints(session=ctx.session)}
    rows = paging.every(lambda cursor: webhooks.list_deliveries(session=ctx.session, actor=ctx.actor, filters=filters, limit=500, cursor=cursor))
    assignee_of = _assignee_words(ctx.session)
    header = [t("delivery"), t("time"), t("endpoint"), t("event_type"), t("subject"), t("request"), t("state"), t("attempts"), t("last_error"),
              t("failed_at"), t("time_left"), t("assignee")]
    return queue.csv_response("webhook-deliveries", header, (
        (d.id, as_utc(d.created_at).isoformat(), names.get(d.endpoint_id, d.endpoint_id), d.event_type, d.subject_id, d.request_id or "",
         t(f"delivery_state.{d.state}"), d.attempts, " ".join(x for x in (f"HTTP {d.last_status}" if d.last_status else "", d.last_error or "") if x),
         as_utc(d.failed_at).isoformat() if d.failed_at else "", queue.time_left(left) if (left := _follow_up(d)) is not None else "",
         assignee_of(d) or "")
        for d in rows
    ))


@blp.route("/webhooks/deliveries/<uuid:delivery_id>", methods=["GET"])
@requires(Permission.CONSOLE_WEBHOOKS)
def webhook_delivery(delivery_id: uuid.UUID):
    """One delivery (its read audited, as through the API): what was sent where, its state, and who follows it up,
    with the assignment and the re-queue for the roles that may."""
    return _delivery_page(delivery_id)


def _delivery_page(delivery_id: uuid.UUID, problem: Problem | None = None):
    ctx = current_call()
    delivery, _ = webhooks.get_delivery(session=ctx.session, actor=ctx.actor, delivery_id=delivery_id)
    endpoint = webhooks.get_endpoint(session=ctx.session, endpoint_id=delivery.endpoint_id)
    can_assign = may(webhooks.WORKS_THE_FAILURES) and delivery.state != "delivered"
    return page(
        "delivery.html", status=problem.status if problem else 200, problem=problem, d=delivery, endpoint=endpoint, done=request.args.get("done"),
        follow_up=_follow_up, urgency=_urgency, time_left=queue.time_left,
        can_retry=may(Permission.CONSOLE_WEBHOOKS_RETRY) and delivery.state == "failed", can_assign=can_assign,
        assignee=queue.assignee_words(assignees.assignee_of(session=ctx.session, principal_id=delivery.assignee_id)),
        staff=assignees.assignable(session=ctx.session, policy=ctx.policy, permission=webhooks.WORKS_THE_FAILURES) if can_assign else [],
    )


@blp.route("/webhooks/deliveries/<uuid:delivery_id>/assign", methods=["POST"])
@requires(webhooks.WORKS_THE_FAILURES)
def webhook_assign(delivery_id: uuid.UUID):
    """Assigns the delivery to the signed-in user ("me"), to another staff member who re-queues deliveries (their id),
    or to nobody (""); refused on the delivery's page once it has been delivered (409) or for anyone else (400)."""
    try:
        ctx = current_call()
        webhooks.assign(**ctx.services(), delivery_id=delivery_id, assignee_id=queue.assignee_chosen(request.form, g.actor))
    except Problem as problem:
        if problem.status in (400, 409):
            # Said over the delivery as it stands: the assignment undone, the page's read kept audited (after_refusal).
            return after_refusal(problem, _delivery_page, delivery_id)
        raise
    return redirect(url_for("console.webhook_delivery", delivery_id=delivery_id, done="assign"))


@blp.route("/webhooks/deliveries/<uuid:delivery_id>/retry", methods=["POST"])
@requires(Permission.CONSOLE_WEBHOOKS_RETRY)
def webhook_retry(delivery_id: uuid.UUID):
    """The same re-queue as POST /api/v1/webhooks/deliveries/<id>/retry (webhooks:delivery:requeue in the audit log)."""
    try:
        ctx = current_call()
        webhooks.retry(session=ctx.session, actor=ctx.actor, delivery_id=delivery_id)
    except Problem as problem:
        if problem.status == 409:
            # Already re-queued or delivered (a second click): said on the page, which is listed afresh (and its
            # listing audited) by a GET, not inside this refused request's rolled-back transaction.
            return redirect(url_for("console.webhooks_overview", refused="not_failed"))
        raise
    return redirect(url_for("console.webhooks_overview", done="requeue"))
