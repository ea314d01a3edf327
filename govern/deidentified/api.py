"""De-identified exports API: a pseudonymised export and an anonymised aggregate, each for a stated purpose. Thin."""

from __future__ import annotations

from flask_smorest import Blueprint

from govern.api_support import current_call
from govern.deidentified import keys, schemas, service
from govern.identity.guard import requires
from govern.identity.permissions import Permission

blp = Blueprint("deidentified", __name__, url_prefix="/api/v1/deidentified", description="Pseudonymised and anonymised exports (PIPL Art. 73)")


@blp.route("/pseudonymised", methods=["POST"])
@requires(Permission.DEIDENTIFIED_PSEUDONYMISED)
@blp.arguments(schemas.PseudonymisedExportSchema)
@blp.response(200, schemas.ExportDocumentSchema)
@blp.alt_response(503, description="export_key_missing: the export key file is missing or unusable (govern init makes it)")
def pseudonymised(body):
    """A pseudonymised export (still personal data) of the subjects the purpose may use now; audited with the purpose."""
    ctx = current_call()
    done = service.pseudonymised(
        **ctx.services("envelope"), key_file=keys.path_in(ctx.settings.home), purpose=body["purpose"],
        fields=body["fields"], record_types=body["record_types"],
    )
    return done.document


@blp.route("/aggregate", methods=["POST"])
@requires(Permission.DEIDENTIFIED_AGGREGATE)
@blp.arguments(schemas.AggregateExportSchema)
@blp.response(200, schemas.ExportDocumentSchema)
def aggregate(body):
    """An anonymised aggregate: counts of subjects by the dimensions, cells under the minimum group size suppressed."""
    done = service.aggregate(**current_call().services("envelope"), purpose=body["purpose"], dimensions=body["dimensions"])
    return done.document
