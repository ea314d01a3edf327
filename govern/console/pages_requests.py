"""Console pages for data-subject requests (govern/requests): the queue, a request with its timeline, and the
actions its state allows. Every rule (states, deadlines, verification, extension, refusal) is the requests service's."""

from __future__ import annotations

import uuid

from flask import Response, redirect, request, url_for

from govern.api_support import current_call
from govern.consent import objections
from govern.errors import Problem
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.requests import flows
from govern.requests import service as requests
from govern.timeutil import as_utc, utcnow

from .views import HOME_PANELS, blp, language, may, page, parse_local, problem_page


def _home_panel():
    if not may(Permission.CONSOLE_REQUESTS):
        return None
    items = requests.queue(**current_call().services(), limit=200)
    return {"items": items[:8], "overdue": sum(1 for i in items if i.overdue), "due_soon": sum(1 for i in items if i.due_soon)}


HOME_PANELS.append(("requests", _home_panel))


@blp.route("/requests", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def requests_queue():
    args = request.args
    state = args.get("state") or None
    rtype = args.get("type") or None
    jurisdiction = args.get("jurisdiction") or None
    due_before = parse_local(args.get("due_before"))
    try:
        items = requests.queue(**current_call().services(), state=state, type=rtype, due_before=due_before, limit=500)
    except Problem as problem:
        return problem_page(problem, "requests.html", items=[], args=args, states=requests.STATES, types=requests.REQUEST_TYPES, jurisdictions=[])
    if jurisdiction:
        items = [i for i in items if i.request.jurisdiction == jurisdiction]
    return page("requests.html", items=items, args=args, states=requests.STATES, types=requests.REQUEST_TYPES,
                jurisdictions=sorted(current_runtime().policy.request_terms))


def _detail(request_id: uuid.UUID, *, status: int = 200, problem: Problem | None = None):
    req, events, deadlines = requests.read(**current_call().services(), request_id=request_id)
    is_open = req.state in requests.OPEN
    due = as_utc(req.due_at)
    manage = may(Permission.CONSOLE_REQUESTS_MANAGE)
    context = dict(
        req=req, events=events, deadlines=deadlines, overdue=is_open and due < utcnow(), due=due, manage=manage,
        can_verify=manage and is_open and req.verification_required and req.verified_at is None and req.locked_at is None,
        can_act=manage and req.state == "in_progress", can_refuse=manage and is_open,
        has_package=manage and may(Permission.REQUESTS_PACKAGE) and req.type in flows.PACKAGE_TYPES and req.verified_at is not None and req.state in ("in_progress", "completed"),
        reasons=requests.REFUSAL_REASONS, done=request.args.get("done"), **_objections(req, manage),
    )
    if problem is not None:
        return problem_page(problem, "request.html", **context)
    return page("request.html", status=status, **context)


def _objections(req, manage: bool) -> dict:
    """A completed objection request's objections: those it recorded, and whatever stands now for a purpose it named
    (requests.lift_objection lifts the subject's standing one), with who lifted them, when and on what grounds."""
    named = (req.response or {}).get("legitimate_interest_objected", []) if req.type == "objection" and req.state == "completed" else []
    if not named:
        return {"objections": None}
    rows = [o for o in objections.objections_of(session=current_runtime().session(), subject_id=req.subject_id)
            if o.purpose in named and (o.request_id == req.id or o.lifted_at is None)]
    standing = [o for o in rows if o.lifted_at is None]
    policy = current_runtime().policy
    labels = {name: (policy.purposes[name].label.get(language()) if name in policy.purposes else None) or name for name in named}
    return {"objections": {"standing": standing, "lifted": [o for o in rows if o.lifted_at is not None], "labels": labels},
            "can_lift": manage and bool(standing)}


@blp.route("/requests/<uuid:request_id>", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def request_detail(request_id: uuid.UUID):
    return _detail(request_id)


def _act(request_id: uuid.UUID, done: str, fn):
    try:
        fn()
    except Problem as problem:
        if problem.status in (400, 409, 423):
            # A refused move is shown on the request's own page. Its transaction is rolled back (status >= 400).
            return _detail(request_id, problem=problem)
        raise
    return redirect(url_for("console.request_detail", request_id=request_id, done=done))


@blp.route("/requests/<uuid:request_id>/verify", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_verify(request_id: uuid.UUID):
    rt = current_runtime()
    return _act(request_id, "verify", lambda: requests.verify(
        **current_call().services(), envelope=rt.envelope, request_id=request_id, method="document", reference=request.form.get("reference", "").strip(),
        passed=request.form.get("passed") == "yes",
    ))


@blp.route("/requests/<uuid:request_id>/extend", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_extend(request_id: uuid.UUID):
    return _act(request_id, "extend", lambda: requests.extend(**current_call().services(), request_id=request_id, reason=request.form.get("reason")))


@blp.route("/requests/<uuid:request_id>/complete", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_complete(request_id: uuid.UUID):
    rt = current_runtime()
    return _act(request_id, "complete", lambda: flows.complete(
        **current_call().services(), envelope=rt.envelope, request_id=request_id, ledgers=rt.ledgers, explanation=request.form.get("explanation") or None,
    ))


@blp.route("/requests/<uuid:request_id>/refuse", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_refuse(request_id: uuid.UUID):
    return _act(request_id, "refuse", lambda: requests.refuse(
        **current_call().services(), request_id=request_id, reason=request.form.get("reason", ""), legal_basis=request.form.get("legal_basis", ""),
        explanation=request.form.get("explanation") or None,
    ))


@blp.route("/requests/<uuid:request_id>/objections/lift", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_lift_objection(request_id: uuid.UUID):
    """The same lift as POST /api/v1/requests/<id>/objections/lift: compelling legitimate grounds required (GDPR Art. 21(1))."""
    return _act(request_id, "lift_objection", lambda: requests.lift_objection(
        **current_call().services(), request_id=request_id, purpose=request.form.get("purpose", ""), reason=request.form.get("reason", ""),
    ))


@blp.route("/requests/<uuid:request_id>/package", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_package(request_id: uuid.UUID):
    """The same access package as GET /api/v1/requests/<id>/package, for staff holding requests:package:download (the
    flow checks it); its hash is audited by the flow."""
    rt = current_runtime()
    pkg = flows.package(**current_call().services(), envelope=rt.envelope, request_id=request_id)
    return Response(pkg.content, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{pkg.filename}"', "X-Content-SHA256": pkg.sha256,
    })
