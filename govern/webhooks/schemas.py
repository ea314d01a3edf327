"""Request and response shapes of the webhooks API."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.openapi import UtcDateTime
from govern.webhooks.service import EVENT_TYPES, OWNER_KINDS, STATES


class OwnerSchema(Schema):
    kind = ma.Str(required=True, validate=validate.OneOf(OWNER_KINDS), metadata={"description": "principal (a CRM component) or recipient"})
    id = ma.UUID(required=True, metadata={"description": "The service principal's id, or the recipient's id."})


class EndpointCreateSchema(Schema):
    name = ma.Str(load_default=None, validate=validate.Length(1, 100))
    url = ma.Str(required=True, metadata={"description": "https:// (http:// only for loopback hosts); no credentials in the URL."})
    owner = ma.Nested(OwnerSchema, required=True)
    event_types = ma.List(ma.Str(validate=validate.OneOf(EVENT_TYPES)), required=True, validate=validate.Length(min=1))
    enabled = ma.Bool(load_default=True)


class EndpointUpdateSchema(Schema):
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


class EndpointQuerySchema(Schema):
    owner_kind = ma.Str(load_default=None, validate=validate.OneOf(OWNER_KINDS))
    owner_id = ma.UUID(load_default=None)


class DeliveryQuerySchema(Schema):
    endpoint = ma.UUID(load_default=None)
    state = ma.Str(load_default=None, validate=validate.OneOf(STATES))
    subject_id = ma.UUID(load_default=None)
    request_id = ma.UUID(load_default=None)
    limit = ma.Int(load_default=100, validate=validate.Range(1, 1000))
    cursor = ma.Str(load_default=None, validate=validate.Length(1, 200))


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
    last_status = ma.Int(allow_none=True)
    last_error = ma.Str(allow_none=True)


class DeliveryPageSchema(Schema):
    deliveries = ma.List(ma.Nested(DeliverySchema), required=True)
    next_cursor = ma.Str(allow_none=True)


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
