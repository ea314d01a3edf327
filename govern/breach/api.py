"""/api/v1/incidents: open an incident, compute its affected subjects, assess, contain, move it through its states,
generate letters and record their sending, the clocks, the board, the register and the incident report. Thin: the
rules are in service.py, flows.py and letters.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from flask import Response
from flask_smorest import Blueprint

from govern.api_lists import DEPRECATION_HEADERS, answer_page, moment
from govern.api_support import current_call, idempotent_create
from govern.breach import board, flows, letters, schemas, service
from govern.identity.guard import requires
from govern.identity.permissions import Permission
from govern.timeutil import utcnow

blp = Blueprint("breach", __name__, url_prefix="/api/v1/incidents", description="Security incidents and breach notification")


def _view(incident_id: uuid.UUID) -> dict:
    ctx = current_call()
    return board.view(session=ctx.session, policy=ctx.policy, incident=service.get_or_raise(session=ctx.session, incident_id=incident_id))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@blp.route("", methods=["POST"])
@requires(Permission.BREACH_CREATE)
@blp.arguments(schemas.IncidentCreateSchema)
@blp.response(201, schemas.IncidentSchema)
def open_incident(body):
    """Open an incident (or a drill): what happened, when it was detected and when the company became aware, who
    reported it and the suspected source. The clocks run from `aware_at`."""

    def create():
        data = {**body, "source": {("from" if k == "from_" else k): v for k, v in (body.get("source") or {}).items()}}
        incident = service.create(**current_call().services(), data=data)
        return schemas.IncidentSchema().dump(_view(incident.id)), {"Location": f"/api/v1/incidents/{incident.id}"}

    return idempotent_create(_jsonable(body), create)


@blp.route("", methods=["GET"])
@requires(Permission.BREACH_READ)
@blp.arguments(schemas.ListQuerySchema, location="query")
@blp.response(200, schemas.BoardSchema, headers=DEPRECATION_HEADERS)
def incident_board(query):
    """The board: open incidents (closed ones too with closed=true), overdue first, each with its next clock; figures
    count real incidents only (drills apart). `incidents` repeats `items` until the Sunset date (deprecated)."""
    ctx = current_call()
    rows = board.board(session=ctx.session, policy=ctx.policy, include_closed=query["closed"], include_drills=query["drills"])
    return answer_page(ctx.envelope, rows, query, key=_overdue_then_due, old_key="incidents", figures=board.figures(session=ctx.session))


def _overdue_then_due(row: dict[str, Any]) -> tuple[int, str, str]:
    """The board's order (overdue first, then the soonest next clock) as a cursor key; it moves as clocks run out."""
    due = row["next_due"]["due_at"] if row.get("next_due") else None
    return (0 if row["overdue"] else 1, moment(due) or "~", str(row["id"]))


@blp.route("/clocks", methods=["GET"])
@requires(Permission.BREACH_READ)
@blp.arguments(schemas.ClockQuerySchema, location="query")
@blp.response(200, schemas.ClocksSchema, headers=DEPRECATION_HEADERS)
def open_clocks(query):
    """Every required notification not yet sent, across open real incidents: overdue first, then soonest due."""
    ctx = current_call()
    clocks = board.open_clocks(session=ctx.session, policy=ctx.policy)
    return answer_page(ctx.envelope, clocks, query, key=lambda c: (0 if c["overdue"] else 1, moment(c["due_at"]) or "~", str(c["id"])), old_key="clocks")


@blp.route("/register", methods=["GET"])
@requires(Permission.BREACH_REGISTER)
@blp.arguments(schemas.RegisterQuerySchema, location="query")
@blp.response(200, schemas.RegisterSchema)
def breach_register(query):
    """The register of every breach, notified or not: facts, effects, remedial action (GDPR Art. 33(5)). Audited."""
    ctx = current_call()
    rows = board.register(**ctx.services(), include_drills=query["drills"])
    sources = {code: t.register_source for code, t in ctx.policy.breach_terms.items() if t.register_source}
    return {"register": _jsonable(rows), "source": sources}


