"""Request and response shapes of the subjects API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.validators import EXTERNAL_REF_PATTERN

SENSITIVE_BASIS = (
    "A basis other than consent for the sensitive fields written (jurisdictions.yaml sensitive_collection.bases): "
    "{basis: legal_obligation (CN) | b…j (GDPR Art. 9(2)) | notice_at_collection (US-CA), reference: the document or statute, "
    "purpose: a purpose that declares the fields (default: the write's purpose)}. Kept with each field and audited."
)


class SubjectCreateSchema(Schema):
    EXAMPLE = {"external_ref": "crm-123", "jurisdiction": "CN", "language": "zh", "birth_date": "1990-05-01", "fields": {"name": "张三", "mobile": "13812345678", "email": "zhang@example.cn"}}

    external_ref = ma.Str(
        validate=validate.Regexp(EXTERNAL_REF_PATTERN, error="1–128 characters of A–Z a–z 0–9 . _ : - (the CRM's own id of the customer)"), load_default=None,
        metadata={"description": "The CRM's own id for this customer (not personal data): ^[A-Za-z0-9._:-]{1,128}$, and not a mobile, ID or card number."},
    )
    jurisdiction = ma.Str(required=True, metadata={"description": "A key of policies/jurisdictions.yaml, e.g. CN, EU, US-CA."})
    language = ma.Str(load_default="zh", validate=validate.OneOf(["zh", "en"], error="must be zh or en"), metadata={"description": "zh or en: the language of notices and letters."})
    birth_date = ma.Str(load_default=None, metadata={"description": "YYYY-MM-DD; stored encrypted as the birth_date field."})
    fields = ma.Dict(keys=ma.Str(), values=ma.Raw(allow_none=True), required=True, metadata={"description": "Catalog field name → value."})
    purpose = ma.Str(load_default=None, metadata={"description": "The purpose the data was collected for."})
    member_state = ma.Str(load_default=None, metadata={"description": "EU subjects: the member state (ISO 3166-1 alpha-2, e.g. DE, FR); the age of digital consent follows it (GDPR Art. 8(1)). Unknown: 16."})
    sensitive_basis = ma.Dict(load_default=None, metadata={"description": SENSITIVE_BASIS})
    consent = ma.Dict(load_default=None, metadata={"description": "A consent given with the data (the fields of POST /api/v1/subjects/{id}/consents without action: purpose, channel, notice_version, evidence, separate, guardian, …), recorded before the fields' basis is decided (PIPL Art. 29 separate consent; GDPR Art. 9(2)(a))."})


class SubjectUpdateSchema(Schema):
    EXAMPLE = {"fields": {"mobile": "13900001111"}}

    fields = ma.Dict(keys=ma.Str(), values=ma.Raw(allow_none=True), load_default=dict, metadata={"description": "Catalog field name → new value; null removes an optional field."})
    member_state = ma.Str(load_default=None, metadata={"description": "EU subjects: set the member state (ISO 3166-1 alpha-2); the age of digital consent follows it (GDPR Art. 8(1))."})
    sensitive_basis = ma.Dict(load_default=None, metadata={"description": SENSITIVE_BASIS})


class SubjectCreatedSchema(Schema):
    id = ma.UUID(required=True)


class SubjectSchema(Schema):
    id = ma.UUID(required=True)
    external_ref = ma.Str(allow_none=True)
    jurisdiction = ma.Str(required=True)
    language = ma.Str(required=True)
    status = ma.Str(required=True)
    member_state = ma.Str(allow_none=True)
    purpose = ma.Str(required=True)
    fields = ma.Dict(keys=ma.Str(), values=ma.Str(), required=True, metadata={"description": "Field → value, or its mask for roles that see it masked."})


class LookupSchema(Schema):
    EXAMPLE = {"field": "mobile", "value": "+86 138 1234 5678"}

    field = ma.Str(required=True, metadata={"description": "A searchable catalog field: email, mobile, id_card_number."})
    value = ma.Str(required=True, metadata={"description": "Sent in the body, never in a URL."})
    purpose = ma.Str(load_default=None, metadata={"description": "Alternative to the X-Purpose header."})


class LookupResultSchema(Schema):
    id = ma.UUID(required=True)
    ids = ma.List(ma.UUID(), required=True, metadata={"description": "Every match (a shared e-mail can match several subjects)."})


class RecordCreateSchema(Schema):
    EXAMPLE = {"type": "purchase", "occurred_at": "2026-11-01T10:00:00+08:00", "payload": {"order": "SO-1", "amount_cny": 199}}

    type = ma.Str(required=True)
    occurred_at = ma.AwareDateTime(required=True)
    payload = ma.Dict(required=True)


class RecordSchema(Schema):
    id = ma.UUID(required=True)
    type = ma.Str(required=True)
    occurred_at = ma.DateTime(required=True)
    created_at = ma.DateTime(required=True)
    payload = ma.Dict(required=True)


class RecordCreatedSchema(Schema):
    id = ma.UUID(required=True)


RecordQuerySchema = PageQuerySchema("RecordQuerySchema", type=ma.Str(load_default=None))
RecordPageSchema = PageSchema("RecordPageSchema", RecordSchema, old_key="records")
