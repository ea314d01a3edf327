"""The breach part of the policy: who must be told, by when and with which items (jurisdictions.yaml `breach:`),
and the letter templates that must use those items; validated at start-up by govern.policies.load_policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from jinja2 import Environment, TemplateSyntaxError, meta
from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import Jurisdiction, PolicyError, StrictSchema, jurisdiction_block

# --- breach response (govern/breach) ----------------------------------------------------------------------------
# jurisdictions.yaml `breach:` (who must be told, by when, with which items, each figure with its source) and the
# letter templates in policies/notices/letters/<template>.<zh|en>.md, which must use every item their rules require.

BREACH_ITEMS = (
    "what_happened", "cause", "breach_dates", "data_involved", "subjects_count", "consequences", "measures", "what_you_can_do", "contact",
    "notice_date", "delay_reasons",
)
BREACH_EXEMPTIONS = ("encrypted_key_safe", "measures_avoid_harm", "disproportionate_effort")
BREACH_WHEN = ("always", "risk", "high_risk", "threshold")
BREACH_ANCHORS = ("aware", "detected", "contained")
BREACH_TEMPLATES = ("authority", "subject")


@dataclass(frozen=True)
class BreachDeadline:
    """A notification's time limit: `period` `unit`s after `anchor`; period None = no figure in the law."""

    period: int | None
    unit: str  # hours | calendar_days
    anchor: str  # aware | detected | contained | sent:<notification key>
    rule: Mapping[str, str]
    source: str
    critical_infrastructure_period: int | None = None


@dataclass(frozen=True)
class BreachThreshold:
    min_people: int
    count: str  # jurisdiction (people of this jurisdiction) | incident (everyone affected)
    source: str


@dataclass(frozen=True)
class BreachNotificationRule:
    key: str
    jurisdiction: str
    recipient: str  # authority | subjects
    label: Mapping[str, str]
    addressee: Mapping[str, str]
    when: str
    requires: str | None
    threshold: BreachThreshold | None
    exemptions: Mapping[str, str]  # exemption -> source
    deadline: BreachDeadline
    phased_allowed: bool
    phased_source: str
    late_reasons_required: bool
    late_reasons_source: str
    items: tuple[str, ...]
    items_source: str
    template: str
    source: str


@dataclass(frozen=True)
class PrivateAction:
    """A consumer's own claim for a breach of non-encrypted, non-redacted personal information, and its statutory
    damages per consumer per incident (Cal. Civ. Code 1798.150): figures and categories as data, each with its source."""

    label: Mapping[str, str]
    damages_min: int
    damages_max: int
    currency: str
    actual_if_greater: bool
    source: str
    categories: Mapping[str, Mapping[str, str]]  # key -> {zh, en}
    categories_source: str


@dataclass(frozen=True)
class BreachTerms:
    jurisdiction: str
    time_zone: str
    notifications: Mapping[str, BreachNotificationRule]
    register_source: str
    private_action: PrivateAction | None = None


class _BreachDeadlineSchema(StrictSchema):
    period = ma.Int(required=True, allow_none=True, validate=validate.Range(min=1, max=3650))
    unit = ma.Str(required=True, validate=validate.OneOf(["hours", "calendar_days"]))
    from_ = ma.Str(required=True, data_key="from")
    critical_infrastructure_period = ma.Int(load_default=None, validate=validate.Range(min=1, max=3650))
    rule = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    source = ma.Str(required=True, validate=validate.Length(min=5))


class _BreachThresholdSchema(StrictSchema):
    min_people = ma.Int(required=True, validate=validate.Range(min=1))
    count = ma.Str(required=True, validate=validate.OneOf(["jurisdiction", "incident"]))
    source = ma.Str(required=True, validate=validate.Length(min=5))


class _BreachFlagSchema(StrictSchema):
    allowed = ma.Bool(load_default=None)
    required = ma.Bool(load_default=None)
    source = ma.Str(required=True, validate=validate.Length(min=5))


