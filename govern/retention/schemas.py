"""Request and response shapes of the retention API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.openapi import FreeText, UtcDateTime


class LegalHoldCreateSchema(Schema):
    EXAMPLE = {"subject_id": "5b3d6c2e-0f4a-4e1b-9c7d-000000000001", "reason": "litigation", "note": "case 7"}

    subject_id = ma.UUID(required=True)
    record_type = ma.Str(load_default=None, metadata={"description": "Hold only this record type of the subject."})
    record_ids = ma.List(ma.UUID(), load_default=None, validate=validate.Length(min=1, max=1000), metadata={"description": "Hold only these records."})
    reason = ma.Str(required=True, metadata={"description": "A code from policies/retention.yaml hold_reasons (litigation, regulator_inquiry, …)."})
    note = FreeText(load_default=None, validate=validate.Length(max=500), metadata={"description": "Case or matter reference. Never personal data."})
    owner = ma.Str(load_default=None, validate=validate.Length(min=1, max=100), metadata={"description": "Who answers for the hold (default: the caller)."})
    until = ma.AwareDateTime(load_default=None, metadata={"description": "When the hold ends by itself; open-ended when absent."})


class LegalHoldLiftSchema(Schema):
    reason = FreeText(load_default=None, validate=validate.Length(max=500), metadata={"description": "Why the hold is lifted (no personal data)."})


LegalHoldQuerySchema = PageQuerySchema(
    "LegalHoldQuerySchema", subject_id=ma.UUID(load_default=None),
    active=ma.Bool(load_default=True, metadata={"description": "Only holds in force (default); false lists lifted and ended ones too."}),
)


class LegalHoldSchema(Schema):
    id = ma.UUID(required=True)
    subject_id = ma.UUID(required=True)
    scope = ma.Str(required=True, metadata={"description": "subject | record_type | records"})
    record_type = ma.Str(allow_none=True)
    record_ids = ma.List(ma.UUID(), required=True)
    reason = ma.Str(required=True)
    note = ma.Str(allow_none=True)
    owner = ma.Str(required=True)
    until = UtcDateTime(allow_none=True)
    active = ma.Bool(required=True)
    created_by = ma.Str(required=True)
    created_at = UtcDateTime(required=True)
    lifted_at = UtcDateTime(allow_none=True)
    lifted_by = ma.Str(allow_none=True)
    lift_reason = ma.Str(allow_none=True)


class RetentionPlanCreateSchema(Schema):
    EXAMPLE = {"dry_run": True, "note": "monthly review"}

    dry_run = ma.Bool(load_default=False, metadata={"description": "Only report (200); nothing saved, nothing changed."})
    note = FreeText(load_default=None, validate=validate.Length(max=500))


class RetentionPlanSchema(Schema):
    id = ma.UUID(allow_none=True)
    status = ma.Str(required=True, metadata={"description": "dry_run | draft | approved | executed | expired"})
    as_of = UtcDateTime()
    items = ma.Int()
    unattended = ma.Bool()
    created_by = ma.Str(allow_none=True)
    created_at = UtcDateTime(allow_none=True)
    approved_by = ma.Str(allow_none=True)
    approved_at = UtcDateTime(allow_none=True)
    note = ma.Str(allow_none=True)
    assignee_id = ma.UUID(allow_none=True, metadata={"description": "The staff member working the plan (assigned in the console's plan queue); null: nobody."})
    summary = ma.Dict(required=True, metadata={"description": "Per rule: due and held counts of fields, records, subjects; sample subject ids; totals."})


class RetentionRunSchema(Schema):
    id = ma.Int(required=True)
    plan_id = ma.UUID(required=True)
    mode = ma.Str(required=True, metadata={"description": "plan | all_due"})
    status = ma.Str(required=True, metadata={"description": "running | interrupted | failed | completed"})
    total = ma.Int(required=True)
    done_through = ma.Int(required=True, metadata={"description": "The last plan item committed (the resume point)."})
    counts = ma.Dict(required=True)
    rules = ma.List(ma.Str(), required=True)
    attempts = ma.Int(required=True)
    started_by = ma.Str(required=True)
    approved_by = ma.Str(allow_none=True)
    started_at = UtcDateTime(required=True)
    finished_at = UtcDateTime(allow_none=True)
    last_error = ma.Str(allow_none=True)


class RetentionRuleSchema(Schema):
    rule = ma.Str(required=True)
    target = ma.Str(required=True)
    covers = ma.List(ma.Str(), required=True)
    keep = ma.Str(required=True)
    counted_from = ma.Str(required=True)
    on_account_closure = ma.Str(required=True)
    legal_basis = ma.Dict(required=True)


RuleQuerySchema = PageQuerySchema("RuleQuerySchema")
PlanQuerySchema = PageQuerySchema("PlanQuerySchema")
RunQuerySchema = PageQuerySchema("RunQuerySchema")
LegalHoldPageSchema = PageSchema("LegalHoldPageSchema", LegalHoldSchema)
RetentionRulePageSchema = PageSchema("RetentionRulePageSchema", RetentionRuleSchema)
RetentionPlanPageSchema = PageSchema("RetentionPlanPageSchema", RetentionPlanSchema)
RetentionRunPageSchema = PageSchema("RetentionRunPageSchema", RetentionRunSchema)
