"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.openapi import UtcDateTime
from govern.webhooks.service import EVENT_TYPES, OWNER_KINDS, STATES


class OwnerSchema(Schema):
    kind = ma.Str(required=True, validate=validate.OneOf(OWNER_KINDS), metadata={"description": "principal (a CRM component) or recipient"})
    id = ma.UUID(required=True, metadata={"description": "The service principal's id, or the recipient's id."})


class EndpointCreateSchema(Schema):
    EXAMPLE = {"url": "https://crm.example.cn/govern-hooks", "owner": {"kind": "principal", "id": "5b3d6c2e-0f4a-4e1b-9c7d-000000000003"}, "event_types": ["subject.erased"]}

    name = ma.Str(load_default=None, validate=validate.Length(1, 100))
    url = ma.Str(required=True, metadata={"description": "https:// (http:// only for loopback hosts); no credentials in the URL."})
    owner = ma.Nested(OwnerSchema, required=True)
    event_types = ma.List(ma.Str(validate=validate.OneOf(EVENT_TYPES)), required=True, validate=validate.Length(min=1))
    enabled = ma.Bool(load_default=True)


class EndpointUpdateSchema(Schema):
    EXAMPLE = {"enabled": False}

    name = ma.Str(validate=validate.Length(1, 100))
    url = ma.Str()
    event_types = ma.List(ma.Str(validate=validate.OneOf(EVENT_TYPES)), validate=validate.Length(min=1))
    enabled = ma.Bool()


class DeliveryCountsSchema(Schema):
    pending = ma.Int(required=True)
    delivered = ma.Int(required=True)
    failed = ma.Int(required=True)


class EndpointSchema(Schema):
    id = ma.UUID(required=True)
    name = ma.Str(required=True)
    url = ma.Str(required=True)
    owner = ma.Nested(OwnerSchema, required=True)
    event_types = ma.List(ma.Str(), required=True)
    enabled = ma.Bool(required=True)
    secret_generation = ma.Int(required=True)
    secret_rotated_at = UtcDateTime(allow_none=True)
    previous_secret_valid_until = UtcDateTime(allow_none=True)
    created_at = UtcDateTime(required=True)
    created_by = ma.Str(required=True)
    updated_at = UtcDateTime(required=True)
    deliveries = ma.Nested(DeliveryCountsSchema, required=True)


class EndpointWithSecretSchema(EndpointSchema):
    secret = ma.Str(required=True, metadata={"description": "The signing secret, shown this once: store it in the receiver."})


EndpointQuerySchema = PageQuerySchema(
    "EndpointQuerySchema", owner_kind=ma.Str(load_default=None, validate=validate.OneOf(OWNER_KINDS)), owner_id=ma.UUID(load_default=None))


DeliveryQuerySchema = PageQuerySchema(
    "DeliveryQuerySchema", default=100, maximum=1000, endpoint=ma.UUID(load_default=None), state=ma.Str(load_default=None, validate=validate.OneOf(STATES)),
    subject_id=ma.UUID(load_default=None), request_id=ma.UUID(load_default=None),
)


class DeliverySchema(Schema):
    id = ma.UUID(required=True)
    event_id = ma.UUID(required=True)
    event_type = ma.Str(required=True)
    endpoint_id = ma.UUID(required=True)
    subject_id = ma.UUID(required=True)
    request_id = ma.UUID(allow_none=True)
    state = ma.Str(required=True)
    attempts = ma.Int(required=True, metadata={"description": "Attempts since it was (re)queued."})
    next_attempt_at = UtcDateTime(required=True)
    created_at = UtcDateTime(required=True)
    delivered_at = UtcDateTime(allow_none=True)
    failed_at = UtcDateTime(allow_none=True)
    assignee_id = ma.UUID(allow_none=True, metadata={"description": "The staff member following the delivery up (assigned in the console); null: nobody."})
    last_status = ma.Int(allow_none=True)
    last_error = ma.Str(allow_none=True)


DeliveryPageSchema = PageSchema("DeliveryPageSchema", DeliverySchema, old_key="deliveries")


class AttemptSchema(Schema):
    number = ma.Int(required=True)
    started_at = UtcDateTime(required=True)
    duration_ms = ma.Int(required=True)
    status_code = ma.Int(allow_none=True)
    error = ma.Str(allow_none=True)
    outcome = ma.Str(required=True)
    worker = ma.Str(required=True)


class DeliveryDetailSchema(DeliverySchema):
    payload = ma.Dict(required=True, metadata={"description": "The body sent: ids, the action, names of fields or purposes."})
    attempt_log = ma.List(ma.Nested(AttemptSchema), required=True)


EndpointPageSchema = PageSchema("EndpointPageSchema", EndpointSchema)
