"""Console pages for data-subject requests (govern/subject_requests): the queue, a request with its timeline, and the
actions its state allows. Every rule (states, deadlines, verification, extension, refusal) is the requests service's."""

from __future__ import annotations

import hashlib
import json
import uuid
from zoneinfo import ZoneInfo

from flask import Response, g, redirect, request, url_for

from govern.api_support import current_call
from govern.consent import objections, scopes
from govern.errors import Problem
from govern.identity import assignees
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.retention.policy import RetentionPolicy
from govern.subject_requests import flows, workbench
from govern.subject_requests import service as requests
from govern.timeutil import as_utc, utcnow

from . import certificate_pdf, queue
from .policy_text import kept_basis
from .views import HOME_PANELS, after_refusal, blp, language, may, page, problem_page, retention_rule_name, t


def _home_panel():
    if not may(Permission.CONSOLE_REQUESTS):
        return None
    items = requests.queue(**current_call().services(), limit=200)
    return {"items": items[:8], "overdue": sum(1 for i in items if i.overdue), "due_soon": sum(1 for i in items if i.due_soon)}


HOME_PANELS.append(("requests", _home_panel))


def _filters(args) -> workbench.Filters:
    """The queue's filters from the page's query string; dates are days in the user's time zone, `to` inclusive."""
    received_from, received_before = queue.day_range(args, "received_from", "received_to")
    return workbench.Filters(
        state=args.get("state") or "open", type=args.get("type") or None, jurisdiction=args.get("jurisdiction") or None,
        assignee=args.get("assignee") or None, received_from=received_from, received_before=received_before, search=queue.search_text(args),
    )


def _urgency(row: workbench.Row) -> str:
    if row.item.request.state not in requests.OPEN:
        return "closed"
    return "bad" if row.item.overdue else "warn" if row.item.due_soon else "ok"


