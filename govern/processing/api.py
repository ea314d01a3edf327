"""/api/v1/processing/records: the records of processing activities as JSON or CSV, zh or en."""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission
from govern.processing import service

blp = Blueprint("processing", __name__, url_prefix="/api/v1/processing", description="Records of processing (GDPR Art. 30, PIPL Art. 54–56)")


@blp.route("/records", methods=["GET"])
@requires(Permission.PROCESSING_READ)
@blp.doc(parameters=[
    {"in": "query", "name": "lang", "schema": {"type": "string", "enum": ["zh", "en"]}},
    {"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json", "csv"]}},
])
@blp.response(200, description="The records of processing activities (JSON, or CSV with format=csv)")
def records():
    """Generated from policy and the recipient register; reading them is audited."""
    rt = current_runtime()
    document = service.records(session=rt.session(), policy=rt.policy, actor=current_actor(), language=request.args.get("lang", "zh"))
    if request.args.get("format") == "csv":
        return Response(service.as_csv(document), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="records-of-processing-{document["language"]}.csv"'})
    return document
