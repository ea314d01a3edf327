"""Request and response shapes of the incidents API (they generate the OpenAPI document)."""

from __future__ import annotations

from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.api_lists import PageQuerySchema, PageSchema
from govern.breach.clocks import RISKS
from govern.breach.flows import CONTAINMENT_ACTIONS
from govern.breach.letters import PHASES
from govern.breach.service import STATES
from govern.openapi import FreeText, UtcDateTime

# The letters' words (and the reasons for a delay) are sent to authorities and to every affected person: free text.
Bilingual = ma.Dict(keys=ma.Str(validate=validate.OneOf(["zh", "en"])), values=FreeText(validate=validate.Length(max=5000)))


class SourceSchema(Schema):
    principals = ma.List(ma.Str(), load_default=None, metadata={"description": "Compromised principals (names or ids)."})
    export_id = ma.Int(load_default=None, validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "The audit event id of a lost export (audit export, access package, subject export)."})
    recipient_id = ma.UUID(load_default=None, metadata={"description": "A third-party recipient that leaked what it was sent."})
    from_ = ma.AwareDateTime(data_key="from", load_default=None)
    to = ma.AwareDateTime(load_default=None)
    description = FreeText(load_default=None, validate=validate.Length(max=500))


class IncidentCreateSchema(Schema):
    EXAMPLE = {"title": "Lost laptop with a CRM export", "detected_at": "2026-11-01T08:30:00+00:00", "source": {"principals": ["crm-sales"]}}

    title = FreeText(required=True, validate=validate.Length(min=1, max=200))
    description = FreeText(load_default=None, validate=validate.Length(max=10000), metadata={"description": "What happened. No personal data here."})
    detected_at = ma.AwareDateTime(required=True)
    aware_at = ma.AwareDateTime(load_default=None, metadata={"description": "When the company became aware (the clocks run from it); defaults to detected_at."})
    occurred_from = ma.AwareDateTime(load_default=None)
    occurred_to = ma.AwareDateTime(load_default=None)
    reported_by = FreeText(load_default=None, validate=validate.Length(max=200), metadata={"description": "Who reported it (a team or staff name; no customer data)."})
    source = ma.Nested(SourceSchema, load_default=dict)
    drill = ma.Bool(load_default=False, metadata={"description": "A drill (应急演练): never counted as an incident, never sends."})
    critical_infrastructure = ma.Bool(load_default=False, metadata={"description": "Critical information infrastructure: the CN incident report is due within 1 hour."})


class ScopeSchema(SourceSchema):
    EXAMPLE = {"principals": ["crm-sales"], "from": "2026-10-31T00:00:00+00:00", "to": "2026-11-01T08:30:00+00:00"}

    pass


class TextsSchema(Schema):
    what_happened = Bilingual
    cause = Bilingual
    consequences = Bilingual
    measures = Bilingual
    what_you_can_do = Bilingual


class CcpaExposureSchema(Schema):
    nonencrypted_nonredacted = ma.Bool(required=True, allow_none=True, metadata={"description": "Non-encrypted and non-redacted personal information was exposed (Cal. Civ. Code 1798.150(a)(1)); null: not known yet."})
    categories = ma.List(ma.Str(), load_default=list, metadata={"description": "Which kinds (jurisdictions.yaml US-CA breach.private_action.categories)."})
    consumers_min = ma.Int(load_default=None, validate=validate.Range(min=0, max=10**10), metadata={"description": "Lowest estimate of California consumers affected; default: the incident's California people."})
    consumers_max = ma.Int(load_default=None, validate=validate.Range(min=0, max=10**10), metadata={"description": "Highest estimate; default: the lowest."})


class AssessmentSchema(Schema):
    EXAMPLE = {"people": {"CN": 120}, "risk": "high", "notify": "yes", "rationale": "unencrypted contact data of 120 customers"}

    categories = ma.List(ma.Str(), load_default=None, metadata={"description": "Catalog categories involved; default: from the scope."})
    sensitive = ma.Bool(load_default=None)
    minors = ma.Bool(load_default=None)
    encrypted = ma.Bool(load_default=False, metadata={"description": "The data that left was encrypted."})
    key_compromised = ma.Bool(load_default=None, metadata={"description": "false = the key is known to be safe (GDPR 34(3)(a), CCPA 1798.82(a))."})
    people = ma.Dict(keys=ma.Str(), values=ma.Int(validate=validate.Range(min=0, max=10**10)), load_default=None, metadata={"description": "People per jurisdiction, where known beyond the computed scope."})
    records = ma.Int(load_default=None, validate=validate.Range(min=0, max=10**12))
    risk = ma.Str(load_default="unknown", validate=validate.OneOf(RISKS))
    notify = ma.Str(load_default="unknown", validate=validate.OneOf(["yes", "no", "unknown"]))
    rationale = FreeText(required=True, validate=validate.Length(min=1, max=5000))
    measures_avoid_harm = ma.Bool(load_default=False, metadata={"description": "PIPL Art. 57 ¶2; GDPR Art. 34(3)(b)."})
    disproportionate_effort = ma.Bool(load_default=False, metadata={"description": "GDPR Art. 34(3)(c): a public communication instead."})
    ccpa_exposure = ma.Nested(CcpaExposureSchema, load_default=None, metadata={"description": "CCPA 1798.150: whether non-encrypted, non-redacted personal information was exposed, which kinds, and the range of California consumers affected."})
    texts = ma.Nested(TextsSchema, load_default=dict, metadata={"description": "The letters' words, zh and en: what happened, its cause, likely harm, measures, what people can do."})


