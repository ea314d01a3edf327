"""Request and response shapes of the processing API (records of processing, the handler's duties)."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma


class RecordsQuerySchema(Schema):
    lang = ma.Str(load_default="zh", validate=validate.OneOf(["zh", "en"]))
    format = ma.Str(load_default="json", validate=validate.OneOf(["json", "csv"]))
    as_of = ma.AwareDateTime(load_default=None, metadata={"description": "ISO 8601 with an offset: the versions in force then (default now)."})


class HistoryQuerySchema(Schema):
    kind = ma.Str(required=True, validate=validate.OneOf(["controller", "activity", "assessment"]))
    key = ma.Str(required=True, validate=validate.Length(1, 100), metadata={"description": "controller, a purpose, or an assessment reference."})


class DutyDoneSchema(Schema):
    EXAMPLE = {"done_on": "2026-11-20", "reference": "DRILL-2026-2"}

    done_on = ma.Date(required=True, metadata={"description": "The day the duty was done (a drill held, a review finished)."})
    reference = ma.Str(load_default=None, validate=validate.Length(1, 200), metadata={"description": "Minutes, report or ticket number; no personal data."})


class TaskSchema(Schema):
    key = ma.Str()
    kind = ma.Str(metadata={"description": "threshold | periodic | log_retention"})
    label = ma.Dict()
    applies = ma.Bool()
    status = ma.Str(metadata={"description": "not_applicable | due | overdue | done | never_done | met | not_met"})
    period = ma.Str(allow_none=True)
    last_done = ma.Str(allow_none=True)
    last_reference = ma.Str(allow_none=True)
    next_due = ma.Str(allow_none=True)
    source = ma.Str()
    detail = ma.Dict()


class DutiesSchema(Schema):
    as_of = ma.Str()
    subjects = ma.Int(metadata={"description": "The number of subjects govern holds (the thresholds count these)."})
    tasks = ma.List(ma.Nested(TaskSchema))


class DutyRecordedSchema(Schema):
    duty = ma.Str()
    done_on = ma.Str()
    reference = ma.Str(allow_none=True)
    recorded_by = ma.Str()
    id = ma.Int()
