"""The processing part of the policy (policies/processing.yaml): what the records of processing add to the other
policy files; validated at start-up by govern.policy.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import Label, StrictSchema, read_yaml, validate_file


@dataclass(frozen=True)
class ProcessingPolicy:
    """policies/processing.yaml: what the records of processing add to the other policy files."""

    impact_assessment_keep_years: int
    impact_assessment_source: str
    data_subjects: Mapping[str, str]
    security_measures: Mapping[str, list[str]]


class _ImpactAssessmentsSchema(StrictSchema):
    keep_years = ma.Int(required=True, validate=validate.Range(min=3, error="at least 3 years (PIPL Art. 56)"))
    source = ma.Str(required=True)


class ProcessingFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    impact_assessments = ma.Nested(_ImpactAssessmentsSchema, required=True)
    data_subjects = Label
    security_measures = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.List(ma.Str(), validate=validate.Length(min=1)), required=True)


def load_processing_policy(directory: Path) -> dict[str, Any]:
    doc = validate_file("processing", read_yaml(directory / "processing.yaml"), ProcessingFileSchema())
    return {"processing": ProcessingPolicy(
        impact_assessment_keep_years=doc["impact_assessments"]["keep_years"],
        impact_assessment_source=doc["impact_assessments"]["source"],
        data_subjects=doc.get("data_subjects", {}),
        security_measures=doc["security_measures"],
    )}
