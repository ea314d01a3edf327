"""Sharing API: recipients (privacy staff), the public third-party sharing list, and disclosures. Thin."""

from __future__ import annotations

import uuid

from flask import request
from flask_smorest import Blueprint

from govern.api_lists import answer_page, moment
from govern.api_support import current_call, idempotent_create, if_match_version, version_etag
from govern.errors import Problem
from govern.identity.guard import public, requires
from govern.identity.permissions import Permission
from govern.openapi import requires_header
from govern.sharing import propagation, schemas, service
from govern.subject_requests import propagation as request_propagation
from govern.timeutil import utcnow

blp = Blueprint("sharing", __name__, url_prefix="/api/v1", description="Third-party recipients and disclosures")


def _view(r) -> dict:
    return {
        "id": r.id, "name": r.name, "contact": r.contact, "purpose": r.purpose, "categories": list(r.categories), "country": r.country,
        "transfer_mechanism": r.transfer_mechanism, "agreement_ref": r.agreement_ref, "agreement_expires_on": r.agreement_expires_on,
        "agreement_in_force": r.disabled_at is None and r.agreement_expires_on >= utcnow().date(),
        "created_at": r.created_at, "updated_at": r.updated_at, "disabled_at": r.disabled_at,
    }


@blp.route("/recipients", methods=["POST"])
@requires(Permission.RECIPIENTS_MANAGE)
@blp.arguments(schemas.RecipientCreateSchema)
@blp.response(201, schemas.RecipientSchema)
def create_recipient(body):
    """Register a third-party recipient with its purpose, categories, country and data-security agreement."""
    ctx = current_call()

    def create():
        r = service.create_recipient(**ctx.services(), data=body)
        return schemas.RecipientSchema().dump(_view(r)), {"Location": f"/api/v1/recipients/{r.id}", "ETag": version_etag(r)}

    return idempotent_create({k: str(v) for k, v in body.items()}, create)


@blp.route("/recipients", methods=["GET"])
@requires(Permission.RECIPIENTS_READ)
@blp.arguments(schemas.RecipientQuerySchema, location="query")
@blp.response(200, schemas.RecipientPageSchema)
def list_recipients(query):
    """Every registered recipient (also disabled ones and expired agreements), by purpose and name."""
    ctx = current_call()
    return answer_page(ctx.envelope, service.list_recipients(session=ctx.session, purpose=query["purpose"]), query, key=_by_purpose_and_name, view=_view)


def _by_purpose_and_name(r) -> tuple[str, str, str]:
    return (r.purpose or "", r.name or "", str(r.id))


@blp.route("/recipients/public", methods=["GET"])
@public("the third-party sharing list is published to subjects (PIPL Art. 23; GB/T 35273-2020 §9.2)")
@blp.arguments(schemas.RecipientQuerySchema, location="query")
@blp.response(200, schemas.PublicRecipientPageSchema)
def public_recipients(query):
    """The third-party sharing list (第三方信息共享清单): recipients with an agreement in force, by purpose and name."""
    ctx = current_call()  # who asks is the anonymous actor of a public route
    recipients = service.list_recipients(session=ctx.session, purpose=query["purpose"], active_only=True)
    return answer_page(ctx.envelope, recipients, query, key=_by_purpose_and_name, view=_view)


@blp.route("/recipients/<uuid:recipient_id>", methods=["GET"])
@requires(Permission.RECIPIENTS_READ)
@blp.response(200, schemas.RecipientSchema)
def get_recipient(recipient_id: uuid.UUID):
    r = service.get_recipient(session=current_call().session, recipient_id=recipient_id)
    return _view(r), 200, {"ETag": version_etag(r)}


@blp.route("/recipients/<uuid:recipient_id>", methods=["PATCH"])
@requires(Permission.RECIPIENTS_MANAGE)
@blp.arguments(schemas.RecipientUpdateSchema)
@blp.response(200, schemas.RecipientSchema)
@requires_header("If-Match")
def update_recipient(body, recipient_id: uuid.UUID):
    """Change contact, categories or the agreement (a renewal); needs the current ETag in If-Match."""
    r = service.update_recipient(
        **current_call().services(), recipient_id=recipient_id,
        expected_version=if_match_version(recipient_id), changes=body,
    )
    return _view(r), 200, {"ETag": version_etag(r)}


@blp.route("/recipients/<uuid:recipient_id>", methods=["DELETE"])
@requires(Permission.RECIPIENTS_MANAGE)
@blp.response(200, schemas.RecipientSchema)
def disable_recipient(recipient_id: uuid.UUID):
    """Disable a recipient: no further disclosures; its history stays on record."""
    ctx = current_call()
    r = service.disable_recipient(session=ctx.session, actor=ctx.actor, recipient_id=recipient_id)
    return _view(r)


