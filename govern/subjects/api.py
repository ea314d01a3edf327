"""/api/v1/subjects: create, purpose-bound read, versioned update, blind-index look-up, records. Thin: the rules
are in service.py, and the reads' in govern/access/reads.py."""

from __future__ import annotations

import json
import uuid

from flask import Response, request
from flask_smorest import Blueprint

from govern.access import reads
from govern.api_lists import DEPRECATION_HEADERS, client_cursor, listing, service_cursor
from govern.api_support import current_call, idempotent_create, purpose_of_request
from govern.consent.collection import Collection, stated
from govern.identity.guard import audited_read, requires
from govern.identity.permissions import Permission
from govern.openapi import requires_header
from govern.ratelimit import limited
from govern.subjects import schemas, service

blp = Blueprint("subjects", __name__, url_prefix="/api/v1/subjects", description="Subjects and their personal data")




@blp.route("", methods=["POST"])
@requires(Permission.SUBJECTS_CREATE)
@blp.arguments(schemas.SubjectCreateSchema)
@blp.response(201, schemas.SubjectCreatedSchema, headers={"ETag": {"schema": {"type": "string"}}})
@blp.alt_response(400, description="Unknown field, bad value or missing required field (problem+json)")
@blp.alt_response(403, description="sensitive_basis_missing: a sensitive field (a CN minor's every field) without a lawful basis; nothing is written")
def create_subject(body):
    """Create a subject with its profile fields (values are validated, encrypted and never echoed)."""
    def create():
        fields = dict(body["fields"])
        if body.get("birth_date") is not None:
            fields["birth_date"] = body["birth_date"]
        subject = service.create(
            **current_call().services("envelope"), jurisdiction=body["jurisdiction"], fields=fields, external_ref=body.get("external_ref"),
            language=body.get("language") or "zh", purpose=body.get("purpose"), member_state=body.get("member_state"),
            collection=Collection(stated=stated(body.get("sensitive_basis"), purpose=body.get("purpose")), grant=body.get("consent")),
        )
        return {"id": str(subject.id)}, {"ETag": service.etag(subject), "Location": f"/api/v1/subjects/{subject.id}"}

    return idempotent_create(body, create)


@blp.route("/<uuid:subject_id>", methods=["GET"])
@requires(Permission.SUBJECTS_READ)
@audited_read
@blp.doc(parameters=[{"in": "header", "name": "X-Purpose", "required": True, "schema": {"type": "string"}}])
# Documented with its schema, answered without a marshmallow dump: the hottest route, whose body is strings already.
@blp.alt_response(200, schema=schemas.SubjectSchema, success=True, description="The fields, in full or masked", headers={"ETag": {"schema": {"type": "string"}}})
@blp.alt_response(403, description="No purpose, a purpose the role may not use, or no legal basis (reason code)")
def read_subject(subject_id: uuid.UUID):
    """Read the fields a purpose may use, as this role may see them (full or masked); audited."""
    view = reads.read(**current_call().services("envelope"), subject_id=subject_id, purpose=purpose_of_request())
    s = view.subject
    # The bytes jsonify would give (sorted keys, compact, UTF-8 kept, a final newline), without its provider's layers:
    # the body holds strings and None only. Half of jsonify's CPU on the hottest route (bench/read_path.py).
    body = json.dumps({
        "id": str(s.id), "external_ref": s.external_ref, "jurisdiction": s.jurisdiction, "language": s.language,
        "status": s.status, "member_state": s.member_state, "purpose": view.purpose, "fields": view.fields,
    }, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return Response(body + "\n", 200, {"ETag": service.etag(s)}, mimetype="application/json")


@blp.route("/<uuid:subject_id>", methods=["PATCH"])
@requires(Permission.SUBJECTS_UPDATE)
@blp.arguments(schemas.SubjectUpdateSchema)
@blp.doc(parameters=[{"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}])
@blp.response(200, schemas.SubjectCreatedSchema)
@blp.alt_response(412, description="The ETag is stale")
@blp.alt_response(428, description="If-Match missing")
@blp.alt_response(403, description="sensitive_basis_missing: a sensitive field without a lawful basis in force; nothing is written")
def update_subject(body, subject_id: uuid.UUID):
    """Change fields (null removes an optional one); needs the current ETag in If-Match. A sensitive field needs a
    consent in force now or a `sensitive_basis`."""
    expected = service.parse_if_match(request.headers.get("If-Match"), subject_id)
    purpose = purpose_of_request()
    subject = service.update(
        **current_call().services("envelope"), subject_id=subject_id, expected_version=expected, fields=body["fields"], purpose=purpose,
        collection=Collection(stated=stated(body.get("sensitive_basis"), purpose=purpose)), member_state=body.get("member_state"),
    )
    return {"id": subject.id}, 200, {"ETag": service.etag(subject)}


@blp.route("/lookup", methods=["POST"])
@requires(Permission.SUBJECTS_LOOKUP)
@limited("lookup")
@audited_read
@blp.arguments(schemas.LookupSchema)
@blp.doc(parameters=[{"in": "header", "name": "X-Purpose", "required": True, "schema": {"type": "string"}}])
@blp.response(200, schemas.LookupResultSchema)
@blp.alt_response(403, description="The purpose may not use the field, or no match may be used for it now: the reason a read gives, or matches_refused")
@blp.alt_response(404, description="No subject has this value")
def lookup_subject(body):
    """Find a subject by e-mail, mobile or ID-card number through a blind index (exact match)."""
    ids = reads.lookup(**current_call().services("envelope"), field=body["field"], value=body["value"], purpose=purpose_of_request(body))
    return {"id": ids[0], "ids": ids}


@blp.route("/<uuid:subject_id>/records", methods=["POST"])
@requires(Permission.RECORDS_CREATE)
@blp.arguments(schemas.RecordCreateSchema)
@blp.response(201, schemas.RecordCreatedSchema)
def add_record(body, subject_id: uuid.UUID):
    """Add a typed record; its payload is encrypted under the subject's key."""
    def create():
        record = service.add_record(
            **current_call().services("envelope"), subject_id=subject_id, type=body["type"], occurred_at=body["occurred_at"], payload=body["payload"],
            purpose=purpose_of_request(),
        )
        return {"id": str(record.id)}, {"Location": f"/api/v1/subjects/{subject_id}/records/{record.id}"}

    return idempotent_create(request.get_json(silent=True), create)


@blp.route("/<uuid:subject_id>/records", methods=["GET"])
@requires(Permission.RECORDS_READ)
@audited_read
@blp.arguments(schemas.RecordQuerySchema, location="query")
@blp.response(200, schemas.RecordPageSchema, headers=DEPRECATION_HEADERS)
@requires_header("X-Purpose")
def list_records(query, subject_id: uuid.UUID):
    """Records of the types the purpose may use, newest first, with a cursor for the next page; audited. `records`
    repeats `items` for clients of the old shape until the Sunset date (deprecated)."""
    call = current_call()
    page = reads.list_records(**call.services("envelope"), subject_id=subject_id, purpose=purpose_of_request(), type=query["type"],
                              cursor=service_cursor(call.envelope, query), limit=query["limit"])
    records = [{"id": r.id, "type": r.type, "occurred_at": r.occurred_at, "created_at": r.created_at, "payload": r.payload} for r in page.records]
    return listing(records, client_cursor(call.envelope, query, page.next_cursor), old_key="records")
