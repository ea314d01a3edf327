"""/api/v1/requests: file, verify, the clock (extend, pause, resume), complete, refuse, withdraw, the queue, the
access package (for the data subject through a one-time token; for privacy staff with their own credential) and the
erasure certificate. A CRM service sees only the requests it filed: another's id answers 404. Thin: the rules are in
service.py and flows.py."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from flask import Response
from flask_smorest import Blueprint

from govern.api_lists import DEPRECATION_HEADERS, answer_page, moment
from govern.api_support import current_call, idempotent_create
from govern.identity.guard import current_runtime, public, requires
from govern.identity.permissions import Permission
from govern.ratelimit import limited
from govern.subject_requests import deceased, flows, schemas, service
from govern.timeutil import as_utc, utcnow

blp = Blueprint("requests", __name__, url_prefix="/api/v1/requests", description="Data-subject requests")


def _deadlines(d) -> dict:
    return dataclasses.asdict(d)


def _view(req, d=None, events=None, item=None) -> dict:
    policy = current_runtime().policy  # the policy only (per row of a list): no call context needed
    now = utcnow()
    due_at = item.due_at if item else as_utc(req.due_at)
    soon = policy.requests.due_soon_days
    is_open = req.state in service.OPEN
    out = {
        "id": req.id, "subject_id": req.subject_id, "type": req.type, "jurisdiction": req.jurisdiction, "channel": req.channel, "state": req.state,
        "details": req.details, "received_at": as_utc(req.received_at), "due_at": due_at,
        "acknowledged_at": as_utc(req.acknowledged_at) if req.acknowledged_at else None, "extended": req.extended, "paused": req.paused,
        "verification_required": req.verification_required, "verified_at": as_utc(req.verified_at) if req.verified_at else None,
        "verification_method": req.verification_method, "verified_by": req.verified_by, "locked": req.locked_at is not None,
        "duplicate_of": req.duplicate_of, "refusal_reason": req.refusal_reason, "legal_basis": req.legal_basis, "response": req.response,
        "overdue": item.overdue if item else is_open and due_at < now,
        "due_soon": item.due_soon if item else is_open and now <= due_at <= now + timedelta(days=soon),
        "acknowledgement_overdue": item.acknowledgement_overdue if item else False,
        "answered_on_time": service.answered_on_time(req),
        "requester_relationship": req.requester_relationship,
    }
    if d is not None:
        out["deadlines"] = _deadlines(d)
    if events is not None:
        out["timeline"] = [
            {"kind": e.kind, "occurred_at": as_utc(e.occurred_at), "actor": e.actor_name, "from_state": e.from_state, "to_state": e.to_state, "reason": e.reason, "data": e.data}
            for e in events
        ]
    return out


@blp.route("", methods=["POST"])
@requires(Permission.REQUESTS_CREATE)
@limited("request_filing")
@blp.arguments(schemas.RequestCreateSchema)
@blp.response(201, schemas.RequestCreatedSchema)
def file_request(body):
    """File a request for a subject; the answer (id, state, due date) is the acknowledgement."""
    def create():
        filed = service.file(
            **current_call().services("envelope"), subject_id=body["subject_id"], type=body["type"], channel=body["channel"], jurisdiction=body["jurisdiction"],
            details=body["details"], received_at=body["received_at"], acknowledge=body["acknowledge"], received_reason=body["received_reason"],
            next_of_kin=body["next_of_kin"],
        )
        r = filed.request
        return {
            "id": str(r.id), "state": r.state, "due_at": as_utc(r.due_at).isoformat(), "duplicate_of": str(r.duplicate_of) if r.duplicate_of else None,
            "verification_required": r.verification_required, "deadlines": schemas.RequestDeadlineSchema().dump(_deadlines(filed.deadlines)),
        }, {"Location": f"/api/v1/requests/{r.id}"}

    return idempotent_create(body and {k: str(v) for k, v in body.items()}, create)


@blp.route("/deceased/<uuid:subject_id>", methods=["POST"])
@requires(Permission.REQUESTS_DECEASED)
@blp.arguments(schemas.DeceasedSchema)
@blp.response(200, schemas.DeceasedViewSchema)
def mark_deceased(body, subject_id: uuid.UUID):
    """Mark a subject deceased (PIPL Art. 49), with the date and the evidence reference; again to correct it (the
    deceased's own arrangement found later). Close relatives may then file access, rectification and erasure requests
    with `next_of_kin`; audited."""
    return dataclasses.asdict(deceased.mark(**current_call().services(), subject_id=subject_id, deceased_on=body["deceased_on"],
                                            evidence_ref=body["evidence_ref"], arranged_otherwise=body["arranged_otherwise"]))


@blp.route("", methods=["GET"])
@requires(Permission.REQUESTS_READ)
@blp.arguments(schemas.RequestQueueQuerySchema, location="query")
@blp.response(200, schemas.RequestQueueSchema, headers=DEPRECATION_HEADERS)
def list_requests(query):
    """The queue: open requests (or those in `state`) soonest due first, flagged overdue / due soon, a page at a time.
    `requests` repeats `items` for clients of the old shape until the Sunset date (deprecated)."""
    call = current_call()
    items = service.queue(**call.services(), state=query["state"], type=query["type"], due_before=query["due_before"], subject_id=query["subject_id"], limit=QUEUE_SCAN)
    return answer_page(call.envelope, items, query, key=lambda i: (moment(i.request.due_at), moment(i.request.received_at), str(i.request.id)),
                       view=lambda i: _view(i.request, item=i), old_key="requests")


# The queue is paged over its first QUEUE_SCAN rows of a filter (soonest due first): the open work of a controller,
# well above any real queue; a filter (state, type, due_before, subject_id) narrows a larger one.
QUEUE_SCAN = 10_000


@blp.route("/<uuid:request_id>", methods=["GET"])
@requires(Permission.REQUESTS_READ)
@blp.response(200, schemas.RequestSchema)
def get_request(request_id: uuid.UUID):
    """A request with its deadlines and timeline."""
    req, events, d = service.read(**current_call().services(), request_id=request_id)
    return _view(req, d, events)


@blp.route("/<uuid:request_id>/otp", methods=["POST"])
@requires(Permission.REQUESTS_VERIFY)
@blp.response(201, schemas.RequestOtpSchema)
def issue_otp(request_id: uuid.UUID):
    """Issue a one-time code for the CRM to deliver to the requester."""
    code, expires = service.issue_otp(**current_call().services("envelope"), request_id=request_id)
    return {"code": code, "expires_at": expires}


@blp.route("/<uuid:request_id>/verify", methods=["POST"])
@requires(Permission.REQUESTS_VERIFY)
@blp.arguments(schemas.RequestVerifySchema)
@blp.response(200, schemas.RequestVerificationSchema)
def verify(body, request_id: uuid.UUID):
    """Record a verification: a CRM session asserted by a service, a returned one-time code, or a staff document check.
    A failure is recorded (200, verified false); repeated failures lock the request (423 afterwards)."""
    ctx = current_call()
    result = service.verify(**ctx.services("envelope"), request_id=request_id, method=body["method"], code=body["code"], reference=body["reference"], passed=body["passed"],
                            occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])
    req = service.get_or_raise(session=ctx.session, request_id=request_id)
    token = None
    if result.verified and req.type in service.PACKAGE_TYPES and req.state == "in_progress":
        token = _token(service.issue_download_token(**ctx.services("envelope"), request_id=request_id))
    return {**dataclasses.asdict(result), "state": req.state, "package_token": token}


def _token(issued: service.IssuedToken) -> dict:
    return {"token": issued.token, "token_id": issued.token_id, "expires_at": issued.expires_at, "download": "/api/v1/requests/download"}


@blp.route("/<uuid:request_id>/download-token", methods=["POST"])
@requires(Permission.REQUESTS_VERIFY)
@blp.response(201, schemas.DownloadTokenSchema)
def issue_download_token(request_id: uuid.UUID):
    """A new one-time token for the data subject to download the package of this verified access or portability request
    (the earlier unused one is revoked). The service hands it over; it cannot download the package with its own key."""
    return _token(service.issue_download_token(**current_call().services("envelope"), request_id=request_id))


@blp.route("/download", methods=["POST"])
@public("the data subject redeems a one-time token the filing service handed over; the token is the credential")
@limited("package_redemption")
@blp.arguments(schemas.DownloadRedeemSchema)
@blp.response(200, description="application/zip: the package, as for GET /{id}/package")
@blp.alt_response(404, description="download_not_found: unknown, used, revoked or expired (one answer for all)")
def redeem_download(body):
    """Download a package with a one-time token (no API key): the token is spent, the download audited with the request
    and the token's id, never the token. Any unknown, used or expired token answers the same 404."""
    pkg = flows.redeem(**current_call().services("envelope"), token=body["token"])
    return _zip_response(pkg)


def _zip_response(pkg: flows.Package) -> Response:
    return Response(pkg.content, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{pkg.filename}"', "X-Content-SHA256": pkg.sha256, "Cache-Control": "no-store",
    })


