"""Request and response shapes of the data-subject requests API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.openapi import FreeText
from govern.subject_requests.policy import REQUEST_TYPES
from govern.subject_requests.service import STATES


class RequestCreateSchema(Schema):
    EXAMPLE = {"subject_id": "5b3d6c2e-0f4a-4e1b-9c7d-000000000001", "type": "access", "channel": "app"}

    subject_id = ma.UUID(required=True)
    type = ma.Str(required=True, validate=validate.OneOf(REQUEST_TYPES))
    channel = ma.Str(required=True, metadata={"description": "web, app, wechat, phone, email, paper, in_store"})
    jurisdiction = ma.Str(load_default=None, metadata={"description": "Defaults to the subject's jurisdiction."})
    details = ma.Dict(load_default=dict, metadata={"description": "What exactly is asked: fields, record_types, purposes (names); for a rectification `fields` maps each field to its correct value."})
    received_at = ma.AwareDateTime(load_default=None, metadata={"description": "When it really reached the company (a letter, an e-mail): any past time; earlier than now only for staff (requests:request:backdate), with `received_reason`. Every deadline counts from it."})
    received_reason = FreeText(load_default=None, metadata={"description": "Why the receipt time is entered afterwards (no personal data)."})
    acknowledge = ma.Bool(load_default=True, metadata={"description": "This answer is the acknowledgement the requester receives."})
    next_of_kin = ma.Nested(lambda: NextOfKinSchema(), load_default=None, metadata={"description": "A close relative of a deceased subject files (PIPL Art. 49): access, rectification or erasure."})


class NextOfKinSchema(Schema):
    relationship = ma.Str(required=True, metadata={"description": "A code from policies/requests.yaml next_of_kin.relationships (spouse, parent, child, …)"})
    verification_ref = FreeText(required=True, metadata={"description": "The reference of the check that proved the relationship (no personal data)"})


class RecordedTimeSchema(Schema):
    EXAMPLE = {}

    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": "When it really happened, if earlier (staff: requests:request:backdate)"})
    occurred_reason = FreeText(load_default=None, metadata={"description": "Why the time is entered afterwards (no personal data)"})


class DeceasedSchema(Schema):
    EXAMPLE = {"deceased_on": "2026-10-01", "evidence_ref": "DEATH-CERT-REF-991"}

    deceased_on = ma.Date(required=True, metadata={"description": "The date of death"})
    evidence_ref = FreeText(required=True, metadata={"description": "The reference of the evidence seen (a death certificate's number), no personal data"})
    arranged_otherwise = ma.Bool(load_default=False, metadata={"description": "The deceased arranged that close relatives exercise no rights (PIPL Art. 49)"})


class DeceasedViewSchema(Schema):
    subject_id = ma.UUID()
    deceased_on = ma.Date()
    evidence_ref = ma.Str()
    arranged_otherwise = ma.Bool()


class RequestDeadlineSchema(Schema):
    received_on = ma.Date()
    acknowledge_by = ma.Date(allow_none=True)
    acknowledged_on = ma.Date(allow_none=True)
    original_due = ma.Date()
    due = ma.Date()
    due_at = ma.DateTime()
    extensions = ma.Int()
    paused = ma.Bool()
    paused_days = ma.Int()
    provisional = ma.Bool()
    sources = ma.Dict(keys=ma.Str(), values=ma.Str())


class RequestCreatedSchema(Schema):
    id = ma.UUID(required=True)
    state = ma.Str(required=True)
    due_at = ma.DateTime(required=True)
    duplicate_of = ma.UUID(allow_none=True)
    verification_required = ma.Bool()
    deadlines = ma.Nested(RequestDeadlineSchema)


class RequestEventSchema(Schema):
    kind = ma.Str()
    occurred_at = ma.DateTime()
    actor = ma.Str()
    from_state = ma.Str(allow_none=True)
    to_state = ma.Str(allow_none=True)
    reason = ma.Str(allow_none=True)
    data = ma.Dict(allow_none=True)


class RequestSchema(Schema):
    id = ma.UUID()
    subject_id = ma.UUID()
    type = ma.Str()
    jurisdiction = ma.Str()
    channel = ma.Str()
    state = ma.Str()
    details = ma.Dict()
    received_at = ma.DateTime()
    due_at = ma.DateTime()
    acknowledged_at = ma.DateTime(allow_none=True)
    extended = ma.Bool()
    paused = ma.Bool()
    verification_required = ma.Bool()
    verified_at = ma.DateTime(allow_none=True)
    verification_method = ma.Str(allow_none=True)
    verified_by = ma.Str(allow_none=True)
    locked = ma.Bool()
    duplicate_of = ma.UUID(allow_none=True)
    refusal_reason = ma.Str(allow_none=True)
    legal_basis = ma.Str(allow_none=True)
    response = ma.Dict(allow_none=True)
    overdue = ma.Bool()
    due_soon = ma.Bool()
    acknowledgement_overdue = ma.Bool()
    answered_on_time = ma.Bool(allow_none=True, metadata={"description": "Completed or refused: whether by the deadline, from the real answer time; else null"})
    requester_relationship = ma.Str(allow_none=True, metadata={"description": "A close relative of a deceased subject filed (PIPL Art. 49)"})
    deadlines = ma.Nested(RequestDeadlineSchema)
    timeline = ma.List(ma.Nested(RequestEventSchema))


RequestQueueQuerySchema = PageQuerySchema(
    "RequestQueueQuerySchema", default=200, maximum=1000,
    state=ma.Str(load_default=None, validate=validate.OneOf(STATES, error="one of {choices}")),
    type=ma.Str(load_default=None, validate=validate.OneOf(REQUEST_TYPES, error="one of {choices}")), due_before=ma.AwareDateTime(load_default=None), subject_id=ma.UUID(load_default=None),
)
RequestQueueSchema = PageSchema("RequestQueueSchema", RequestSchema, old_key="requests")


class RequestVerifySchema(Schema):
    EXAMPLE = {"method": "crm_session", "reference": "sess-4f2a9c"}

    method = ma.Str(required=True, validate=validate.OneOf(["crm_session", "otp", "document"]))
    code = ma.Str(load_default=None, metadata={"description": "otp: the code the requester returned"})
    reference = FreeText(load_default=None, metadata={"description": "crm_session: the session id; document: the document-check id (no personal data)"})
    passed = ma.Bool(load_default=True, metadata={"description": "crm_session/document: false records a failed check"})
    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": "document: when the check was really done, if earlier (staff)"})
    occurred_reason = FreeText(load_default=None, metadata={"description": "Why the time is entered afterwards (no personal data)"})


class DownloadTokenSchema(Schema):
    token = ma.Str(metadata={"description": "Hand it to the data subject; good for one download, shown once, kept only as a keyed hash."})
    token_id = ma.UUID()
    expires_at = ma.DateTime()
    download = ma.Str(metadata={"description": "Where the subject redeems it: POST with {\"token\": …}, no API key."})


class DownloadRedeemSchema(Schema):
    EXAMPLE = {"token": "dl_0f4a4e1b9c7d"}

    token = ma.Str(required=True, validate=validate.Length(max=200))


class RequestVerificationSchema(Schema):
    verified = ma.Bool()
    locked = ma.Bool()
    failures = ma.Int()
    failures_left = ma.Int()
    reason = ma.Str(allow_none=True)
    state = ma.Str()
    package_token = ma.Nested(DownloadTokenSchema, allow_none=True, metadata={
        "description": "An access or portability request just verified: a one-time download token for the data subject.",
    })


class RequestOtpSchema(Schema):
    code = ma.Str(metadata={"description": "Deliver it to the requester; govern keeps only a keyed hash."})
    expires_at = ma.DateTime()


class RequestReasonSchema(Schema):
    reason = FreeText(load_default=None)


class RequestExtendSchema(RequestReasonSchema, RecordedTimeSchema):
    EXAMPLE = {"reason": "complex request: records in three systems"}

    pass


class RestrictionLiftSchema(RequestReasonSchema):
    EXAMPLE = {"reason": "dispute settled", "told_at": "2026-11-02T09:00:00+00:00", "told_channel": "email"}

    told_at = ma.AwareDateTime(required=True, metadata={"description": "When the subject was told the restriction will be lifted (GDPR Art. 18(3)): before the lift"})
    told_channel = ma.Str(required=True, metadata={"description": "How: email, letter, phone, app, sms, wechat, in_person"})


class ObjectionLiftSchema(Schema):
    EXAMPLE = {"purpose": "marketing", "reason": "Compelling grounds: the DPO's assessment DPIA-88 outweighs the objection"}

    purpose = ma.Str(required=True, metadata={"description": "The legitimate-interest purpose whose objection is lifted"})
    reason = FreeText(required=True, metadata={"description": "The compelling legitimate grounds that override the subject's interests (GDPR Art. 21(1)); no personal data"})


class RequestCompleteSchema(Schema):
    EXAMPLE = {"explanation": "package ready"}

    explanation = FreeText(load_default=None, metadata={"description": "The answer told to the requester (no personal data)."})
    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": (
        "When the answer was really given, if earlier (staff: requests:request:backdate; access, portability and complaint "
        "requests only, answered outside govern): never in the future, never before receipt or verification. "
        "answered_on_time counts from it."
    )})
    occurred_reason = FreeText(load_default=None, metadata={"description": "Why the time is entered afterwards (required with an earlier occurred_at; no personal data)"})


class RequestRefuseSchema(Schema):
    EXAMPLE = {"reason": "other", "legal_basis": "PIPL Art. 50", "explanation": "已由法院裁定冻结该账户"}

    reason = ma.Str(required=True, metadata={"description": "identity_not_verified, manifestly_unfounded, excessive, legal_exception, not_applicable, other"})
    legal_basis = FreeText(required=True, metadata={"description": "The provision relied on, e.g. GDPR Art. 12(5)(b)"})
    explanation = FreeText(load_default=None)
    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": (
        "When the refusal was really sent, if earlier (staff: requests:request:backdate): never in the future, never before receipt. "
        "answered_on_time counts from it."
    )})
    occurred_reason = FreeText(load_default=None, metadata={"description": "Why the time is entered afterwards (required with an earlier occurred_at; no personal data)"})