@blp.route("/requests", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def requests_queue():
    """The queue a DPO works from: filters, search, a page at a time (a cursor: no cap), the CSV of the same view."""
    args = request.args
    ctx = current_call()
    context = dict(args=args, states=requests.STATES, groups=tuple(workbench.STATE_GROUPS), types=requests.REQUEST_TYPES,
                   jurisdictions=sorted(ctx.policy.request_terms), staff=assignees.assignable(session=ctx.session, policy=ctx.policy, permission=workbench.WORKS_THE_QUEUE), urgency=_urgency,
                   assignee_words=queue.assignee_words)
    try:
        result = workbench.page(**current_call().services(), filters=_filters(args), cursor=args.get("cursor") or None, limit=workbench.PAGE_SIZE)
    except Problem as problem:
        return problem_page(problem, "requests.html", rows=[], next_url=None, export_url=None, **context)
    return page("requests.html", rows=result.rows, **queue.links("console.requests_queue", "console.requests_export", args, result.next_cursor), **context)


@blp.route("/requests/export.csv", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def requests_export():
    """Every row of the filtered queue as CSV (UTF-8 with BOM, so a spreadsheet reads the Chinese); each page read audited."""
    try:
        rows = list(workbench.every_row(**current_call().services(), filters=_filters(request.args)))
    except Problem as problem:
        return problem_page(problem, "requests.html", rows=[], next_url=None, export_url=None, args=request.args, states=requests.STATES,
                            groups=tuple(workbench.STATE_GROUPS), types=requests.REQUEST_TYPES, jurisdictions=[], staff=[], urgency=_urgency,
                            assignee_words=queue.assignee_words)
    header = [t("request"), t("external_ref"), t("type"), t("jurisdiction"), t("state"), t("received_at"), t("due_at"), t("days_left"), t("assignee")]
    return queue.csv_response("requests", header, (
        (row.item.request.id, row.external_ref, t(f"request_type.{row.item.request.type}"), row.item.request.jurisdiction,
         t(f"request_state.{row.item.request.state}"), as_utc(row.item.request.received_at).isoformat(), row.item.due_at.isoformat(),
         row.days_left if row.item.request.state in requests.OPEN else "", queue.assignee_words(row.assignee) or "")
        for row in rows
    ))


def _detail(request_id: uuid.UUID, *, status: int = 200, problem: Problem | None = None):
    req, events, deadlines = requests.read(**current_call().services(), request_id=request_id)
    is_open = req.state in requests.OPEN
    due = as_utc(req.due_at)
    manage = may(Permission.CONSOLE_REQUESTS_MANAGE)
    context = dict(
        req=req, events=events, deadlines=deadlines, overdue=is_open and due < utcnow(), due=due, manage=manage, clock=_clock_words(req),
        can_verify=manage and is_open and req.verification_required and req.verified_at is None and req.locked_at is None,
        can_act=manage and req.state == "in_progress", can_refuse=manage and is_open,
        has_package=manage and may(Permission.REQUESTS_PACKAGE) and req.type in flows.PACKAGE_TYPES and req.verified_at is not None and req.state in ("in_progress", "completed"),
        reasons=requests.REFUSAL_REASONS, done=request.args.get("done"), **_objections(req, manage), **_workbench(req, manage, is_open),
        consents=_consents(req),
    )
    if problem is not None:
        return problem_page(problem, "request.html", **context)
    return page("request.html", status=status, **context)


def _clock_words(req) -> str:
    """The deadline clock: running or paused while the request is open; once closed, stopped — why and on which day,
    in the jurisdiction's time zone (the one its deadline is counted in), so a closed request never reads as running."""
    if req.state in requests.OPEN:
        return t("clock_paused") if req.paused else t("clock_running")
    terms, _ = requests.terms_of(current_runtime().policy, req)
    day = as_utc(req.closed_at).astimezone(ZoneInfo(terms.time_zone)).date().isoformat() if req.closed_at else "—"
    return t(f"clock_stopped.{req.state}", day=day, zone=terms.time_zone)


def _workbench(req, manage: bool, is_open: bool) -> dict:
    """The queue's actions on the request page: acknowledge, pause, resume, assign; an erasure's preview and certificate."""
    ctx = current_call()
    _, rule = requests.terms_of(ctx.policy, req)
    staff = assignees.assignable(session=ctx.session, policy=ctx.policy, permission=workbench.WORKS_THE_QUEUE) if manage and is_open else []
    assignee = queue.assignee_words(assignees.assignee_of(session=ctx.session, principal_id=req.assignee_id))
    erasure = req.type in flows.ERASURE_TYPES
    return {
        "can_ack": manage and is_open and req.acknowledged_at is None,
        "can_pause": manage and is_open and rule.pause_allowed and not req.paused,
        "can_resume": manage and is_open and req.paused,
        # Only where the jurisdiction's rule has an extension (PIPL has none): a button the service refuses is no button.
        "can_extend": manage and is_open and rule.extension is not None,
        "can_assign": manage and is_open, "staff": staff, "assignee": assignee, "me": g.actor.principal_id,
        "is_erasure": erasure,
        "has_certificate": erasure and req.state == "completed" and bool((req.response or {}).get("certificate")),
    }


def _consents(req) -> list[dict] | None:
    """The subject's consents and what each covered as told (notice version, fields, record types, recipients), for
    staff who may read consent; None for others (the table is not shown)."""
    if not may(Permission.CONSENT_READ):
        return None
    return scopes.of_subject(**current_call().services(), subject_id=req.subject_id, language=language())


def _objections(req, manage: bool) -> dict:
    """A completed objection request's objections: those it recorded, and whatever stands now for a purpose it named
    (requests.lift_objection lifts the subject's standing one), with who lifted them, when and on what grounds."""
    named = (req.response or {}).get("legitimate_interest_objected", []) if req.type == "objection" and req.state == "completed" else []
    if not named:
        return {"objections": None}
    rows = [o for o in objections.objections_of(session=current_call().session, subject_id=req.subject_id)
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
            # A refused move is shown on the request's own page: the move undone, the page's reads kept (after_refusal).
            return after_refusal(problem, _detail, request_id)
        raise
    return redirect(url_for("console.request_detail", request_id=request_id, done=done))


@blp.route("/requests/<uuid:request_id>/verify", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_verify(request_id: uuid.UUID):
    return _act(request_id, "verify", lambda: requests.verify(
        **current_call().services("envelope"), request_id=request_id, method="document", reference=request.form.get("reference", "").strip(),
        passed=request.form.get("passed") == "yes",
    ))


@blp.route("/requests/<uuid:request_id>/extend", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_extend(request_id: uuid.UUID):
    return _act(request_id, "extend", lambda: requests.extend(**current_call().services(), request_id=request_id, reason=request.form.get("reason")))


@blp.route("/requests/<uuid:request_id>/complete", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_complete(request_id: uuid.UUID):
    req = requests.get_for(**current_call().services(), request_id=request_id)
    if req.type in flows.ERASURE_TYPES and request.form.get("confirm") != "yes":
        # An erasure is carried out only after its preview was shown and confirmed (what is destroyed, kept, told).
        return redirect(url_for("console.request_erasure_preview", request_id=request_id))
    # The purge ledgers an erasure writes to belong to the runtime, not to a call.
    return _act(request_id, "complete", lambda: flows.complete(
        **current_call().services("envelope"), request_id=request_id, ledgers=current_runtime().ledgers, explanation=request.form.get("explanation") or None,
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
    pkg = flows.package(**current_call().services("envelope"), request_id=request_id)
    return Response(pkg.content, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{pkg.filename}"', "X-Content-SHA256": pkg.sha256,
    })


@blp.route("/requests/<uuid:request_id>/acknowledge", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_acknowledge(request_id: uuid.UUID):
    """The same acknowledgement as POST /api/v1/requests/<id>/acknowledge."""
    return _act(request_id, "acknowledge", lambda: requests.acknowledge(**current_call().services(), request_id=request_id))


@blp.route("/requests/<uuid:request_id>/pause", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_pause(request_id: uuid.UUID):
    """The same pause as POST /api/v1/requests/<id>/pause: only where the law lets the clock stop, with a reason."""
    return _act(request_id, "pause", lambda: requests.pause(**current_call().services(), request_id=request_id, reason=request.form.get("reason")))


@blp.route("/requests/<uuid:request_id>/resume", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_resume(request_id: uuid.UUID):
    """The same resumption as POST /api/v1/requests/<id>/resume."""
    return _act(request_id, "resume", lambda: requests.resume(**current_call().services(), request_id=request_id))


@blp.route("/requests/<uuid:request_id>/assign", methods=["POST"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_assign(request_id: uuid.UUID):
    """Assigns the request to the signed-in user ("me"), to another active staff member (their id), or to nobody ("")."""
    assignee = queue.assignee_chosen(request.form, g.actor)
    return _act(request_id, "assign", lambda: workbench.assign(**current_call().services(), request_id=request_id, assignee_id=assignee))


@blp.route("/requests/<uuid:request_id>/erasure", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS_MANAGE)
def request_erasure_preview(request_id: uuid.UUID):
    """What completing this erasure or account closure will destroy, keep (until when, under which law) and whom it
    will tell, with the confirmation that carries it out; nothing is changed by showing it."""
    try:
        preview = workbench.erasure_preview(**current_call().services(), request_id=request_id)
    except Problem as problem:
        if problem.status in (400, 409, 423):
            return after_refusal(problem, _detail, request_id)
        raise
    untold = [r for r in preview.recipients if r.get("told_by") is None]
    policy = current_runtime().policy
    # The law or the hold each kept item is kept under, in the page's language.
    bases = [kept_basis(k, language(), policy.retention.hold_reasons, policy.console.policy_texts) for k in preview.kept]
    reasons = [_kept_reason(k["reason"], policy.retention) for k in preview.kept]
    return page("erasure_preview.html", req=preview.request, preview=preview, untold=untold, bases=bases, reasons=reasons, label=_catalog_label)


def _kept_reason(reason: str, rp: RetentionPolicy) -> str:
    """Why an item is kept, in words: a legal hold, or a legal obligation or retention rule by its label in
    retention.yaml (in the page's language: one an operator adds to the policy reads in words at once)."""
    if reason.startswith("legal_hold:"):
        return t("kept_reason.legal_hold")
    obligation = rp.obligation(reason)
    if obligation is not None:
        return obligation.label.get(language()) or obligation.label["en"]
    return retention_rule_name(reason)


def _catalog_label(name: str) -> str:
    """A field, record type or kept item ("field:email", "record:purchase") by the policy catalog's label in the page's
    language, as the certificate PDF names them; the code itself if the catalog has none."""
    catalog = current_runtime().policy.catalog
    kind, _, bare = name.rpartition(":")
    rule = catalog.record_types.get(bare) if kind == "record" else catalog.fields.get(bare)
    return rule.label.get(language(), name) if rule is not None else name


def _certificate(request_id: uuid.UUID) -> dict:
    return flows.certificate(**current_call().services(), request_id=request_id)


@blp.route("/requests/<uuid:request_id>/certificate.json", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def request_certificate_json(request_id: uuid.UUID):
    """The erasure certificate as GET /api/v1/requests/<id>/certificate answers it (the read audited), to download."""
    doc = _certificate(request_id)
    body = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True).encode()
    # X-Content-SHA256 is of the bytes handed over (what `sha256sum` of the saved file prints), as for a package: its
    # name says SHA-256 whatever the suite. The certificate's own digest, of its canonical form, travels as with the PDF.
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="erasure-certificate-{request_id}.json"',
        "X-Content-SHA256": hashlib.sha256(body).hexdigest(), **_certificate_digest_headers(doc),
    })


def _certificate_digest_headers(doc: dict) -> dict[str, str]:
    """The certificate's digest and its algorithm (SHA-256, or SM3 under commercial_cn); X-Certificate-SHA256 too when
    it is SHA-256, as before suites."""
    sha256 = {"X-Certificate-SHA256": doc["sha256"]} if "sha256" in doc else {}
    return {"X-Certificate-Digest": doc["digest"], "X-Certificate-Digest-Algorithm": doc["digest_algorithm"], **sha256}


@blp.route("/requests/<uuid:request_id>/certificate.pdf", methods=["GET"])
@requires(Permission.CONSOLE_REQUESTS)
def request_certificate_pdf(request_id: uuid.UUID):
    """The same certificate rendered as PDF in Chinese or English (?lang=zh|en, else the user's language)."""
    doc = _certificate(request_id)
    lang = request.args.get("lang") if request.args.get("lang") in ("zh", "en") else language()
    pdf = certificate_pdf.render(doc["certificate"], doc["digest"], lang, current_runtime().policy, doc["digest_algorithm"])
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="erasure-certificate-{request_id}-{lang}.pdf"', **_certificate_digest_headers(doc),
    })