class _BreachNotificationSchema(StrictSchema):
    recipient = ma.Str(required=True, validate=validate.OneOf(["authority", "subjects"]))
    label = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    addressee = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), load_default=dict)
    when = ma.Str(required=True, validate=validate.OneOf(BREACH_WHEN))
    requires = ma.Str(load_default=None)
    threshold = ma.Nested(_BreachThresholdSchema, load_default=None)
    exemptions = ma.Dict(keys=ma.Str(validate=validate.OneOf(BREACH_EXEMPTIONS)), values=ma.Str(validate=validate.Length(min=5)), load_default=dict)
    deadline = ma.Nested(_BreachDeadlineSchema, required=True)
    phased = ma.Nested(_BreachFlagSchema, load_default=None)
    late_reasons = ma.Nested(_BreachFlagSchema, load_default=None)
    items = ma.List(ma.Str(validate=validate.OneOf(BREACH_ITEMS)), required=True, validate=validate.Length(min=1))
    items_source = ma.Str(required=True, validate=validate.Length(min=5))
    template = ma.Str(required=True, validate=validate.OneOf(BREACH_TEMPLATES))
    source = ma.Str(required=True, validate=validate.Length(min=5))


class _BreachRegisterSchema(StrictSchema):
    source = ma.Str(required=True, validate=validate.Length(min=5))


class _DamagesSchema(StrictSchema):
    min = ma.Int(required=True, validate=validate.Range(min=0))
    max = ma.Int(required=True, validate=validate.Range(min=0))
    currency = ma.Str(required=True, validate=validate.Length(equal=3))
    per = ma.Str(required=True, validate=validate.OneOf(["consumer_per_incident"]))
    actual_if_greater = ma.Bool(required=True)


class _PrivateActionSchema(StrictSchema):
    label = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str(), required=True)
    damages = ma.Nested(_DamagesSchema, required=True)
    source = ma.Str(required=True, validate=validate.Length(min=5))
    categories = ma.Dict(
        keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")),
        values=ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=ma.Str()), required=True, validate=validate.Length(min=1),
    )
    categories_source = ma.Str(required=True, validate=validate.Length(min=5))


class _BreachTermsSchema(StrictSchema):
    time_zone = ma.Str(required=True)
    notifications = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$")), values=ma.Nested(_BreachNotificationSchema), required=True)
    register = ma.Nested(_BreachRegisterSchema, load_default=None)
    private_action = ma.Nested(_PrivateActionSchema, load_default=None)


def _private_action(doc: Mapping[str, Any] | None, where: str) -> PrivateAction | None:
    if doc is None:
        return None
    d = doc["damages"]
    if d["min"] > d["max"]:
        raise PolicyError(f"{where}.damages: min is greater than max")
    for key, label in [("label", doc["label"]), *((f"categories.{k}", v) for k, v in doc["categories"].items())]:
        if not label.get("zh") or not label.get("en"):
            raise PolicyError(f"{where}.{key}: zh and en are required (the console and the report exist in both)")
    return PrivateAction(
        label=doc["label"], damages_min=d["min"], damages_max=d["max"], currency=d["currency"], actual_if_greater=d["actual_if_greater"],
        source=doc["source"], categories=doc["categories"], categories_source=doc["categories_source"],
    )


