"""Retention API: legal holds (place, list, lift), the rules in force, plans (dry run, save, approve) and purge
runs. The purge itself is a CLI job (`govern retention purge`): long, batched and resumable. Thin: rules in service.py."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask_smorest import Blueprint

from govern.api_lists import SCAN, answer_page, moment
from govern.api_support import current_call
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.retention import schemas, service
from govern.timeutil import utcnow

blp = Blueprint("retention", __name__, url_prefix="/api/v1", description="Retention rules, legal holds, purge plans and runs")


def plan_dict(plan, summary: dict | None = None, status: str | None = None) -> dict:
    if plan is None:
        t = summary["totals"]
        return {
            "id": None, "status": "dry_run", "as_of": datetime.fromisoformat(summary["as_of"]), "items": t["fields"] + t["records"] + t["subjects"], "unattended": False,
            "created_by": None, "created_at": None, "approved_by": None, "approved_at": None, "note": None, "assignee_id": None, "summary": summary,
        }
    return {
        "id": plan.id, "status": status or plan.status, "as_of": plan.as_of, "items": plan.items, "unattended": plan.unattended,
        "created_by": plan.created_by, "created_at": plan.created_at, "approved_by": plan.approved_by, "approved_at": plan.approved_at,
        "note": plan.note, "assignee_id": plan.assignee_id, "summary": plan.summary,
    }


def run_dict(run) -> dict:
    return {
        "id": run.id, "plan_id": run.plan_id, "mode": run.mode, "status": run.status, "total": run.total, "done_through": run.cursor,
        "counts": run.counts, "rules": run.rules, "attempts": run.attempts, "started_by": run.started_by, "approved_by": run.approved_by,
        "started_at": run.started_at, "finished_at": run.finished_at, "last_error": run.last_error,
    }


def hold_dict(hold, record_ids) -> dict:
    return {
        "id": hold.id, "subject_id": hold.subject_id, "scope": hold.scope, "record_type": hold.record_type, "record_ids": record_ids,
        "reason": hold.reason, "note": hold.note, "owner": hold.owner, "until": hold.until, "active": service.is_active(hold, utcnow()),
        "created_by": hold.created_by, "created_at": hold.created_at, "lifted_at": hold.lifted_at, "lifted_by": hold.lifted_by,
        "lift_reason": hold.lift_reason,
    }


@blp.route("/holds", methods=["POST"])
@requires(Permission.RETENTION_HOLD_MANAGE)
@blp.arguments(schemas.LegalHoldCreateSchema)
@blp.response(201, schemas.LegalHoldSchema)
def place_hold(body):
    """Place a legal hold on a subject, one record type of it, or some of its records. Held data is never purged."""
    ctx = current_call()
    hold = service.place_hold(**ctx.services(), **body)
    return hold_dict(hold, service.hold_record_ids(session=ctx.session, hold_id=hold.id))


@blp.route("/holds", methods=["GET"])
@requires(Permission.RETENTION_HOLD_READ)
@blp.arguments(schemas.LegalHoldQuerySchema, location="query")
@blp.response(200, schemas.LegalHoldPageSchema)
def list_holds(query):
    """Holds, newest first: those in force, or all with active=false; for one subject with subject_id."""
    ctx = current_call()
    session = ctx.session
    holds = service.list_holds(session=session, subject_id=query["subject_id"], active_only=query["active"], limit=SCAN)
    return answer_page(ctx.envelope, holds, query, key=lambda h: (moment(h.created_at), str(h.id)), descending=True,
                       view=lambda h: hold_dict(h, service.hold_record_ids(session=session, hold_id=h.id)))


@blp.route("/holds/<uuid:hold_id>", methods=["GET"])
@requires(Permission.RETENTION_HOLD_READ)
@blp.response(200, schemas.LegalHoldSchema)
def get_hold(hold_id: uuid.UUID):
    session = current_call().session
    return hold_dict(service.get_hold(session=session, hold_id=hold_id), service.hold_record_ids(session=session, hold_id=hold_id))


@blp.route("/holds/<uuid:hold_id>", methods=["DELETE"])
@requires(Permission.RETENTION_HOLD_MANAGE)
@blp.arguments(schemas.LegalHoldLiftSchema, location="query")
@blp.response(200, schemas.LegalHoldSchema)
def lift_hold(query, hold_id: uuid.UUID):
    """Lift a hold (audited); the hold stays on record with who lifted it, when and why."""
    ctx = current_call()
    hold = service.lift_hold(session=ctx.session, actor=ctx.actor, hold_id=hold_id, reason=query["reason"])
    return hold_dict(hold, service.hold_record_ids(session=ctx.session, hold_id=hold_id))


@blp.route("/retention/rules", methods=["GET"])
@requires(Permission.RETENTION_PLAN_READ)
@blp.arguments(schemas.RuleQuerySchema, location="query")
@blp.response(200, schemas.RetentionRulePageSchema)
def list_rules(query):
    """The retention rules in force (policies/retention.yaml), by name: what each covers, how long, from when, and why."""
    rt = current_runtime()  # the policy and keys only: no call context, which would open a session this never uses
    return answer_page(rt.envelope, rt.policy.retention.rules.values(), query, key=lambda r: (r.name,), view=lambda r: {
        "rule": r.name, "target": r.target, "covers": sorted(r.names), "keep": str(r.keep), "counted_from": r.counted_from,
        "on_account_closure": r.on_account_closure, "legal_basis": {"code": r.legal_basis_code, "text": r.legal_basis_text}})


@blp.route("/retention/plans", methods=["POST"])
@requires(Permission.RETENTION_PLAN_CREATE)
@blp.arguments(schemas.RetentionPlanCreateSchema)
@blp.response(201, schemas.RetentionPlanSchema)
@blp.alt_response(200, description="A dry run (dry_run: true): the report only, nothing saved")
def create_plan(body):
    """Compute what is due now, per rule; save it as a draft for a second person to approve (or only report it)."""
    made = service.make_plan(**current_call().services(), save=not body["dry_run"], note=body["note"])
    payload = plan_dict(made.plan, made.summary)
    return (payload, 200) if made.plan is None else payload


@blp.route("/retention/plans", methods=["GET"])
@requires(Permission.RETENTION_PLAN_READ)
@blp.arguments(schemas.PlanQuerySchema, location="query")
@blp.response(200, schemas.RetentionPlanPageSchema)
def list_plans(query):
    """Saved plans, newest first."""
    ctx = current_call()
    rp = ctx.policy.retention
    return answer_page(ctx.envelope, service.list_plans(session=ctx.session, limit=SCAN), query, key=lambda p: (moment(p.created_at), str(p.id)),
                       descending=True, view=lambda p: plan_dict(p, status=service.plan_status(p, rp)))


@blp.route("/retention/plans/<uuid:plan_id>", methods=["GET"])
@requires(Permission.RETENTION_PLAN_READ)
@blp.response(200, schemas.RetentionPlanSchema)
def get_plan(plan_id: uuid.UUID):
    ctx = current_call()
    plan = service.get_plan(session=ctx.session, plan_id=plan_id)
    return plan_dict(plan, status=service.plan_status(plan, ctx.policy.retention))


@blp.route("/retention/plans/<uuid:plan_id>/approve", methods=["POST"])
@requires(Permission.RETENTION_PLAN_APPROVE)
@blp.response(200, schemas.RetentionPlanSchema)
@blp.alt_response(403, description="approver_is_creator: the person who made a plan cannot approve it")
@blp.alt_response(409, description="plan_not_draft or policy_changed")
def approve_plan(plan_id: uuid.UUID):
    """Approve a plan someone else made; `govern retention purge --plan ID` then executes exactly it."""
    return plan_dict(service.approve_plan(**current_call().services(), plan_id=plan_id))


@blp.route("/retention/runs", methods=["GET"])
@requires(Permission.RETENTION_RUN_READ)
@blp.arguments(schemas.RunQuerySchema, location="query")
@blp.response(200, schemas.RetentionRunPageSchema)
def list_runs(query):
    """Purge runs, newest first: plan, status, counts per rule, attempts, who started and who approved."""
    ctx = current_call()
    return answer_page(ctx.envelope, service.list_runs(session=ctx.session, limit=SCAN), query, key=lambda r: (r.id,), descending=True, view=run_dict)


@blp.route("/retention/runs/<int:run_id>", methods=["GET"])
@requires(Permission.RETENTION_RUN_READ)
@blp.response(200, schemas.RetentionRunSchema)
def get_run(run_id: int):
    return run_dict(service.get_run(session=current_call().session, run_id=run_id))
