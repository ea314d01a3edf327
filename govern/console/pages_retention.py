"""Console pages for retention (govern/retention): purge plans to review and approve (the second person), purge runs
with their counts, and legal holds. Approval goes through retention.service.approve_plan, which refuses the plan's
own author; nothing here decides what is due."""

from __future__ import annotations

import uuid

from flask import redirect, request, url_for

from govern.errors import Problem
from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission
from govern.retention import service as retention

from .views import HOME_PANELS, blp, may, page


def _statuses(plans):
    rp = current_runtime().policy.retention
    return {plan.id: retention.plan_status(plan, rp) for plan in plans}


def _home_panel():
    if not may(Permission.CONSOLE_RETENTION):
        return None
    session = current_runtime().session()
    runs = retention.list_runs(session=session, limit=1)
    plans = retention.list_plans(session=session, limit=100)
    statuses = _statuses(plans)
    return {"run": runs[0] if runs else None, "awaiting": sum(1 for p in plans if statuses[p.id] == "draft")}


HOME_PANELS.append(("retention", _home_panel))


@blp.route("/retention", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_overview():
    session = current_runtime().session()
    plans = retention.list_plans(session=session, limit=50)
    return page(
        "retention.html", plans=plans, statuses=_statuses(plans), runs=retention.list_runs(session=session, limit=50),
        holds=retention.list_holds(session=session, active_only=True, limit=200),
    )


@blp.route("/retention/plans/<uuid:plan_id>", methods=["GET"])
@requires(Permission.CONSOLE_RETENTION)
def retention_plan(plan_id: uuid.UUID, problem: Problem | None = None):
    plan = retention.get_plan(session=current_runtime().session(), plan_id=plan_id)
    status = _statuses([plan])[plan.id]
    return page(
        "plan.html", status=problem.status if problem else 200, plan=plan, plan_status=status, problem=problem, done=request.args.get("done"),
        can_approve=may(Permission.CONSOLE_RETENTION_APPROVE) and status == "draft",
    )


@blp.route("/retention/plans/<uuid:plan_id>/approve", methods=["POST"])
@requires(Permission.CONSOLE_RETENTION_APPROVE)
def retention_approve(plan_id: uuid.UUID):
    rt = current_runtime()
    try:
        retention.approve_plan(session=rt.session(), policy=rt.policy, actor=current_actor(), plan_id=plan_id)
    except Problem as problem:
        if problem.status in (400, 403, 409):
            from flask import g

            if problem.audit is not None:
                g.refusal_audit = problem.audit
            return retention_plan(plan_id, problem=problem)
        raise
    return redirect(url_for("console.retention_plan", plan_id=plan_id, done="approve"))