@blp.route("/<uuid:incident_id>", methods=["GET"])
@requires(Permission.BREACH_READ)
@blp.response(200, schemas.IncidentSchema)
def get_incident(incident_id: uuid.UUID):
    """An incident: state, clocks per notification (due_at, seconds_left, overdue), counts, assessment and timeline."""
    return _view(incident_id)


@blp.route("/<uuid:incident_id>/scope", methods=["POST"])
@requires(Permission.BREACH_MANAGE)
@blp.arguments(schemas.ScopeSchema)
@blp.response(201, schemas.ScopeViewSchema)
def compute_scope(body, incident_id: uuid.UUID):
    """Compute the affected subjects from the audit log (principals and a window, a lost export, or a recipient) and
    freeze them as the next version of the incident's list. An empty body uses the incident's source."""
    data = {("from" if k == "from_" else k): v for k, v in body.items() if v is not None}
    snapshot = flows.compute_scope(**current_call().services("envelope"), incident_id=incident_id, data=data)
    return board.snapshot_view(snapshot)


@blp.route("/<uuid:incident_id>/scope", methods=["GET"])
@requires(Permission.BREACH_MANAGE)
@blp.arguments(schemas.ScopeQuerySchema, location="query")
@blp.response(200, schemas.ScopeListSchema)
def get_scope(query, incident_id: uuid.UUID):
    """A frozen list (the latest, or `version`): subject ids, jurisdictions and field names; audited."""
    ctx = current_call()
    snapshot, rows, intact = flows.affected(session=ctx.session, actor=ctx.actor, incident_id=incident_id, version=query["version"])
    return {**board.snapshot_view(snapshot), "intact": intact, "affected": rows}


@blp.route("/<uuid:incident_id>/assessment", methods=["POST"])
@requires(Permission.BREACH_MANAGE)
@blp.arguments(schemas.AssessmentSchema)
@blp.response(201, schemas.IncidentSchema)
def assess(body, incident_id: uuid.UUID):
    """Record the risk assessment (a new version); the required notifications and their clocks are derived from it."""
    service.assess(**current_call().services(), incident_id=incident_id, data=body)
    return _view(incident_id)


@blp.route("/<uuid:incident_id>/transition", methods=["POST"])
@requires(Permission.BREACH_MANAGE)
@blp.arguments(schemas.TransitionSchema)
@blp.response(200, schemas.IncidentSchema)
def transition(body, incident_id: uuid.UUID):
    """Move the incident to its next state; closing needs a review (cause, lessons, actions). Illegal moves: 409."""
    flows.transition(
        **current_call().services(), incident_id=incident_id, to=body["to"], note=body["note"], review=body["review"], at=body["at"], reason=body["reason"],
    )
    return _view(incident_id)


@blp.route("/<uuid:incident_id>/times", methods=["POST"])
@requires(Permission.BREACH_MANAGE)
@blp.arguments(schemas.TimesSchema)
@blp.response(200, schemas.IncidentSchema)
def record_times(body, incident_id: uuid.UUID):
    """Enter or correct when the incident was really detected, became known, or was contained: past times only, in
    order, with a reason; recorded on the timeline and audited. Every clock follows the recorded times."""
    times = {k: body[k] for k in service.RECORDED_TIMES}
    service.record_times(**current_call().services(), incident_id=incident_id, times=times, reason=body["reason"])
    return _view(incident_id)


@blp.route("/<uuid:incident_id>/containment", methods=["POST"])
@requires(Permission.BREACH_CONTAIN)
@blp.arguments(schemas.ContainmentSchema)
@blp.response(201, schemas.ContainmentResultSchema)
def contain(body, incident_id: uuid.UUID):
    """Record a containment action; `disable_principal` is executed at once (its API key and sessions stop working)."""
    return flows.contain(**current_call().services(), incident_id=incident_id, action=body["action"], principal=body["principal"], note=body["note"])