class ReviewSchema(Schema):
    cause = FreeText(required=True, validate=validate.Length(min=1, max=5000))
    lessons = FreeText(required=True, validate=validate.Length(min=1, max=5000))
    actions = ma.List(FreeText(validate=validate.Length(max=1000)), required=True)


class TransitionSchema(Schema):
    EXAMPLE = {"to": "assessing", "note": "triage started"}

    to = ma.Str(required=True, validate=validate.OneOf(STATES))
    note = FreeText(load_default=None, validate=validate.Length(max=5000))
    review = ma.Nested(ReviewSchema, load_default=None)
    at = ma.AwareDateTime(load_default=None, metadata={"description": "When the step really happened, if earlier than now (e.g. contained yesterday, recorded today); needs `reason`. Never in the future."})
    reason = FreeText(load_default=None, validate=validate.Length(max=2000), metadata={"description": "Why the step is recorded with an earlier time."})


class TimesSchema(Schema):
    EXAMPLE = {"occurred_from": "2026-10-31T22:00:00+00:00", "reason": "the access log shows the first export"}

    occurred_from = ma.AwareDateTime(load_default=None, metadata={"description": "When the incident began (the letters' date(s) of the breach)."})
    occurred_to = ma.AwareDateTime(load_default=None, metadata={"description": "When it ended."})
    detected_at = ma.AwareDateTime(load_default=None, metadata={"description": "When the incident was really detected."})
    aware_at = ma.AwareDateTime(load_default=None, metadata={"description": "When the company really became aware of it (the 72 h and CAC clocks run from it)."})
    contained_at = ma.AwareDateTime(load_default=None, metadata={"description": "When it was really contained (the 30-day CAC summary runs from it)."})
    reason = FreeText(required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "Why these times are entered or corrected (who told whom, which log shows it)."})


class ContainmentSchema(Schema):
    EXAMPLE = {"action": "other", "note": "laptop remotely wiped"}

    action = ma.Str(required=True, validate=validate.OneOf(CONTAINMENT_ACTIONS))
    principal = ma.Str(load_default=None)
    note = FreeText(load_default=None, validate=validate.Length(max=5000))


class LettersRequestSchema(Schema):
    EXAMPLE = {"languages": ["zh", "en"]}

    languages = ma.List(ma.Str(validate=validate.OneOf(["zh", "en"])), load_default=None, metadata={"description": "Authority reports only; subjects get their own language."})
    phase = ma.Str(load_default=None, validate=validate.OneOf(PHASES))
    delay_reasons = Bilingual
    voluntary = ma.Bool(load_default=False)


class SentSchema(Schema):
    EXAMPLE = {"channel": "email", "reference": "CAC-2026-118"}

    channel = FreeText(required=True, validate=validate.Length(min=1, max=32), metadata={"description": "email, sms, post, portal, public_communication, …"})
    reference = FreeText(load_default=None, validate=validate.Length(max=200))
    sent_at = ma.AwareDateTime(load_default=None)
    late_reason = FreeText(load_default=None, validate=validate.Length(max=5000))
    letter_ids = ma.List(ma.UUID(), load_default=None)


ListQuerySchema = PageQuerySchema("ListQuerySchema", closed=ma.Bool(load_default=False), drills=ma.Bool(load_default=True))
ClockQuerySchema = PageQuerySchema("ClockQuerySchema")
LetterQuerySchema = PageQuerySchema("LetterQuerySchema")


class RegisterQuerySchema(Schema):
    drills = ma.Bool(load_default=False)


class ScopeQuerySchema(Schema):
    version = ma.Int(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))


class ReportQuerySchema(Schema):
    lang = ma.Str(load_default="zh", validate=validate.OneOf(["zh", "en"]))


# --- responses --------------------------------------------------------------------------------------------------


class NotificationSchema(Schema):
    id = ma.UUID()
    key = ma.Str()
    jurisdiction = ma.Str()
    recipient = ma.Str()
    label = ma.Dict()
    addressee = ma.Dict()
    status = ma.Str(metadata={"description": "required | not_required | exempt | unknown"})
    reason = ma.Str()
    people = ma.Int()
    due_at = UtcDateTime(allow_none=True)
    due_rule = ma.Dict()
    deadline_source = ma.Str()
    provisional = ma.Bool()
    seconds_left = ma.Int(allow_none=True)
    overdue = ma.Bool()
    sent_at = UtcDateTime(allow_none=True)
    sent_late = ma.Bool()
    channel = ma.Str(allow_none=True)
    late_reason = ma.Str(allow_none=True)
    items = ma.List(ma.Str())
    items_source = ma.Str()
    phased_allowed = ma.Bool()
    exemptions = ma.Dict()


