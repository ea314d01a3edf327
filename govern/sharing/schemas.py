"""Request and response shapes of the sharing API."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.openapi import FreeText, UtcDateTime
from govern.sharing.propagation import METHODS
from govern.sharing.service import TRANSFER_MECHANISMS


class RecipientCreateSchema(Schema):
    EXAMPLE = {"name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity", "contact"], "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": "2030-12-31"}

    name = ma.Str(required=True, metadata={"description": "The receiving organisation."})
    contact = ma.Str(required=True, metadata={"description": "Its privacy contact (a role address, not a person's private data)."})
    purpose = ma.Str(required=True, metadata={"description": "The purpose (policies/purposes.yaml) it receives data for."})
    categories = ma.List(ma.Str(), required=True, validate=validate.Length(min=1, error="a non-empty list of data categories (policies/catalog.yaml)"), metadata={"description": "Data categories the agreement covers (policies/catalog.yaml)."})
    country = ma.Str(required=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="an ISO 3166-1 alpha-2 code, e.g. CN, SG, DE"), metadata={"description": "ISO 3166-1 alpha-2; outside the controller's country is a cross-border transfer."})
    transfer_mechanism = ma.Str(load_default=None, validate=validate.OneOf(TRANSFER_MECHANISMS))
    agreement_ref = ma.Str(required=True, metadata={"description": "Reference of the signed data-security agreement."})
    agreement_expires_on = ma.Date(required=True)


class RecipientUpdateSchema(Schema):
    EXAMPLE = {"agreement_ref": "DSA-2026-007-A1", "agreement_expires_on": "2031-12-31"}

    name = ma.Str()
    contact = ma.Str()
    categories = ma.List(ma.Str())
    transfer_mechanism = ma.Str(allow_none=True, validate=validate.OneOf(TRANSFER_MECHANISMS))
    agreement_ref = ma.Str()
    agreement_expires_on = ma.Date()


class RecipientSchema(Schema):
    id = ma.UUID(required=True)
    name = ma.Str(required=True)
    contact = ma.Str(required=True)
    purpose = ma.Str(required=True)
    categories = ma.List(ma.Str(), required=True)
    country = ma.Str(required=True)
    transfer_mechanism = ma.Str(allow_none=True)
    agreement_ref = ma.Str(required=True)
    agreement_expires_on = ma.Date(required=True)
    agreement_in_force = ma.Bool(required=True)
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    disabled_at = UtcDateTime(allow_none=True)


class PublicRecipientSchema(Schema):
    name = ma.Str(required=True)
    contact = ma.Str(required=True)
    purpose = ma.Str(required=True)
    categories = ma.List(ma.Str(), required=True)
    country = ma.Str(required=True)


RecipientQuerySchema = PageQuerySchema("RecipientQuerySchema", purpose=ma.Str(load_default=None))


class DisclosureCreateSchema(Schema):
    EXAMPLE = {"recipient_id": "5b3d6c2e-0f4a-4e1b-9c7d-000000000002", "fields": ["name", "mobile"]}

    recipient_id = ma.UUID(required=True)
    purpose = ma.Str(load_default=None, metadata={"description": "Defaults to the recipient's purpose; must equal it."})
    fields = ma.List(ma.Str(), required=True, validate=validate.Length(min=1))


class RecipientRefSchema(Schema):
    id = ma.UUID(required=True)
    name = ma.Str(required=True)
    country = ma.Str(required=True)


class DisclosureSchema(Schema):
    id = ma.UUID(required=True)
    subject_id = ma.UUID(required=True)
    recipient = ma.Nested(RecipientRefSchema, required=True)
    purpose = ma.Str(required=True)
    fields = ma.List(ma.Str(), required=True)
    basis = ma.Str(required=True)
    consent_receipt_id = ma.UUID(allow_none=True)
    agreement_ref = ma.Str(required=True)
    disclosed_at = UtcDateTime(required=True)
    disclosed_by = ma.Str(required=True)


class DisclosedSchema(DisclosureSchema):
    values = ma.Dict(keys=ma.Str(), values=ma.Str(), required=True, metadata={"description": "The values to transmit, once."})


# --- telling recipients of a request's change (GDPR Art. 19; govern/sharing/propagation.py) -----------------------


class PropagationStepCreateSchema(Schema):
    EXAMPLE = {"recipient_id": "5b3d6c2e-0f4a-4e1b-9c7d-000000000002", "method": "manual", "reason": "the partner has no webhook: told by registered letter"}

    recipient_id = ma.UUID(required=True)
    method = ma.Str(required=True, validate=validate.OneOf(METHODS), metadata={
        "description": "manual: a task to tell the recipient by hand, due by due_on; impossible or disproportionate_effort: "
                       "why it is not told (GDPR Art. 19), with a specific reason."})
    reason = FreeText(load_default=None, validate=validate.Length(max=1000))
    due_on = ma.Date(load_default=None, metadata={"description": "A manual task's due date; at most policies/sharing.yaml's days ahead (the default)."})


class OwedRecipientSchema(Schema):
    id = ma.UUID(required=True)
    name = ma.Str(required=True)
    country = ma.Str(required=True)
    fields = ma.List(ma.Str(), required=True, metadata={"description": "The field names it received of the data the request changes."})
    told_by = ma.Str(allow_none=True, metadata={"description": "webhook, manual, impossible, disproportionate_effort; null: not accounted for yet."})
    recorded_at = ma.Str()
    due_on = ma.Str()
    done_at = ma.Str()
    reason = ma.Str()


class RequestRecipientsSchema(Schema):
    request_id = ma.UUID(required=True)
    recipients = ma.List(ma.Nested(OwedRecipientSchema), required=True)
    open = ma.List(ma.UUID(), required=True, metadata={"description": "Recipients not accounted for: the request cannot complete while any is."})


class PropagationStepSchema(Schema):
    request_id = ma.UUID(required=True)
    subject_id = ma.UUID(required=True)
    recipient_id = ma.UUID(required=True)
    method = ma.Str(required=True)
    due_on = ma.Str(allow_none=True)
    reason = ma.Str(allow_none=True)
    recorded_at = ma.Str(required=True)
    recorded_by = ma.Str(required=True)
    done_at = ma.Str(allow_none=True)
    done_by = ma.Str(allow_none=True)
    done_because = ma.Str(allow_none=True, metadata={"description": "Why done_at was entered afterwards (the recipient was told earlier, e.g. by letter)"})


class PropagationDoneSchema(Schema):
    EXAMPLE = {}  # told now; an earlier time depends on the request's receipt (see RecordedTimeSchema)

    occurred_at = ma.AwareDateTime(load_default=None, metadata={"description": (
        "When the recipient was really told, if earlier (staff: requests:request:backdate): never in the future, never before "
        "the request was received."
    )})
    occurred_reason = FreeText(load_default=None, metadata={"description": "Why the time is entered afterwards (required with an earlier occurred_at; no personal data)"})


NoticeTaskQuerySchema = PageQuerySchema(
    "NoticeTaskQuerySchema", overdue=ma.Bool(load_default=False, metadata={"description": "Only the tasks past their due date."}))


DisclosureQuerySchema = PageQuerySchema("DisclosureQuerySchema")
RecipientPageSchema = PageSchema("RecipientPageSchema", RecipientSchema)
PublicRecipientPageSchema = PageSchema("PublicRecipientPageSchema", PublicRecipientSchema)
DisclosurePageSchema = PageSchema("DisclosurePageSchema", DisclosureSchema)
PropagationStepPageSchema = PageSchema("PropagationStepPageSchema", PropagationStepSchema)
