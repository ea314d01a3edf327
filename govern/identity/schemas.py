"""Shapes of the principals API: what an administrator sees of a principal — never its key."""

from marshmallow import Schema
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.openapi import UtcDateTime


class PrincipalSchema(Schema):
    id = ma.UUID(required=True)
    name = ma.Str(required=True)
    kind = ma.Str(required=True)
    roles = ma.List(ma.Str(), required=True)
    created_at = UtcDateTime(required=True)
    last_used_at = UtcDateTime(allow_none=True)
    disabled_at = UtcDateTime(allow_none=True)
    disabled = ma.Bool(required=True)


PrincipalQuerySchema = PageQuerySchema("PrincipalQuerySchema")
PrincipalPageSchema = PageSchema("PrincipalPageSchema", PrincipalSchema)
