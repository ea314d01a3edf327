"""Console pages for retention (govern/retention): purge plans to review and approve (the second person), purge runs
with their counts, and legal holds. Approval goes through retention.service.approve_plan, which refuses the plan's
own author; nothing here decides what is due."""

from __future__ import annotations

import uuid

from flask import g, redirect, request, url_for

from govern import paging
from govern.api_support import current_call
from govern.errors import Problem
from govern.identity import assignees
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.retention import purge
from govern.retention import service as retention
from govern.timeutil import as_utc

from . import queue
from .views import HOME_PANELS, after_refusal, blp, may, page, t

PAGE_SIZE = 50


def _statuses(plans):
    rp = current_runtime().policy.retention  # the policy only: no call context (and no session) needed
    return {plan.id: retention.plan_status(plan, rp) for plan in plans}


def _home_panel():
    if not may(Permission.CONSOLE_RETENTION):
        return None
    session = current_call().session
    runs = retention.list_runs(session=session, limit=1)
    plans = retention.list_plans(session=session, limit=100)
    statuses = _statuses(plans)
    return {"run": runs[0] if runs else None, "awaiting": sum(1 for p in plans if statuses[p.id] == "draft")}


HOME_PANELS.append(("retention", _home_panel))


@blp.route("/retention", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_overview():
    ctx = current_call()
    plans = retention.list_plans(session=ctx.session, limit=50)
    return page(
        "retention.html", plans=plans, statuses=_statuses(plans), runs=retention.list_runs(session=ctx.session, limit=50),
        holds=retention.list_holds(session=ctx.session, active_only=True, limit=200), hold_reasons=ctx.policy.retention.hold_reasons,
    )


def _plan_filters(args) -> retention.PlanFilters:
    created_from, created_before = queue.day_range(args, "created_from", "created_to")
    return retention.PlanFilters(state=args.get("state") or "awaiting", created_from=created_from, created_before=created_before,
                                 search=queue.search_text(args), assignee=args.get("assignee") or None)


def _plan_urgency(row: retention.PlanRow) -> str:
    return queue.urgency(row.seconds_left, current_runtime().policy.console.warn_hours * 3600, running=row.expires_at is not None)


@blp.route("/retention/plans", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_plans():
    """The queue of purge plans: awaiting approval or a run by default, filters by status, assignee, date and plan id, a
    page at a time (a cursor: no cap), the CSV of the same view; the time left before a plan expires unrun, coloured."""
    ctx, args = current_call(), request.args
    context = dict(args=args, groups=tuple(retention.PLAN_GROUPS), states=retention.PLAN_STATUSES, urgency=_plan_urgency, time_left=queue.time_left,
                   staff=assignees.assignable(session=ctx.session, policy=ctx.policy, permission=retention.WORKS_THE_PLANS),
                   assignee_words=queue.assignee_words)
    try:
        rows, cursor = retention.plan_queue(session=ctx.session, policy=ctx.policy, filters=_plan_filters(args), cursor=args.get("cursor") or None,
                                              limit=PAGE_SIZE, actor=ctx.actor)
    except Problem as problem:
        return page("plans.html", status=problem.status, problem=problem, rows=[], next_url=None, export_url=None, **context)
    return page("plans.html", rows=rows, **queue.links("console.retention_plans", "console.retention_plans_export", args, cursor), **context)


@blp.route("/retention/plans/export.csv", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_plans_export():
    """Every plan of the filtered queue as CSV (the same columns as the page)."""
    ctx = current_call()
    filters = _plan_filters(request.args)
    rows = paging.every(lambda cursor: retention.plan_queue(session=ctx.session, policy=ctx.policy, filters=filters, cursor=cursor, limit=500,
                                                            actor=ctx.actor))
    header = [t("plan"), t("state"), t("items"), t("created_by"), t("created_at"), t("approved_by"), t("expires_at"), t("time_left"), t("assignee")]
    return queue.csv_response("purge-plans", header, (
        (r.plan.id, t(f"plan_status.{r.status}"), r.plan.items, r.plan.created_by, as_utc(r.plan.created_at).isoformat(), r.plan.approved_by or "",
         r.expires_at.isoformat() if r.expires_at else "", queue.time_left(r.seconds_left) if r.seconds_left is not None else "",
         queue.assignee_words(r.assignee) or "")
        for r in rows
    ))


@blp.route("/retention/plans/<uuid:plan_id>", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_plan(plan_id: uuid.UUID, problem: Problem | None = None):
    ctx = current_call()
    session = ctx.session
    plan = retention.get_plan(session=session, plan_id=plan_id)
    status = _statuses([plan])[plan.id]
    run = next(iter(retention.runs_of(session=session, plan_id=plan.id)), None)
    can_assign = may(retention.WORKS_THE_PLANS) and retention.plan_is_open(session=session, plan=plan, rp=ctx.policy.retention)
    return page(
        "plan.html", status=problem.status if problem else 200, plan=plan, plan_status=status, problem=problem, done=request.args.get("done"),
        can_approve=may(Permission.CONSOLE_RETENTION_APPROVE) and status == "draft", run=run,
        can_run=may(Permission.CONSOLE_RETENTION_RUN) and (status == "approved" or (run is not None and run.status != "completed")),
        command=f"govern retention purge --plan {plan.id}", can_assign=can_assign,
        assignee=queue.assignee_words(assignees.assignee_of(session=session, principal_id=plan.assignee_id)),
        staff=assignees.assignable(session=session, policy=ctx.policy, permission=retention.WORKS_THE_PLANS) if can_assign else [],
    )


@blp.route("/retention/plans/<uuid:plan_id>/approve", methods=["POST"])
@requires(Permission.CONSOLE_RETENTION_APPROVE)
def retention_approve(plan_id: uuid.UUID):
    try:
        retention.approve_plan(**current_call().services(), plan_id=plan_id)
    except Problem as problem:
        if problem.status in (400, 403, 409):
            return after_refusal(problem, retention_plan, plan_id)
        raise
    return redirect(url_for("console.retention_plan", plan_id=plan_id, done="approve"))


@blp.route("/retention/plans/<uuid:plan_id>/assign", methods=["POST"])
@requires(retention.WORKS_THE_PLANS)
def retention_assign(plan_id: uuid.UUID):
    """Assigns the plan to the signed-in user ("me"), to another staff member who approves and runs plans (their id),
    or to nobody (""); refused on the plan's page once the plan is finished (409) or for anyone else (400)."""
    try:
        retention.assign_plan(**current_call().services(), plan_id=plan_id, assignee_id=queue.assignee_chosen(request.form, g.actor))
    except Problem as problem:
        if problem.status in (400, 409):
            return after_refusal(problem, retention_plan, plan_id)
        raise
    return redirect(url_for("console.retention_plan", plan_id=plan_id, done="assign"))


@blp.route("/retention/plans/<uuid:plan_id>/run", methods=["POST"])
@requires(Permission.CONSOLE_RETENTION_RUN)
def retention_run(plan_id: uuid.UUID):
    """Executes an approved plan (or resumes its unfinished run) as `govern retention purge --plan` does: in batches, each
    committed with its ledger entries, under the purge lock; the signed-in person is the run's actor in the audit log.
    Interrupted, nothing is lost: the same button or command resumes it."""
    ctx, rt = current_call(), current_runtime()  # the runtime for what a job needs beyond a call: the database, the ledgers
    # The purge commits batch by batch in its own transactions, as the command does; what this request wrote so far
    # (the console session's last use) is committed first, or SQLite's single writer would wait on it.
    ctx.session.commit()
    try:
        purge.purge_plan(database=rt.database, envelope=ctx.envelope, policy=ctx.policy, actor=ctx.actor, plan_id=plan_id, ledgers=rt.ledgers)
    except purge.PurgeBusy as exc:
        return after_refusal(Problem(409, "purge_busy", t("purge_busy"), str(exc)), retention_plan, plan_id)
    except purge.PurgeRefused as exc:
        return after_refusal(Problem(409, "purge_refused", t("purge_refused"), str(exc)), retention_plan, plan_id)
    except purge.PurgeInterrupted as exc:
        return after_refusal(Problem(503, "purge_interrupted", t("purge_interrupted"), str(exc)), retention_plan, plan_id)
    return redirect(url_for("console.retention_plan", plan_id=plan_id, done="run"))