@blp.route("/<uuid:incident_id>/notifications/<uuid:notification_id>/letters", methods=["POST"])
@requires(Permission.BREACH_NOTIFY)
@blp.arguments(schemas.LettersRequestSchema)
@blp.response(201)
def generate_letters(body, incident_id: uuid.UUID, notification_id: uuid.UUID):
    """Generate the authority report (zh/en, a phase where the law allows) or one letter per affected subject in its
    language; unsent letters of an earlier generation are replaced."""
    return letters.generate(
        **current_call().services("envelope"), incident_id=incident_id, notification_id=notification_id, languages=body["languages"], phase=body["phase"],
        delay_reasons=body.get("delay_reasons"), voluntary=body["voluntary"],
    )


@blp.route("/<uuid:incident_id>/notifications/<uuid:notification_id>/letters", methods=["GET"])
@requires(Permission.BREACH_NOTIFY)
@blp.arguments(schemas.LetterQuerySchema, location="query")
@blp.response(200, schemas.LettersSchema, headers=DEPRECATION_HEADERS)
def list_letters(query, incident_id: uuid.UUID, notification_id: uuid.UUID):
    """The letters of a notification (no text): who, which language, when generated and sent. `letters` repeats
    `items` until the Sunset date (deprecated)."""
    ctx = current_call()
    rows = letters.list_letters(session=ctx.session, incident_id=incident_id, notification_id=notification_id)
    return answer_page(ctx.envelope, rows, query, key=lambda letter: (moment(letter.created_at), str(letter.id)), old_key="letters")


@blp.route("/<uuid:incident_id>/letters/<uuid:letter_id>", methods=["GET"])
@requires(Permission.BREACH_NOTIFY)
@blp.doc(responses={"200": {"description": "The letter (Markdown)", "content": {"text/markdown": {"schema": {"type": "string"}}}}})
def read_letter(incident_id: uuid.UUID, letter_id: uuid.UUID):
    """A letter's text (Markdown). Reading a subject's letter is audited against that subject; its recipient's name is
    shown as the reader's roles see names (full, masked, or withheld). The ETag is keyed (no guess can be tried on it)."""
    ctx = current_call()
    letter, text = letters.read_letter(**ctx.services("envelope"), incident_id=incident_id, letter_id=letter_id)
    etag = letters.served_digest(ctx.envelope, letter, text)  # keyed, over the text as this reader got it
    return Response(text, mimetype="text/markdown", headers={"Content-Language": letter.language, "ETag": f'"{etag}"', "Cache-Control": "no-store"})


@blp.route("/<uuid:incident_id>/notifications/<uuid:notification_id>/sent", methods=["POST"])
@requires(Permission.BREACH_NOTIFY)
@blp.arguments(schemas.SentSchema)
@blp.response(200, schemas.NotificationSchema)
def mark_sent(body, incident_id: uuid.UUID, notification_id: uuid.UUID):
    """Record that the generated letters (or `letter_ids`) were sent: when and through which channel. A late filing
    states the reasons for the delay where the law asks (GDPR Art. 33(1)). A drill's sending is recorded as simulated."""
    ctx = current_call()
    n = service.mark_sent(
        **ctx.services(), incident_id=incident_id, notification_id=notification_id, channel=body["channel"], reference=body["reference"],
        sent_at=body["sent_at"], late_reason=body["late_reason"], letter_ids=body["letter_ids"],
    )
    return board.notification_view(ctx.policy, n, utcnow())


@blp.route("/<uuid:incident_id>/report", methods=["GET"])
@requires(Permission.BREACH_READ)
@blp.arguments(schemas.ReportQuerySchema, location="query")
@blp.doc(responses={"200": {"description": "The report (HTML)", "content": {"text/html": {"schema": {"type": "string"}}}}})
def report(query, incident_id: uuid.UUID):
    """The incident report (HTML, zh or en): the copy frozen at closing, or a draft marked as such. Print it to PDF."""
    html, final = letters.report(**current_call().services(), incident_id=incident_id, lang=query["lang"])
    return Response(html, mimetype="text/html", headers={"Content-Language": query["lang"], "X-Report-Final": "true" if final else "false"})