class ClockSchema(NotificationSchema):
    incident_id = ma.UUID()
    reference = ma.Str()
    title = ma.Str()
    drill = ma.Bool()


class ScopeViewSchema(Schema):
    version = ma.Int()
    computed_at = UtcDateTime()
    computed_by = ma.Str()
    method = ma.Str()
    parameters = ma.Dict()
    subjects = ma.Int()
    counts = ma.Dict()
    digest = ma.Str(metadata={"description": "The frozen list's hash: SM3 when it starts with `sm3:` (its first 240 bits), else SHA-256."})
    digest_algorithm = ma.Str(metadata={"description": "SHA-256 or SM3: the hash the list was frozen under (the suite in force then)."})


class AffectedSubjectSchema(Schema):
    subject_id = ma.UUID()
    jurisdiction = ma.Str()
    fields = ma.List(ma.Str())
    categories = ma.List(ma.Str())
    sensitive = ma.Bool()
    minor = ma.Bool(allow_none=True)


class ScopeListSchema(ScopeViewSchema):
    intact = ma.Bool(metadata={"description": "The rows still hash to the digest taken when the list was frozen."})
    affected = ma.List(ma.Nested(AffectedSubjectSchema))


class TimelineSchema(Schema):
    kind = ma.Str()
    occurred_at = UtcDateTime()
    actor = ma.Str()
    from_state = ma.Str(allow_none=True)
    to_state = ma.Str(allow_none=True)
    note = ma.Str(allow_none=True)
    data = ma.Dict(allow_none=True)


class IncidentSchema(Schema):
    id = ma.UUID()
    reference = ma.Str()
    title = ma.Str()
    description = ma.Str(allow_none=True)
    state = ma.Str()
    allowed_transitions = ma.List(ma.Str())
    drill = ma.Bool()
    critical_infrastructure = ma.Bool()
    detected_at = UtcDateTime()
    aware_at = UtcDateTime()
    occurred_from = UtcDateTime(allow_none=True)
    occurred_to = UtcDateTime(allow_none=True)
    reported_by = ma.Str()
    source = ma.Dict()
    created_by = ma.Str()
    assessing_at = UtcDateTime(allow_none=True)
    contained_at = UtcDateTime(allow_none=True)
    notifying_at = UtcDateTime(allow_none=True)
    notified_at = UtcDateTime(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    scope = ma.Nested(ScopeViewSchema, allow_none=True)
    assessment = ma.Raw(allow_none=True)
    notifications = ma.List(ma.Nested(NotificationSchema))
    overdue = ma.Bool()
    decision_conflicts = ma.List(ma.Str(), metadata={"description": "Required notifications although the assessment says notify: no."})
    ccpa_exposure = ma.Dict(allow_none=True, metadata={"description": "CCPA 1798.150 exposure and the statutory damages range (per consumer per incident, or actual damages if greater) for the California consumers affected; null when none are."})
    review = ma.Dict(allow_none=True)
    timeline = ma.List(ma.Nested(TimelineSchema))


class BoardRowSchema(Schema):
    id = ma.UUID()
    reference = ma.Str()
    title = ma.Str()
    state = ma.Str()
    drill = ma.Bool()
    aware_at = UtcDateTime()
    pending = ma.Int()
    overdue = ma.Int()
    next_due = ma.Nested(NotificationSchema, allow_none=True)


BoardSchema = PageSchema("BoardSchema", BoardRowSchema, old_key="incidents", figures=ma.Dict(metadata={"description": "Counts over every real incident, not this page."}))
ClocksSchema = PageSchema("ClocksSchema", ClockSchema, old_key="clocks")


class LetterMetaSchema(Schema):
    id = ma.UUID()
    subject_id = ma.UUID(allow_none=True)
    language = ma.Str()
    phase = ma.Str(allow_none=True)
    digest = ma.Str(allow_none=True, metadata={"description": "HMAC-SHA256 of the text under govern's key, bound to this letter: tells versions apart, confirms no guess of the text. Null for a letter made before keyed digests until it is next opened."})
    snapshot_version = ma.Int(allow_none=True)
    created_at = UtcDateTime()
    created_by = ma.Str()
    sent_at = UtcDateTime(allow_none=True)
    channel = ma.Str(allow_none=True)


LettersSchema = PageSchema("LettersSchema", LetterMetaSchema, old_key="letters")


class ContainmentResultSchema(Schema):
    action = ma.Str()
    executed = ma.Bool()
    principal = ma.Str()
    principal_name = ma.Str()
    simulated = ma.Bool()
    pending = ma.Str()


class RegisterSchema(Schema):
    register = ma.Raw()
    source = ma.Dict()
