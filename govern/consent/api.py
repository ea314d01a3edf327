"""Consent API: public notices, recording grants and withdrawals (with receipts), a subject's consents, the bulk
check for marketing, and the figures and CSV export for privacy staff. Thin: the rules are in service.py."""

from __future__ import annotations

import uuid

from flask import Response, jsonify
from flask_smorest import Blueprint

from govern.access import service as access
from govern.api_lists import answer_page
from govern.api_support import current_call, idempotent_create
from govern.consent import collection, reports, schemas, service
from govern.errors import not_found
from govern.identity.guard import current_runtime, public, requires
from govern.identity.permissions import Permission
from govern.ratelimit import limited
from govern.timeutil import utcnow

blp = Blueprint("consent", __name__, url_prefix="/api/v1", description="Notices, consent events, receipts and the consent check")


@blp.route("/notices", methods=["GET"])
@public("published privacy notices are public by law (PIPL Art. 17, GDPR Art. 13)")
@blp.arguments(schemas.NoticeListQuerySchema, location="query")
@blp.response(200, schemas.NoticeIndexPageSchema)
def list_notices(query):
    """Every notice (purposes and the privacy policy), by purpose, with its versions and the current one."""
    now, rt = utcnow(), current_runtime()  # the policy and keys only: no call context, which would open a session this never uses

    def notice(item):
        name, nset = item
        current = nset.current(now)
        return {
            "purpose": name, "current_version": current.version if current else None,
            "versions": [
                {"version": v.version, "published_at": v.published_at, "requires_reconsent": v.requires_reconsent, "sha256": dict(v.sha256)}
                for v in nset.published(now)
            ],
        }

    return answer_page(rt.envelope, rt.policy.notices.sets.items(), query, key=lambda item: (item[0],), view=notice)


@blp.route("/notices/<purpose>", methods=["GET"])
@public("published privacy notices are public by law (PIPL Art. 17, GDPR Art. 13)")
@blp.arguments(schemas.NoticeQuerySchema, location="query")
@blp.response(200, schemas.NoticeSchema)
@blp.alt_response(404, description="No such purpose or version")
def get_notice(query, purpose: str):
    """The current text of a purpose's notice in zh or en, or an earlier version by `version`; no key needed."""
    now = utcnow()
    rt = current_runtime()  # the policy, and a session only for the current version's recipients: opened only then
    nset = rt.policy.notices.for_purpose(purpose)
    if nset is None:
        raise not_found("notice")
    current = nset.current(now)
    notice = nset.get(query["version"]) if query["version"] else current
    if notice is None or not notice.is_published(now):
        raise not_found("notice version")
    lang = query["lang"]
    return {
        "purpose": purpose, "version": notice.version, "language": lang, "text": notice.texts[lang], "sha256": notice.sha256[lang],
        "published_at": notice.published_at, "requires_reconsent": notice.requires_reconsent, "current": notice is current,
        "summary": notice.summary.get(lang), "scope": notice.scope,
        "recipients": service.notice_recipients(session=rt.session(), policy=rt.policy, purpose=purpose, language=lang) if notice is current else None,
    }


@blp.route("/subjects/<uuid:subject_id>/consents", methods=["POST"])
@requires(Permission.CONSENT_RECORD)
@blp.arguments(schemas.ConsentCreateSchema)
@blp.response(201, description="The consent receipt (Kantara Consent Receipt v1.1 fields)")
@blp.alt_response(422, description="separate_consent_required or guardian_consent_required (problem+json)")
@blp.alt_response(409, description="nothing_to_withdraw, notice_superseded, out_of_order, consent_not_applicable")
def record_consent(body, subject_id: uuid.UUID):
    """Record a grant or a withdrawal (or a Global Privacy Control opt-out); returns the receipt."""

    def create():
        recorded = service.record(
            **current_call().services("envelope"), subject_id=subject_id, action=body["action"], purposes=body["purposes"] or ([body["purpose"]] if body["purpose"] else []),
            channel=body["channel"], method=body["method"], notice_version=body["notice_version"], notice_language=body["notice_language"],
            notice_sha256=body["notice_sha256"], evidence=body["evidence"], captured_by=body["captured_by"], occurred_at=body["occurred_at"],
            occurred_reason=body["occurred_reason"], separate=body["separate"], recipients=body["recipients"], guardian=body["guardian"],
        )
        if not recorded.events:
            raise _Unchanged()
        return recorded.receipt, {"Location": f"/api/v1/receipts/{recorded.receipt_id}"}

    try:
        return idempotent_create(_fingerprintable(body), create)
    except _Unchanged:
        # A repeated GPC signal: the opt-out already stands, nothing new to record.
        return jsonify({"changed": False, "detail": "The opt-out is already recorded."})


class _Unchanged(Exception):
    pass


def _fingerprintable(body: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in body.items()}


@blp.route("/subjects/<uuid:subject_id>/consents", methods=["GET"])
@requires(Permission.CONSENT_READ)
@blp.response(200, schemas.ConsentHistorySchema)
def list_consents(subject_id: uuid.UUID):
    """The current state per purpose (and whether it counts now), every consent event, oldest first, and the basis each
    sensitive field was last written on (PIPL Art. 29, GDPR Art. 9(2): no values)."""
    call = current_call()
    out = service.history(**call.services("envelope"), subject_id=subject_id)
    out["collection_bases"] = collection.bases_of(session=call.session, subject_id=subject_id)
    out["reads_after_withdrawal"] = reports.reads_after_withdrawal(session=call.session, subject_id=subject_id)
    return out


@blp.route("/receipts/<uuid:receipt_id>", methods=["GET"])
@requires(Permission.CONSENT_READ)
@blp.response(200, description="The receipt exactly as issued")
def get_receipt(receipt_id: uuid.UUID):
    """Fetch a consent receipt again: the principal that recorded it, or staff with consent:report:read (else 404)."""
    return jsonify(service.get_receipt(**current_call().services(), receipt_id=receipt_id))


@blp.route("/consents/check", methods=["POST"])
@requires(Permission.CONSENT_CHECK)
@limited("consent_check")
@blp.arguments(schemas.CheckSchema)
@blp.response(200, schemas.CheckResultSchema)
def check_consents(body):
    """Which of up to 10,000 subject ids may be used for the purpose now (the same rule as a purpose-bound read)."""
    allowed = access.allowed_subjects(
        **current_call().services("envelope"), purpose_name=body["purpose"], subject_ids=body["subject_ids"],
        fields=body.get("fields"), record_types=body.get("record_types"),
    )
    return {"allowed": allowed}


@blp.route("/consents/figures", methods=["GET"])
@requires(Permission.CONSENT_REPORT)
@blp.arguments(schemas.FigureQuerySchema, location="query")
@blp.response(200, schemas.FigurePageSchema)
def consent_figures(query):
    """Per purpose (by name) and notice version: grants that count, withdrawals, and grants awaiting re-consent."""
    ctx = current_call()
    return answer_page(ctx.envelope, reports.figures(**ctx.services()), query, key=lambda f: (f["purpose"],))


@blp.route("/consents/export", methods=["GET"])
@requires(Permission.CONSENT_REPORT)
@blp.arguments(schemas.ExportQuerySchema, location="query")
@blp.response(200, description="text/csv: subject_id, purpose, preference, notice_version, method, updated_at")
def export_preferences(query):
    """Current preferences per purpose as CSV, for channels that never call govern (opt-outs must reach them)."""
    rows = reports.preferences(**current_call().services(), purpose=query["purpose"])
    name = f"consent-preferences-{query['purpose'] or 'all'}.csv"
    return Response(reports.to_csv(rows), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


