"""Request and response shapes of the audit API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema, page_query


class SearchQuerySchema(Schema):
    from_ = ma.AwareDateTime(data_key="from", load_default=None, default_timezone=None, metadata={"description": "ISO 8601, inclusive."})
    to = ma.AwareDateTime(load_default=None, metadata={"description": "ISO 8601, exclusive."})
    actor = ma.Str(load_default=None, validate=validate.Length(1, 100), metadata={"description": "Principal name or id."})
    subject = ma.UUID(load_default=None)
    action = ma.Str(load_default=None, validate=validate.Length(1, 64), metadata={"description": "Exact, or a prefix ending in * (subjects:*)."})
    purpose = ma.Str(load_default=None, validate=validate.Length(1, 64))
    outcome = ma.Str(load_default=None, validate=validate.OneOf(["allowed", "denied", "failed"]))
    request_id = ma.Str(load_default=None, validate=validate.Length(1, 64))
    cursor = page_query(maximum=500)["cursor"]
    limit = page_query(maximum=500)["limit"]


class EventSchema(Schema):
    id = ma.Int(required=True)
    seq = ma.Int(allow_none=True, metadata={"description": "Chain position once sealed; null until the sealer has linked it."})
    event = ma.Dict(required=True, metadata={"description": "The event exactly as recorded (its canonical JSON, parsed)."})


EventPageSchema = PageSchema("EventPageSchema", EventSchema, old_key="events")


class ExportQuerySchema(Schema):
    from_ = ma.AwareDateTime(data_key="from", load_default=None)
    to = ma.AwareDateTime(load_default=None)
    format = ma.Str(load_default="jsonl", validate=validate.OneOf(["jsonl", "ocsf"]))


CheckpointQuerySchema = PageQuerySchema("CheckpointQuerySchema", default=100, maximum=1000, min_size=ma.Int(load_default=0, validate=validate.Range(min=0)))


class CheckpointSchema(Schema):
    """A signed checkpoint line: {body, signature}."""

    class Meta:
        unknown = INCLUDE

    body = ma.Raw(required=True)
    signature = ma.Raw(required=True)


CheckpointPageSchema = PageSchema(
    "CheckpointPageSchema", CheckpointSchema, old_key="checkpoints",
    keys=ma.List(ma.Dict(), required=True, metadata={"description": "Public keys with their validity (keys.json)."}),
)


class ProofSchema(Schema):
    format = ma.Str(required=True)
    seq = ma.Int(required=True)
    event_id = ma.Int(required=True)
    event = ma.Str(required=True, metadata={"description": "The event's stored canonical bytes (UTF-8 text)."})
    tree_size = ma.Int(required=True)
    audit_path = ma.List(ma.Str(), required=True)
    checkpoint = ma.Dict(required=True)
    keys = ma.List(ma.Dict(), required=True)