def load_breach_policy(directory: Path, jurisdictions: Mapping[str, Jurisdiction]) -> dict[str, Any]:
    """The breach keys of every jurisdiction and the letter templates; refuses naming file, key and problem."""


    terms: dict[str, BreachTerms] = {}
    seen: dict[str, str] = {}
    needed: dict[str, set[str]] = {t: set() for t in BREACH_TEMPLATES}
    for code, jur in jurisdictions.items():
        where = f"jurisdictions.yaml: jurisdictions.{code}.breach"
        doc = jurisdiction_block(jur, "breach", _BreachTermsSchema(), where, "its breach notifications")
        rules: dict[str, BreachNotificationRule] = {}
        for key, n in doc["notifications"].items():
            at = f"{where}.notifications.{key}"
            if key in seen:
                raise PolicyError(f"{at}: the key is also used by jurisdictions.{seen[key]}: notification keys are unique")
            seen[key] = code
            for lang in ("zh", "en"):
                if not n["label"].get(lang) or not n["deadline"]["rule"].get(lang):
                    raise PolicyError(f"{at}: label.{lang} and deadline.rule.{lang} are required (letters and the console exist in zh and en)")
                if n["recipient"] == "authority" and not n["addressee"].get(lang):
                    raise PolicyError(f"{at}.addressee.{lang}: required for a notification to an authority")
            anchor = n["deadline"]["from_"]
            if anchor.startswith("sent:"):
                other = anchor[5:]
                if other not in doc["notifications"] or other == key:
                    raise PolicyError(f"{at}.deadline.from: '{anchor}' names no other notification of {code}")
            elif anchor not in BREACH_ANCHORS:
                raise PolicyError(f"{at}.deadline.from: one of {', '.join(BREACH_ANCHORS)} or sent:<notification>")
            if n["requires"] is not None and (n["requires"] not in doc["notifications"] or n["requires"] == key):
                raise PolicyError(f"{at}.requires: '{n['requires']}' names no other notification of {code}")
            if (n["when"] == "threshold") != (n["threshold"] is not None):
                raise PolicyError(f"{at}.threshold: required exactly when `when: threshold`")
            if n["recipient"] == "subjects" and "subjects_count" in n["items"]:
                raise PolicyError(f"{at}.items: subjects_count is for authorities; a subject's letter holds only its recipient's data")
            phased, late = n["phased"] or {}, n["late_reasons"] or {}
            d = n["deadline"]
            items = tuple(dict.fromkeys(n["items"]))
            if late.get("required"):
                items += ("delay_reasons",)
            needed[n["template"]].update(items)
            rules[key] = BreachNotificationRule(
                key=key, jurisdiction=code, recipient=n["recipient"], label=n["label"], addressee=n["addressee"], when=n["when"],
                requires=n["requires"],
                threshold=BreachThreshold(**n["threshold"]) if n["threshold"] else None,
                exemptions=n["exemptions"],
                deadline=BreachDeadline(
                    period=d["period"], unit=d["unit"], anchor=anchor, rule=d["rule"], source=d["source"],
                    critical_infrastructure_period=d["critical_infrastructure_period"],
                ),
                phased_allowed=bool(phased.get("allowed")), phased_source=phased.get("source", ""),
                late_reasons_required=bool(late.get("required")), late_reasons_source=late.get("source", ""),
                items=items, items_source=n["items_source"], template=n["template"], source=n["source"],
            )
        done: set[str] = set()
        while len(done) < len(rules):
            ready = {
                k for k, r in rules.items() if k not in done
                and {d for d in (r.requires, r.deadline.anchor[5:] if r.deadline.anchor.startswith("sent:") else None) if d} <= done
            }
            if not ready:
                raise PolicyError(f"{where}.notifications: {', '.join(sorted(set(rules) - done))} depend on each other in a loop (requires / from)")
            done |= ready
        terms[code] = BreachTerms(
            jurisdiction=code, time_zone=doc["time_zone"], notifications=rules, register_source=(doc["register"] or {}).get("source", ""),
            private_action=_private_action(doc["private_action"], f"{where}.private_action"),
        )

    letters: dict[tuple[str, str], str] = {}
    env = Environment(autoescape=False)
    for template in BREACH_TEMPLATES:
        for lang in ("zh", "en"):
            name = f"notices/letters/{template}.{lang}.md"
            path = directory / "notices" / "letters" / f"{template}.{lang}.md"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise PolicyError(f"{name}: file is missing (breach letters exist in zh and en)") from None
            except UnicodeDecodeError:
                raise PolicyError(f"{name}: not UTF-8") from None
            try:
                used = meta.find_undeclared_variables(env.parse(text))
            except TemplateSyntaxError as exc:
                raise PolicyError(f"{name}: line {exc.lineno}: {exc.message}") from None
            missing = sorted(needed[template] - used)
            if missing:
                raise PolicyError(f"{name}: does not use the item(s) {', '.join(missing)} that jurisdictions.yaml requires of it")
            letters[(template, lang)] = text
    return {"breach_terms": terms, "breach_letters": letters}