@blp.route("/subjects/<uuid:subject_id>/disclosures", methods=["POST"])
@requires(Permission.DISCLOSURE_CREATE)
@blp.arguments(schemas.DisclosureCreateSchema)
@blp.response(201, schemas.DisclosedSchema)
@blp.alt_response(403, description="consent_*, separate_consent_required, agreement_expired, field_not_in_purpose, … (problem+json)")
def disclose(body, subject_id: uuid.UUID):
    """Disclose fields of a subject to a recipient: checked, recorded and audited; returns the values to transmit.

    Not idempotent by key on purpose: the values are never stored for a replay, and each call is a disclosure."""
    if request.headers.get("Idempotency-Key"):
        raise Problem(400, "idempotency_not_supported", "Idempotency-Key not supported", "A disclosure is never replayed from storage: its values are not kept.")
    done = service.disclose(
        **current_call().services("envelope"), subject_id=subject_id,
        recipient_id=body["recipient_id"], fields=body["fields"], purpose=body["purpose"],
    )
    return {**service.disclosure_view(done.disclosure, done.recipient), "values": done.values}


@blp.route("/subjects/<uuid:subject_id>/disclosures", methods=["GET"])
@requires(Permission.DISCLOSURE_READ)
@blp.arguments(schemas.DisclosureQuerySchema, location="query")
@blp.response(200, schemas.DisclosurePageSchema)
def list_disclosures(query, subject_id: uuid.UUID):
    """Every disclosure of a subject, oldest first: recipient, fields (names), time, basis; audited."""
    ctx = current_call()
    rows = service.list_disclosures(session=ctx.session, actor=ctx.actor, subject_id=subject_id)
    return answer_page(ctx.envelope, rows, query, key=lambda row: (moment(row[0].occurred_at), str(row[0].id)), view=lambda row: service.disclosure_view(*row))


# --- telling recipients of a request's change (GDPR Art. 19) -------------------------------------------------------


def _owed_view(request_id: uuid.UUID, owed) -> dict:
    return {"request_id": request_id, "recipients": propagation.view(owed), "open": [o.recipient.id for o in owed if o.how is None]}


@blp.route("/requests/<uuid:request_id>/recipients", methods=["GET"])
@requires(Permission.REQUESTS_MANAGE)
@blp.response(200, schemas.RequestRecipientsSchema)
def request_recipients(request_id: uuid.UUID):
    """The recipients that received the data a rectification, erasure or restriction changes, and how each is told
    (webhook, manual task, exemption); those still open block the request's completion. Audited."""
    _, owed = request_propagation.recipients(**current_call().services(), request_id=request_id)
    return _owed_view(request_id, owed)


@blp.route("/requests/<uuid:request_id>/recipients", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.PropagationStepCreateSchema)
@blp.response(201, schemas.PropagationStepSchema)
@blp.alt_response(409, description="recipient_has_webhook, propagation_recorded, request_closed (problem+json)")
def record_propagation(body, request_id: uuid.UUID):
    """Record how a recipient without a webhook is told: a manual task with its due date, or the specific reason why
    telling it is impossible or involves disproportionate effort (GDPR Art. 19). Audited."""
    step = request_propagation.record(
        **current_call().services(), request_id=request_id, recipient_id=body["recipient_id"],
        method=body["method"], reason=body["reason"], due_on=body["due_on"],
    )
    return propagation.step_view(step)


@blp.route("/requests/<uuid:request_id>/recipients/<uuid:recipient_id>/done", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.PropagationDoneSchema)
@blp.response(200, schemas.PropagationStepSchema)
def propagation_done(body, request_id: uuid.UUID, recipient_id: uuid.UUID):
    """A manual notice task carried out: the recipient was told (staff: when, if earlier, and why it is entered late). Audited."""
    step = request_propagation.done(**current_call().services(), request_id=request_id, recipient_id=recipient_id,
                                    occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])
    return propagation.step_view(step)


@blp.route("/recipients/notice-tasks", methods=["GET"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.NoticeTaskQuerySchema, location="query")
@blp.response(200, schemas.PropagationStepPageSchema)
def notice_tasks(query):
    """Manual notice tasks not yet done (GDPR Art. 19), the earliest due first; `overdue=true` for those past their date."""
    ctx = current_call()
    tasks = propagation.open_tasks(session=ctx.session, actor=ctx.actor, overdue_only=query["overdue"])
    return answer_page(ctx.envelope, tasks, query, key=lambda t: (t.due_on.isoformat() if t.due_on else "", str(t.id)), view=propagation.step_view)
