"""/api/v1/audit: search (audited), export download, signed checkpoints, inclusion proofs. Thin: the rules are in
service.py, export.py and checkpoints.py."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from flask import Response, send_file
from flask_smorest import Blueprint

from govern.api_lists import DEPRECATION_HEADERS, ListAnswer, client_cursor, listing, service_cursor
from govern.audit import checkpoints, export, schemas, service, signing
from govern.audit.tags import AuditAction
from govern.errors import Problem
from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The tamper-evident audit log")


@blp.route("/events", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(schemas.SearchQuerySchema, location="query")
@blp.response(200, schemas.EventPageSchema, headers=DEPRECATION_HEADERS)
def search_events(query: dict[str, Any]) -> ListAnswer:
    """Search events, newest first, with a cursor; the search itself is audited. `events` repeats `items` for clients
    of the old shape until the Sunset date (deprecated)."""
    rt = current_runtime()
    filters = service.SearchFilters(
        time_from=query["from_"], time_to=query["to"], actor=query["actor"], subject_id=query["subject"], action=query["action"],
        purpose=query["purpose"], outcome=query["outcome"], request_id=query["request_id"],
    )
    page = service.search(session=rt.session(), actor=current_actor(), filters=filters, cursor=service_cursor(rt.envelope, query), limit=query["limit"])
    return listing(page.events, client_cursor(rt.envelope, query, page.next_cursor), old_key="events")


@blp.route("/export", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(schemas.ExportQuerySchema, location="query")
@blp.response(200, description="A zip holding events.jsonl, manifest.json (signed) and, for format=ocsf, events.ocsf.jsonl")
def download_export(query: dict[str, Any]) -> Response:
    """Export what is sealed in [from, to) (everything without them) as a zip; verify it with audit/verify.py."""
    rt = current_runtime()
    session = rt.session()
    service.append(session=session, actor=current_actor(), action=AuditAction.EXPORT, resource=f"export:{query['from_'] or '-'}..{query['to'] or '-'}")
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="govern-export-") as tmp:
        try:
            result = export.write(session=session, settings=rt.settings, out=Path(tmp), time_from=query["from_"], time_to=query["to"], fmt=query["format"])
        except signing.SigningKeyError:
            spool.close()
            raise Problem(503, "audit_signing_key_unavailable", "Signing key unavailable", "The export cannot be signed; ask an operator.") from None
        except (ValueError, KeyError):
            spool.close()
            # Stored events that are no longer events (a tampered database): say so, never a 500.
            raise Problem(409, "audit_log_does_not_verify", "Audit log does not verify", "The stored log cannot be exported as it is; an operator should run `govern audit verify`.") from None
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, f"audit-export/{path.name}")
    spool.seek(0)
    name = f"govern-audit-{result.first_seq}-{result.last_seq}.zip"
    response = send_file(spool, mimetype="application/zip", as_attachment=True, download_name=name)
    response.call_on_close(spool.close)
    return response


@blp.route("/checkpoints", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(schemas.CheckpointQuerySchema, location="query")
@blp.response(200, schemas.CheckpointPageSchema, headers=DEPRECATION_HEADERS)
def list_checkpoints(query: dict[str, Any]) -> ListAnswer:
    """Signed checkpoints (oldest first) and the public keys that sign them. `checkpoints` repeats `items` for clients
    of the old shape until the Sunset date (deprecated)."""
    rt = current_runtime()
    after = service_cursor(rt.envelope, query)
    rows = checkpoints.list_checkpoints(rt.session(), min_size=query["min_size"], limit=query["limit"] + 1, after=int(after) if after else 0)
    shown = rows[: query["limit"]]
    next_cursor = client_cursor(rt.envelope, query, str(shown[-1].number)) if len(rows) > len(shown) else None
    return listing([checkpoints.as_line(cp) for cp in shown], next_cursor, old_key="checkpoints", keys=signing.published_keys(rt.settings))


@blp.route("/proofs/<int:seq>", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.response(200, schemas.ProofSchema)
def inclusion_proof(seq: int) -> dict[str, Any]:
    """An RFC 9162 inclusion proof that the event at `seq` is in the log a signed checkpoint commits to; audited."""
    rt = current_runtime()
    session = rt.session()
    try:
        proof = checkpoints.inclusion_proof(session=session, seq=seq, settings=rt.settings)
    except LookupError:
        raise Problem(404, "not_found", "Not found", "No checkpoint covers this seq yet, or the event is gone.") from None
    service.append(session=session, actor=current_actor(), action=AuditAction.PROOF, resource=f"audit_chain:{seq}")
    return proof