def _clock(fn, request_id, **kw):
    ctx = current_call()
    d = fn(**ctx.services(), request_id=request_id, **kw)
    req = service.get_or_raise(session=ctx.session, request_id=request_id)  # fn checked it is the caller's
    return _view(req, d)


@blp.route("/<uuid:request_id>/acknowledge", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RecordedTimeSchema)
@blp.response(200, schemas.RequestSchema)
def acknowledge(body, request_id: uuid.UUID):
    """Record that the requester was told the request was received (staff: when, if earlier, and why it is entered late)."""
    return _clock(service.acknowledge, request_id, occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])


@blp.route("/<uuid:request_id>/extend", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RequestExtendSchema)
@blp.response(200, schemas.RequestSchema)
def extend(body, request_id: uuid.UUID):
    """Extend the deadline where the law allows it, with the reasons told to the requester (staff: when it was told, if
    earlier, and why it is entered late)."""
    return _clock(service.extend, request_id, reason=body["reason"], occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])


@blp.route("/<uuid:request_id>/pause", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RequestExtendSchema)
@blp.response(200, schemas.RequestSchema)
def pause(body, request_id: uuid.UUID):
    """Stop the clock while waiting for the requester (where the law lets it stop); staff: since when, if earlier, and why
    it is entered late."""
    return _clock(service.pause, request_id, reason=body["reason"], occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])


