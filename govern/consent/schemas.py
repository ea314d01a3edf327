"""Request and response shapes of the consent API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, validate, validates_schema
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.consent.service import ACTIONS, CHANNELS, GUARDIAN_RELATIONSHIPS, MAX_CHECK_IDS, METHODS
from govern.openapi import FreeText, UUIDList


class NoticeQuerySchema(Schema):
    lang = ma.Str(load_default="zh", validate=validate.OneOf(["zh", "en"]))
    version = ma.Str(load_default=None, validate=validate.Length(1, 32))


class NoticeSchema(Schema):
    purpose = ma.Str(required=True)
    version = ma.Str(required=True)
    language = ma.Str(required=True)
    text = ma.Str(required=True)
    sha256 = ma.Str(required=True, metadata={"description": "SHA-256 of the exact UTF-8 text; a consent event pins it."})
    published_at = ma.DateTime(required=True)
    requires_reconsent = ma.Bool(required=True)
    current = ma.Bool(required=True, metadata={"description": "Whether this is the version in force now."})
    summary = ma.Str(allow_none=True)
    scope = ma.Dict(allow_none=True, metadata={"description": "What this version announced: fields, record_types, method, provision (PIPL Art. 14 ¶2)."})
    recipients = ma.List(ma.Dict(), allow_none=True, metadata={
        "description": "On the current version of a notice that provides, discloses or transfers data: each registered recipient's "
        "name, contact, country, purpose, processing method and kinds of data, and for one abroad how rights are exercised (PIPL Art. 23, 25, 39).",
    })


class NoticeVersionSchema(Schema):
    version = ma.Str(required=True)
    published_at = ma.DateTime(required=True)
    requires_reconsent = ma.Bool(required=True)
    sha256 = ma.Dict(keys=ma.Str(), values=ma.Str(), required=True)


class NoticeIndexSchema(Schema):
    purpose = ma.Str(required=True)
    current_version = ma.Str(allow_none=True)
    versions = ma.List(ma.Nested(NoticeVersionSchema), required=True)


NoticeListQuerySchema = PageQuerySchema("NoticeListQuerySchema")
NoticeIndexPageSchema = PageSchema("NoticeIndexPageSchema", NoticeIndexSchema)


class GuardianSchema(Schema):
    relationship = ma.Str(required=True, validate=validate.OneOf(GUARDIAN_RELATIONSHIPS))
    name = ma.Str(load_default=None, metadata={"description": "Sealed under the subject's data key; never shown on receipts."})
    subject_id = ma.Str(load_default=None, metadata={"description": "The guardian's own subject id, when govern knows them."})
    verification = FreeText(required=True, metadata={"description": "How identity and relationship were checked (e.g. household register seen in store)."})
    contact = ma.Str(load_default=None)


class ConsentCreateSchema(Schema):
    EXAMPLE = {"action": "grant", "purpose": "marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-7"}

    action = ma.Str(required=True, validate=validate.OneOf(ACTIONS))
    purpose = ma.Str(load_default=None)
    purposes = ma.List(ma.Str(), load_default=None, metadata={"description": "Several ordinary purposes in one act, each once; a purpose needing separate consent is refused here.", "uniqueItems": True})
    notice_version = ma.Raw(load_default=None, metadata={"description": "The version shown (required for a grant); or purpose → version."})
    notice_language = ma.Str(load_default=None, validate=validate.OneOf(["zh", "en"]))
    notice_sha256 = ma.Str(load_default=None, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    channel = ma.Str(required=True, validate=validate.OneOf(CHANNELS))
    method = ma.Str(load_default="explicit", validate=validate.OneOf(METHODS))
    evidence = FreeText(load_default=None, metadata={"description": "A reference to the proof (form id, recording id, scan id) — not personal data."})
    captured_by = FreeText(load_default=None, metadata={"description": "Who captured it at the channel (staff number, kiosk id)."})
    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": (
        "When the subject acted; default now; never in the future, never before the purpose's last event (a withdrawal before "
        "its grant: 409 out_of_order). A withdrawal received earlier (by letter, e-mail) takes effect from this time: reads "
        "after it are reported in reads_after_withdrawal."
    )})
    occurred_reason = FreeText(load_default=None, metadata={"description": (
        "Why the act is entered after it happened (required for a withdrawal dated more than a minute ago); kept on the "
        "receipt as govern.entered_because with who entered it; audited consent:clock:backdate. No personal data."
    )})
    separate = ma.Bool(load_default=False, metadata={"description": "The consent was given on its own, for this purpose alone (单独同意)."})
    recipients = ma.List(ma.Str(), load_default=list, metadata={"description": "Third-party recipients named to the subject (purposes that provide data to third parties)."})
    guardian = ma.Nested(GuardianSchema, load_default=None)

    @validates_schema
    def _one_way_to_name_purposes(self, data, **_):
        if data.get("purpose") and data.get("purposes"):
            raise ValidationError("send purpose or purposes, not both", "purposes")
        if data.get("method") != "gpc" and not (data.get("purpose") or data.get("purposes")):
            raise ValidationError("name the purpose", "purpose")


class ConsentStateSchema(Schema):
    purpose = ma.Str(required=True)
    status = ma.Str(required=True, metadata={"description": "none | granted | withdrawn"})
    usable = ma.Bool(required=True, metadata={"description": "Whether a read for this purpose would succeed now."})
    reason = ma.Str(allow_none=True, metadata={"description": "Why not: consent_required, consent_withdrawn, reconsent_required, …"})
    notice_version = ma.Str(allow_none=True)
    separate = ma.Bool(required=True)
    guardian = ma.Bool(required=True)
    recipients = ma.List(ma.Str(), required=True)
    receipt_id = ma.UUID(allow_none=True)
    updated_at = ma.DateTime(allow_none=True)
    not_covered = ma.List(ma.Str(), load_default=list, metadata={
        "description": "Fields (and record:<type>) the purpose uses now that the notice this consent was given under did not announce: "
        "reading them needs the subject's consent again (PIPL Art. 14 ¶2).",
    })


class ConsentEventSchema(Schema):
    seq = ma.Int(required=True)
    receipt_id = ma.UUID(required=True)
    purpose = ma.Str(required=True)
    action = ma.Str(required=True)
    method = ma.Str(required=True)
    channel = ma.Str(required=True)
    notice_version = ma.Str(allow_none=True)
    notice_language = ma.Str(allow_none=True)
    notice_sha256 = ma.Str(allow_none=True)
    separate = ma.Bool(required=True)
    recipients = ma.List(ma.Str(), required=True)
    guardian = ma.Bool(required=True)
    guardian_relationship = ma.Str(allow_none=True)
    evidence = ma.Str(allow_none=True)
    captured_by = ma.Str(allow_none=True)
    occurred_at = ma.DateTime(required=True)
    recorded_at = ma.DateTime(required=True)
    recorded_by = ma.Str(required=True)


class ReadsAfterWithdrawalSchema(Schema):
    purpose = ma.Str(required=True)
    withdrawn_at = ma.DateTime(required=True, metadata={"description": "When the withdrawal really took effect (its occurred_at)"})
    recorded_at = ma.DateTime(required=True, metadata={"description": "When it was entered in govern"})
    until = ma.DateTime(allow_none=True, metadata={"description": "The next grant of the purpose, if any"})
    reads = ma.Int(required=True, metadata={"description": "Allowed reads for the purpose in that window: not covered by consent"})
    last_read_at = ma.DateTime(allow_none=True)


class ConsentHistorySchema(Schema):
    subject_id = ma.UUID(required=True)
    jurisdiction = ma.Str(required=True)
    current = ma.List(ma.Nested(ConsentStateSchema), required=True)
    events = ma.List(ma.Nested(ConsentEventSchema), required=True)
    reads_after_withdrawal = ma.List(ma.Nested(ReadsAfterWithdrawalSchema), load_default=list, metadata={"description": (
        "Per withdrawal: the reads for the purpose that the audit log shows after the withdrawal really took effect "
        "(a withdrawal entered late makes the reads in between uncovered; the audit log itself is never rewritten)."
    )})
    collection_bases = ma.Dict(
        keys=ma.Str(), values=ma.Dict(), load_default=dict,
        metadata={"description": "Field → the basis it was last written on: law, basis (consent, a code of sensitive_collection.bases, carried), purpose, receipt_id, guardian, reference, recorded_at."},
    )


class CheckSchema(Schema):
    EXAMPLE = {"purpose": "marketing", "subject_ids": ["5b3d6c2e-0f4a-4e1b-9c7d-000000000001", "5b3d6c2e-0f4a-4e1b-9c7d-000000000005"]}

    purpose = ma.Str(required=True)
    subject_ids = UUIDList(required=True, validate=validate.Length(max=MAX_CHECK_IDS))
    # The data the caller will use (default: all the purpose uses now). A consent given under a notice that did not
    # announce it does not count for it (PIPL Art. 14 ¶2).
    fields = ma.List(ma.Str(validate=validate.Length(max=64)), load_default=None, validate=validate.Length(max=100))
    record_types = ma.List(ma.Str(validate=validate.Length(max=64)), load_default=None, validate=validate.Length(max=100))


class CheckResultSchema(Schema):
    allowed = UUIDList(required=True)


class FigureVersionSchema(Schema):
    version = ma.Str(allow_none=True)
    granted = ma.Int(required=True)
    withdrawn = ma.Int(required=True)
    pending_reconsent = ma.Int(required=True)


class FigureSchema(Schema):
    purpose = ma.Str(required=True)
    label = ma.Dict(keys=ma.Str(), values=ma.Str())
    current_version = ma.Str(allow_none=True)
    granted = ma.Int(required=True)
    withdrawn = ma.Int(required=True)
    pending_reconsent = ma.Int(required=True)
    versions = ma.List(ma.Nested(FigureVersionSchema), required=True)


class ExportQuerySchema(Schema):
    purpose = ma.Str(load_default=None)


FigureQuerySchema = PageQuerySchema("FigureQuerySchema")
FigurePageSchema = PageSchema("FigurePageSchema", FigureSchema)
