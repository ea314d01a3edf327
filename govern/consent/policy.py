"""The consent domain's part of the policy, read from each jurisdiction of policies/jurisdictions.yaml: the ages at
which a person consents alone (per EU member state, GDPR Art. 8(1); CCPA 1798.120(c)) and the basis a write of a
sensitive field must carry (`sensitive_collection`; PIPL Art. 28–29, GDPR Art. 9, CCPA 1798.121). Validated at
start-up: a wrong age, an unknown category or a basis without its source refuses to start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from marshmallow import ValidationError, validate
from marshmallow import fields as ma

from govern.policy import LEGAL_BASES, PolicyError, StrictSchema, flatten_errors

if TYPE_CHECKING:
    from govern.policy import Catalog, Jurisdiction

CONSENT_KINDS = ("separate", "explicit", "any", "none")
# GDPR Art. 8(1): a member state may provide for a lower age, not below 13; the default is 16.
_AGE = validate.Range(min=1, max=21)


@dataclass(frozen=True)
class AgeTerms:
    """Under `age(member_state)` a consent counts only as a guardian's; under `sale_opt_in_age` a sale or share needs an
    opt-in (CCPA 1798.120(c)), the person's own from `age(...)`, a guardian's below it."""

    default: int
    source: str
    by_member_state: Mapping[str, tuple[int, str]]
    sale_opt_in_age: int | None = None
    sale_opt_in_source: str | None = None

    def age(self, member_state: str | None) -> int:
        """The age of consent for a subject of this member state; an unknown or missing state gets the default."""
        found = self.by_member_state.get(member_state or "")
        return found[0] if found else self.default

    def source_for(self, member_state: str | None) -> str:
        found = self.by_member_state.get(member_state or "")
        return found[1] if found else self.source


@dataclass(frozen=True)
class OtherBasis:
    code: str
    source: str
    purpose_basis: str | None  # the named purpose must rest on this legal basis in the jurisdiction


@dataclass(frozen=True)
class CollectionTerms:
    """Which fields need a basis when written for a subject of this jurisdiction, and which bases count."""

    fields: frozenset[str]
    consent: str  # separate | explicit | any | none
    consent_source: str
    bases: Mapping[str, OtherBasis]
    minors_all_fields: bool  # a minor's every field needs the guardian's separate consent (PIPL Art. 28, 31)
    source: str


class _OtherBasisSchema(StrictSchema):
    source = ma.Str(required=True, validate=validate.Length(min=1))
    purpose_basis = ma.Str(load_default=None, validate=validate.OneOf(LEGAL_BASES))


class _CollectionSchema(StrictSchema):
    fields = ma.Raw(required=True)
    consent = ma.Str(required=True, validate=validate.OneOf(CONSENT_KINDS))
    consent_source = ma.Str(required=True, validate=validate.Length(min=1))
    bases = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$")), values=ma.Nested(_OtherBasisSchema), load_default=dict)
    source = ma.Str(required=True, validate=validate.Length(min=1))


class _StateAgeSchema(StrictSchema):
    age = ma.Int(required=True, validate=validate.Range(min=13, max=16, error="GDPR Art. 8(1): between 13 and 16"))
    source = ma.Str(required=True, validate=validate.Length(min=1))


def _load(where: str, schema: StrictSchema, raw: Any) -> Any:
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise PolicyError(f"{where}: " + "; ".join(flatten_errors(exc.messages))) from None


def _collection(code: str, jur: "Jurisdiction", catalog: "Catalog") -> CollectionTerms:
    where = f"jurisdictions.yaml: jurisdictions.{code}.sensitive_collection"
    raw = jur.extra.get("sensitive_collection")
    if raw is None:
        raise PolicyError(f"{where}: missing: every jurisdiction states the basis a write of a sensitive field needs")
    doc = _load(where, _CollectionSchema(), raw)
    sensitive = {name for name, rule in catalog.fields.items() if rule.sensitive}
    if doc["fields"] == "all":
        names = frozenset(sensitive)
    elif isinstance(doc["fields"], list) and all(isinstance(c, str) for c in doc["fields"]):
        unknown = sorted(set(doc["fields"]) - set(catalog.categories))
        if unknown:
            raise PolicyError(f"{where}.fields: unknown categor(ies) {', '.join(unknown)} (catalog.yaml categories)")
        names = frozenset(n for n in sensitive if catalog.fields[n].category in doc["fields"])
    else:
        raise PolicyError(f"{where}.fields: 'all' or a list of catalog categories")
    for name, basis in doc["bases"].items():
        if basis["purpose_basis"] is not None and basis["purpose_basis"] not in jur.legal_bases:
            raise PolicyError(f"{where}.bases.{name}.purpose_basis: '{basis['purpose_basis']}' is not a legal basis under {jur.law}")
    return CollectionTerms(
        fields=names, consent=doc["consent"], consent_source=doc["consent_source"],
        bases={n: OtherBasis(n, b["source"], b["purpose_basis"]) for n, b in doc["bases"].items()},
        minors_all_fields=bool(jur.extra.get("minors_data_sensitive")), source=doc["source"],
    )


def _ages(code: str, jur: "Jurisdiction") -> AgeTerms:
    where = f"jurisdictions.yaml: jurisdictions.{code}"
    states = jur.extra.get("minors_age_by_member_state") or {}
    if not isinstance(states, dict):
        raise PolicyError(f"{where}.minors_age_by_member_state: a mapping of ISO 3166-1 alpha-2 codes to {{age, source}}")
    by_state: dict[str, tuple[int, str]] = {}
    for state, raw in states.items():
        if not (isinstance(state, str) and len(state) == 2 and state.isascii() and state.isupper()):
            raise PolicyError(f"{where}.minors_age_by_member_state.{state}: an ISO 3166-1 alpha-2 code (DE, FR, …)")
        doc = _load(f"{where}.minors_age_by_member_state.{state}", _StateAgeSchema(), raw)
        by_state[state] = (doc["age"], doc["source"])
    opt_in = jur.extra.get("sale_opt_in_age")
    opt_in_source = jur.extra.get("sale_opt_in_source")
    if opt_in is not None:
        try:
            _AGE(opt_in)
        except (ValidationError, TypeError):
            raise PolicyError(f"{where}.sale_opt_in_age: an age between 1 and 21") from None
        if not isinstance(opt_in, int) or opt_in < jur.minors_age:
            raise PolicyError(f"{where}.sale_opt_in_age: a whole age, not below minors_age ({jur.minors_age})")
        if not opt_in_source:
            raise PolicyError(f"{where}.sale_opt_in_source: required (the clause that sets sale_opt_in_age)")
    return AgeTerms(default=jur.minors_age, source=jur.minors_source, by_member_state=by_state, sale_opt_in_age=opt_in, sale_opt_in_source=opt_in_source)


def load_consent_policy(jurisdictions: Mapping[str, "Jurisdiction"], catalog: "Catalog") -> dict[str, Any]:
    """The ages and the collection terms of every jurisdiction (parts `ages` and `collection` of Policy)."""
    return {
        "ages": {code: _ages(code, jur) for code, jur in jurisdictions.items()},
        "collection": {code: _collection(code, jur, catalog) for code, jur in jurisdictions.items()},
    }
