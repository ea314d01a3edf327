"""/api/v1/processing: the records of processing (as of any instant, JSON or CSV, zh or en), every kept version of a
record, and the handler's own duties as tasks (staff record one as done)."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from govern.api_support import current_call
from govern.identity.guard import requires
from govern.identity.permissions import Permission
from govern.processing import duties, schemas, service

blp = Blueprint("processing", __name__, url_prefix="/api/v1/processing", description="Records of processing (GDPR Art. 30, PIPL Art. 54–56) and the handler's duties")


@blp.route("/records", methods=["GET"])
@requires(Permission.PROCESSING_READ)
@blp.arguments(schemas.RecordsQuerySchema, location="query")
@blp.response(200, description="The records of processing activities in force at as_of (JSON, or CSV with format=csv)")
def records(query):
    """Read from the versions kept as they took effect; reading them is audited."""
    document = service.records(**current_call().services("settings"), language=query["lang"], as_of=query["as_of"])
    if query["format"] == "csv":
        return Response(service.as_csv(document), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="records-of-processing-{document["language"]}.csv"'})
    return document


@blp.route("/records/history", methods=["GET"])
@requires(Permission.PROCESSING_READ)
@blp.arguments(schemas.HistoryQuerySchema, location="query")
@blp.response(200, description="Every kept version of one record, retired or superseded ones included")
def record_history(query):
    """Every version of one record (controller, an activity, an impact assessment), oldest first; audited."""
    ctx = current_call()
    return {"versions": service.history(session=ctx.session, actor=ctx.actor, kind=query["kind"], key=query["key"])}


@blp.route("/duties", methods=["GET"])
@requires(Permission.PROCESSING_DUTIES_READ)
@blp.response(200, schemas.DutiesSchema)
def list_duties():
    """The handler's duties (thresholds on the number of subjects, log retention, drills, reviews) with due dates."""
    return duties.tasks(**current_call().services())


@blp.route("/duties/<string:duty>/done", methods=["POST"])
@requires(Permission.PROCESSING_DUTIES_RECORD)
@blp.arguments(schemas.DutyDoneSchema)
@blp.response(201, schemas.DutyRecordedSchema)
def record_duty_done(body, duty: str):
    """Record that a duty was done on a day (audited, kept); its next due date counts from that day."""
    return duties.record_done(**current_call().services(), duty=duty, done_on=body["done_on"], reference=body["reference"])
