"""Request and response shapes of the de-identified exports API."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma


class PseudonymisedExportSchema(Schema):
    EXAMPLE = {"purpose": "legal_compliance"}

    purpose = ma.Str(required=True, metadata={"description": "The purpose of the export (policies/purposes.yaml); the caller's role must hold it."})
    fields = ma.List(ma.Str(), load_default=None, metadata={"description": "Fields to carry (default: every one policies/deidentified.yaml lists that the purpose may use)."})
    record_types = ma.List(ma.Str(), load_default=None, metadata={"description": "Record types to carry (default: every listed one the purpose may use)."})


class AggregateExportSchema(Schema):
    EXAMPLE = {"purpose": "marketing", "dimensions": ["jurisdiction"]}

    purpose = ma.Str(required=True)
    dimensions = ma.List(ma.Str(), required=True, validate=validate.Length(min=1, max=4), metadata={
        "description": "What to count by: jurisdiction, language, record_type, month (policies/deidentified.yaml)."})


class ExportDocumentSchema(Schema):
    """The export itself (govern-pseudonymised/1 or govern-aggregate/1); see docs/deidentified.md."""

    class Meta:
        unknown = "include"

    format = ma.Str(required=True)
    export_id = ma.Str(required=True)
    created_at = ma.Str(required=True)
    purpose = ma.Str(required=True)
    kind = ma.Str(required=True)
    personal_data = ma.Bool(required=True)
    statement = ma.Str(required=True)
    source = ma.Str(required=True)
    key_version = ma.Int()
    fields = ma.List(ma.Str())
    record_types = ma.List(ma.Str())
    subjects = ma.List(ma.Dict())
    dimensions = ma.List(ma.Str())
    min_group_size = ma.Int()
    suppressed_cells = ma.Int()
    cells = ma.List(ma.Dict())
