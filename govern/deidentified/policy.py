"""The de-identified exports part of the policy (policies/deidentified.yaml): what a pseudonymised export may carry and
the minimum group size of an anonymised aggregate; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file

if TYPE_CHECKING:
    from govern.policy import Catalog

DIMENSIONS = ("jurisdiction", "language", "record_type", "month")  # what govern can count by without opening a value
TIME_PRECISIONS = ("day", "month")


@dataclass(frozen=True)
class DeidentifiedPolicy:
    fields: frozenset[str]
    record_payload_keys: Mapping[str, frozenset[str]]
    time_precision: str
    pseudonymised_source: str
    min_group_size: int
    dimensions: tuple[str, ...]
    aggregate_source: str


class _PseudonymisedSchema(StrictSchema):
    fields = ma.List(ma.Str(), required=True)
    record_payload_keys = ma.Dict(keys=ma.Str(), values=ma.List(ma.Str(), validate=validate.Length(min=1)), required=True)
    time_precision = ma.Str(required=True, validate=validate.OneOf(TIME_PRECISIONS))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _AggregateSchema(StrictSchema):
    # Below 2 a cell could be one person; the figure chosen is the company's, with its source.
    min_group_size = ma.Int(required=True, validate=validate.Range(min=2, max=1000))
    dimensions = ma.List(ma.Str(validate=validate.OneOf(DIMENSIONS)), required=True, validate=validate.Length(min=1))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _DeidentifiedFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    pseudonymised = ma.Nested(_PseudonymisedSchema, required=True)
    aggregate = ma.Nested(_AggregateSchema, required=True)


def load_deidentified_policy(directory: Path, catalog: "Catalog") -> dict[str, Any]:
    """policies/deidentified.yaml; refuses a field or record type the catalog does not know, and a searchable field
    (an e-mail, a mobile, an ID number: a direct identifier, never in a pseudonymised export)."""
    doc = validate_file("deidentified", read_yaml(directory / "deidentified.yaml"), _DeidentifiedFileSchema())
    p, a = doc["pseudonymised"], doc["aggregate"]
    for name in p["fields"]:
        rule = catalog.fields.get(name)
        if rule is None:
            raise PolicyError(f"deidentified.yaml: pseudonymised.fields: unknown field '{name}' (policies/catalog.yaml)")
        if rule.searchable or rule.name == "name":
            raise PolicyError(f"deidentified.yaml: pseudonymised.fields: '{name}' identifies a person directly")
    for rtype in p["record_payload_keys"]:
        if rtype not in catalog.record_types:
            raise PolicyError(f"deidentified.yaml: pseudonymised.record_payload_keys: unknown record type '{rtype}' (policies/catalog.yaml)")
    return {"deidentified": DeidentifiedPolicy(
        fields=frozenset(p["fields"]), record_payload_keys={t: frozenset(k) for t, k in p["record_payload_keys"].items()},
        time_precision=p["time_precision"], pseudonymised_source=p["source"], min_group_size=a["min_group_size"],
        dimensions=tuple(dict.fromkeys(a["dimensions"])), aggregate_source=a["source"],
    )}