@blp.route("/<uuid:request_id>/resume", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RecordedTimeSchema)
@blp.response(200, schemas.RequestSchema)
def resume(body, request_id: uuid.UUID):
    """Restart the clock (staff: when the requester's answer really arrived, if earlier, and why it is entered late)."""
    return _clock(service.resume, request_id, occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"])


@blp.route("/<uuid:request_id>/complete", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RequestCompleteSchema)
@blp.response(200, schemas.RequestSchema)
def complete(body, request_id: uuid.UUID):
    """Carry the request out (erase, rectify, restrict, withdraw consent, …) and close it (staff: an answer given earlier
    outside govern, when and why it is entered late)."""
    # The purge ledgers an erasure writes to belong to the runtime, not to a call.
    req = flows.complete(
        **current_call().services("envelope"), request_id=request_id, ledgers=current_runtime().ledgers, explanation=body["explanation"],
        occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"],
    )
    return _view(req)


@blp.route("/<uuid:request_id>/refuse", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RequestRefuseSchema)
@blp.response(200, schemas.RequestSchema)
def refuse(body, request_id: uuid.UUID):
    """Refuse with a reason and the legal basis; the answer tells the requester how to complain (staff: a refusal sent
    earlier, when and why it is entered late)."""
    return _view(service.refuse(**current_call().services(), request_id=request_id, reason=body["reason"], legal_basis=body["legal_basis"],
                                explanation=body["explanation"], occurred_at=body["occurred_at"], occurred_reason=body["occurred_reason"]))


@blp.route("/<uuid:request_id>/withdraw", methods=["POST"])
@requires(Permission.REQUESTS_WITHDRAW)
@blp.response(200, schemas.RequestSchema)
def withdraw(request_id: uuid.UUID):
    """The requester withdraws the request."""
    return _view(service.withdraw(**current_call().services(), request_id=request_id))


@blp.route("/<uuid:request_id>/lift", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.RestrictionLiftSchema)
@blp.response(200, schemas.RequestSchema)
def lift(body, request_id: uuid.UUID):
    """Lift the restriction a completed restriction request put in place, after the subject was told (GDPR Art. 18(3)):
    when and how they were told is required and recorded; the lift is sent as a webhook event to the CRM that tells them."""
    return _view(flows.lift_restriction(**current_call().services(), request_id=request_id, reason=body["reason"], told_at=body["told_at"],
                                        told_channel=body["told_channel"]))


@blp.route("/<uuid:request_id>/objections/lift", methods=["POST"])
@requires(Permission.REQUESTS_MANAGE)
@blp.arguments(schemas.ObjectionLiftSchema)
@blp.response(200, schemas.RequestSchema)
def lift_objection(body, request_id: uuid.UUID):
    """Lift the objection this completed objection request recorded to one legitimate-interest purpose, on compelling
    legitimate grounds (GDPR Art. 21(1)); the objection is kept as lifted, with who, when and why."""
    ctx = current_call()
    req = service.lift_objection(**ctx.services(), request_id=request_id, purpose=body["purpose"], reason=body["reason"])
    return _view(req, events=service.events_of(session=ctx.session, request_id=req.id))


@blp.route("/<uuid:request_id>/package", methods=["GET"])
@requires(Permission.REQUESTS_PACKAGE)
@blp.response(200, description="application/zip: data.json, CSV files, a summary in the subject's language, manifest.json")
def download_package(request_id: uuid.UUID):
    """Privacy staff download the access or portability package (zip) of a verified request with their own credential
    (requests:package:download, never held by a service role); its SHA-256 is in the audit log and the header. The
    data subject downloads it with a one-time token (POST /download)."""
    return _zip_response(flows.package(**current_call().services("envelope"), request_id=request_id))


@blp.route("/<uuid:request_id>/certificate", methods=["GET"])
@requires(Permission.REQUESTS_READ)
@blp.response(200, description="The erasure certificate and its SHA-256")
def get_certificate(request_id: uuid.UUID):
    """The erasure certificate: what was destroyed, how and when, what was kept, why and until when."""
    return flows.certificate(**current_call().services(), request_id=request_id)
