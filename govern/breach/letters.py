"""Letters and reports from templates: the report to an authority (no personal data: categories and counts), one
letter per affected subject in the subject's language (that subject's own data only, sealed under its data key),
and the incident report for the file (HTML, zh/en), frozen when the incident closes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from govern.access import service as access
from govern.audit import service as audit
from govern.audit.tags import BreachAction
from govern.breach import board, service
from govern.breach.models import AffectedSnapshot, AffectedSubject, Incident, Letter, Notification
from govern.crypto.envelope import Envelope
from govern.errors import Conflict, NotFound, SubjectErased, not_found, validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.refusals import Refusal
from govern.subjects import facts as subjects
from govern.subjects import masking
from govern.timeutil import as_utc, utcnow

LANGUAGES = ("zh", "en")
PHASES = ("initial", "supplementary", "final")
PHASE_LABELS = {"initial": {"zh": "初次报告", "en": "initial"}, "supplementary": {"zh": "补充报告", "en": "supplementary"}, "final": {"zh": "最终报告", "en": "final"}}
_TEXT = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
_HTML = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]), undefined=StrictUndefined)

WORDS = {
    "unknown_dates": {"zh": "正在调查中", "en": "under investigation"},
    "sensitive": {"zh": "敏感个人信息", "en": "sensitive personal information"},
    # Counts in the authority's report (GDPR Art. 33(3)(a): the approximate number of people and of records). English
    # words have a singular and a plural form; Chinese has one. Each count says where it comes from when staff gave it.
    "people": {"zh": ("约 {n} 人（本法域）；本事件共 {total} 人",) * 2, "en": ("about {n} person in this jurisdiction; {total} in the whole incident", "about {n} people in this jurisdiction; {total} in the whole incident")},
    "records": {"zh": ("涉及个人信息记录约 {n} 条",) * 2, "en": ("about {n} record of personal data", "about {n} records of personal data")},
    "records_unknown": {"zh": "涉及的记录数正在调查中", "en": "the number of records concerned is under investigation"},
    "assessed": {"zh": "（评估数）", "en": " (as assessed)"},
    "sensitive_people": {"zh": ("其中 {n} 人涉及敏感个人信息",) * 2, "en": ("{n} of them with sensitive personal information",) * 2},
    "sensitive_unknown": {"zh": "涉及敏感个人信息，涉及人数正在评估", "en": "sensitive personal information is involved; how many people it concerns is being assessed"},
    "sensitive_none": {"zh": "不涉及敏感个人信息", "en": "no sensitive personal information is involved"},
    "minors": {"zh": ("其中未成年人 {n} 人",) * 2, "en": ("{n} of them a minor", "{n} of them minors")},
    "minors_none": {"zh": ("其中无已知的未成年人",) * 2, "en": ("none of them known to be a minor",) * 2},
    "age_unknown": {"zh": ("（另有 {u} 人出生日期不详）",) * 2, "en": (" ({u} of them of unknown age)",) * 2},
    "minors_unknown": {"zh": "涉及未成年人，人数正在评估", "en": "minors are involved; how many is being assessed"},
    "audit_log_entry": {"zh": "访问记录（记录中不含个人信息的内容）", "en": "records of access (without the content of any personal data)"},
    "name_withheld": {"zh": "（姓名不予显示）", "en": "(name withheld)"},
}
# Where the recipient's name goes in a subject's letter while it is rendered; never in a template or a value (NUL).
_NAME_MARK = "\x00recipient-name\x00"


def _lang(value: str | None, jurisdiction: str) -> str:
    return value if value in LANGUAGES else ("zh" if jurisdiction == "CN" else "en")


def _local_day(moment: datetime, zone: str) -> str:
    return as_utc(moment).astimezone(ZoneInfo(zone)).date().isoformat()


def _field_label(policy: Policy, name: str, lang: str) -> tuple[str, str | None, bool]:
    if name in WORDS:
        return WORDS[name][lang], None, False
    rule = policy.catalog.fields.get(name) or policy.catalog.record_types.get(name.removeprefix("record:"))
    if rule is None:
        return name, None, False
    return rule.label.get(lang, name), rule.category, rule.sensitive


def _category_label(policy: Policy, category: str, lang: str) -> str:
    return policy.catalog.categories.get(category, {}).get(lang, category)


def _common(policy: Policy, incident: Incident, rule, assessment: Mapping[str, Any] | None, snapshot: AffectedSnapshot | None, lang: str, now: datetime) -> dict[str, Any]:
    c = policy.controller
    zone = policy.breach_terms[rule.jurisdiction].time_zone
    texts = (assessment or {}).get("texts", {})
    start = incident.occurred_from or (datetime.fromisoformat(snapshot.parameters["from"]) if snapshot and snapshot.parameters.get("from") else None)
    end = incident.occurred_to or (datetime.fromisoformat(snapshot.parameters["to"]) if snapshot and snapshot.parameters.get("to") else None)
    dates = WORDS["unknown_dates"][lang]
    if start:
        dates = f"{_local_day(start, zone)} – {_local_day(end, zone) if end else '…'}"
    contact = f"{c.name[lang]} · {c.contact} · {c.email} · {c.phone} · {c.address[lang]}" if c else ""
    return {
        "drill": incident.drill, "reference": incident.reference, "controller_name": c.name[lang] if c else "", "law_label": rule.label[lang],
        "addressee": rule.addressee.get(lang, ""), "notice_date": _local_day(now, zone), "breach_dates": dates, "contact": contact,
        **{k: (texts.get(k) or {}).get(lang, "") for k in service.TEXT_ITEMS},
        "data_involved": "", "subjects_count": "", "delay_reasons": "", "phase": "", "recipient_name": "",
    }


def _plural(word: str, lang: str, count: int, **values: Any) -> str:
    forms = WORDS[word][lang]
    return forms[0 if count == 1 else 1].format(**values)


def _counts(policy: Policy, lang: str, jurisdiction: str, people: int, total: int, rows, assessment: Mapping[str, Any] | None) -> tuple[str, str]:
    """What an authority's report says of the data and of the people and records concerned (GDPR Art. 33(3)(a); PIPL
    Art. 57), from the computed scope and the assessment together, so that no line contradicts another: a category
    list naming sensitive data never sits beside "0 with sensitive data", and counts staff entered from outside govern
    (people per jurisdiction, records) are printed, marked as assessed."""
    a = assessment or {}
    sep = "；" if lang == "zh" else "; "
    cats: dict[str, int] = {}
    sensitive_people = minors = unknown_age = 0
    for r in rows:
        for cat in r.categories:
            cats[cat] = cats.get(cat, 0) + 1
        sensitive_people += r.sensitive
        minors += r.minor is True
        unknown_age += r.minor is None
    for cat in a.get("categories") or []:
        cats.setdefault(cat, 0)  # assessed beyond the computed scope: named, with no count govern could vouch for
    sensitive = bool(a.get("sensitive")) or sensitive_people > 0
    data_involved = sep.join(_category_label(policy, c, lang) + (f" ({k})" if k else "") for c, k in sorted(cats.items()))
    if sensitive:
        data_involved += (sep if data_involved else "") + WORDS["sensitive"][lang]
    parts = [_plural("people", lang, people, n=people, total=max(total, people)) + (WORDS["assessed"][lang] if jurisdiction in (a.get("people") or {}) else "")]
    records = a.get("records")
    if records is not None:
        parts.append(_plural("records", lang, int(records), n=int(records)) + WORDS["assessed"][lang])
    elif rows:
        counted = sum(len(r.fields) for r in rows)
        parts.append(_plural("records", lang, counted, n=counted))
    else:
        parts.append(WORDS["records_unknown"][lang])
    if sensitive_people:
        parts.append(_plural("sensitive_people", lang, sensitive_people, n=sensitive_people))
    elif sensitive:
        parts.append(WORDS["sensitive_unknown"][lang])
    elif rows or assessment:
        parts.append(WORDS["sensitive_none"][lang])
    if minors or (rows and not a.get("minors")):
        line = _plural("minors" if minors else "minors_none", lang, minors, n=minors)
        parts.append(line + (_plural("age_unknown", lang, unknown_age, u=unknown_age) if unknown_age else ""))
    elif a.get("minors"):
        parts.append(WORDS["minors_unknown"][lang])
    return data_involved, sep.join(parts)


def _check_items(rule, values: Mapping[str, Any], lang: str) -> None:
    missing = [item for item in rule.items if item != "delay_reasons" and not str(values.get(item) or "").strip()]
    if missing:
        raise Conflict(
            "letter_items_missing", "Letter items missing",
            f"The {lang} letter for {rule.key} lacks: {', '.join(missing)} ({rule.items_source}). Record them in the assessment's texts.",
            extra={"missing": missing, "language": lang},
        )


def _context(session: Session, policy: Policy, incident: Incident, n: Notification):
    rule = policy.breach_terms[n.jurisdiction].notifications[n.key]
    a = service.latest_assessment(session=session, incident_id=incident.id)
    snapshot = service.latest_snapshot(session=session, incident_id=incident.id)
    return rule, (a.data if a else None), snapshot


def generate(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, incident_id: uuid.UUID, notification_id: uuid.UUID,
    languages: list[str] | None = None, phase: str | None = None, delay_reasons: Mapping[str, str] | None = None, voluntary: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Generates the letters of one notification from the templates; unsent letters of an earlier generation are
    replaced. Refuses when a required item has no text in a language needed."""
    now = now or utcnow()
    incident = service.get_or_raise(session=session, incident_id=incident_id, for_update=True)
    if incident.state == "closed":
        raise Conflict("incident_closed", "Incident closed", "A closed incident takes no more letters.")
    n = service.get_notification(session=session, incident_id=incident.id, notification_id=notification_id)
    if n.status not in ("required", "unknown") and not voluntary and not incident.drill:
        raise Conflict("notification_not_required", "Notification not required", f"{n.key} is {n.status}: {n.reason}. Send it anyway with voluntary: true.")
    rule, assessment, snapshot = _context(session, policy, incident, n)
    session.execute(delete(Letter).where(Letter.notification_id == n.id, Letter.sent_at.is_(None)))
    if n.recipient == "authority":
        made = _authority_letters(session, policy, envelope, actor, incident, n, rule, assessment, snapshot, languages or list(LANGUAGES), phase, delay_reasons, now)
    else:
        made = _subject_letters(session, policy, envelope, actor, incident, n, rule, assessment, snapshot, now)
    service.event(session=session, incident=incident, actor=actor, kind="letters", now=now, data={"notification": n.key, **made})
    session.flush()
    return made


def _digest(envelope: Envelope, letter_id: uuid.UUID, text: str) -> str:
    """The letter's keyed digest, bound to its id: it tells two versions of one letter apart, and confirms no guess of
    what a letter says (a bare SHA-256 of a letter naming a person let a reader who sees names masked try names)."""
    return envelope.keyed_digest("breach-letter", str(letter_id), text)


def _authority_letters(session, policy, envelope, actor, incident, n, rule, assessment, snapshot, languages, phase, delay_reasons, now) -> dict[str, Any]:
    bad = [x for x in languages if x not in LANGUAGES]
    if bad or not languages:
        raise validation_failed({"languages": ["zh and/or en"]})
    if phase is not None and phase not in PHASES:
        raise validation_failed({"phase": [f"one of {', '.join(PHASES)}"]})
    earlier = session.scalar(select(Letter.id).where(Letter.notification_id == n.id, Letter.sent_at.is_not(None)).limit(1))
    if earlier is not None and not rule.phased_allowed:
        raise Conflict("already_filed", "Already filed", f"{n.key} has been filed and does not take filings in phases.")
    phase = phase or ("supplementary" if earlier is not None else None)
    due = as_utc(n.due_at) if n.due_at else None
    late = n.sent_at is None and due is not None and now > due and rule.late_reasons_required
    rows = session.scalars(select(AffectedSubject).where(AffectedSubject.snapshot_id == snapshot.id, AffectedSubject.jurisdiction == n.jurisdiction)).all() if snapshot else []
    # Everyone in the incident: the computed scope, with the counts staff assessed from outside govern in their place.
    total = service.facts_of(session=session, incident=incident).people_total
    made = []
    for lang in languages:
        values = _common(policy, incident, rule, assessment, snapshot, lang, now)
        values["data_involved"], values["subjects_count"] = _counts(policy, lang, n.jurisdiction, n.people, total, rows, assessment)
        if late:
            reason = (delay_reasons or {}).get(lang, "")
            if not reason.strip():
                raise Conflict("late_reasons_required", "Reasons for the delay required",
                              f"{n.key} was due at {due.isoformat()}: the {lang} report states the reasons for the delay ({rule.late_reasons_source}).")
            values["delay_reasons"] = reason
        values["phase"] = PHASE_LABELS[phase][lang] if phase else ""
        _check_items(rule, values, lang)
        body = _TEXT.from_string(policy.breach_letters[(rule.template, lang)]).render(**values)
        letter_id = uuid.uuid4()
        letter = Letter(
            id=letter_id, notification_id=n.id, incident_id=incident.id, language=lang, phase=phase, body=body,
            digest=_digest(envelope, letter_id, body), snapshot_version=snapshot.version if snapshot else None, created_at=now, created_by=actor.name,
        )
        session.add(letter)
        made.append(letter)
    session.flush()
    audit.append(session=session, actor=actor, action=BreachAction.LETTERS, resource=f"incident:{incident.id}/notification:{n.key}", reason=f"authority={len(made)}")
    return {"letters": len(made), "languages": sorted({x.language for x in made}), "phase": phase, "ids": [str(x.id) for x in made]}


def _subject_letters(session, policy, envelope, actor, incident, n, rule, assessment, snapshot, now) -> dict[str, Any]:
    if snapshot is None:
        raise Conflict("scope_missing", "No affected subjects", "Compute the scope first: letters go to the subjects it lists.")
    rows = session.scalars(
        select(AffectedSubject).where(AffectedSubject.snapshot_id == snapshot.id, AffectedSubject.jurisdiction == n.jurisdiction).order_by(AffectedSubject.subject_id)
    ).all()
    made = skipped = 0
    by_lang: dict[str, int] = {}
    checked: set[str] = set()
    for r in rows:
        try:
            subject = subjects.get_or_raise(session=session, subject_id=r.subject_id)
        except (NotFound, SubjectErased):
            skipped += 1  # erased since the breach: nobody left to write to, and no data left to name
            continue
        lang = _lang(subject.language, n.jurisdiction)
        values = _common(policy, incident, rule, assessment, snapshot, lang, now)
        if lang not in checked:
            _check_items(rule, {**values, "data_involved": "x"}, lang)
            checked.add(lang)
        # Only this subject's own fields, by name (never a value, never anyone else's).
        sep = "、" if lang == "zh" else ", "
        labels = []
        for name in r.fields:
            label, _cat, sensitive = _field_label(policy, name, lang)
            labels.append(f"{label}（{WORDS['sensitive'][lang]}）" if sensitive and lang == "zh" else f"{label} ({WORDS['sensitive'][lang]})" if sensitive else label)
        values["data_involved"] = sep.join(labels) or WORDS["unknown_dates"][lang]
        name = subjects.field_values(session=session, envelope=envelope, subject_id=r.subject_id, names=["name"]).get("name", "")
        values["recipient_name"] = _NAME_MARK
        pieces = _TEXT.from_string(policy.breach_letters[(rule.template, lang)]).render(**values).split(_NAME_MARK)
        body = name.join(pieces)
        # Where the name stands (offsets into the text), so a reader who sees names masked reads the letter masked.
        places, at = [], 0
        for piece in pieces[:-1]:
            at += len(piece)
            places.append(at)
            at += len(name)
        letter_id = uuid.uuid4()
        sealed = subjects.seal_for_subject(session=session, envelope=envelope, subject_id=r.subject_id, slot=f"breach-letter:{letter_id}", plaintext=body.encode())
        sealed_name = subjects.seal_for_subject(
            session=session, envelope=envelope, subject_id=r.subject_id, slot=f"breach-letter-name:{letter_id}",
            plaintext=json.dumps({"name": name, "at": places}, ensure_ascii=False).encode(),
        )
        session.add(Letter(
            id=letter_id, notification_id=n.id, incident_id=incident.id, subject_id=r.subject_id, language=lang, sealed_body=sealed, sealed_name=sealed_name,
            digest=_digest(envelope, letter_id, body), snapshot_version=snapshot.version, created_at=now, created_by=actor.name,
        ))
        # The recipient's name was decrypted into its own letter: that read is in the log, like any other.
        audit.append(
            session=session, actor=actor, action=BreachAction.LETTERS, subject_id=r.subject_id, field_names=["name"] if name else [],
            resource=f"incident:{incident.id}/letter:{letter_id}",
        )
        made += 1
        by_lang[lang] = by_lang.get(lang, 0) + 1
    session.flush()
    return {"letters": made, "skipped_erased": skipped, "by_language": by_lang}


def list_letters(*, session: Session, incident_id: uuid.UUID, notification_id: uuid.UUID) -> list[Letter]:
    n = service.get_notification(session=session, incident_id=incident_id, notification_id=notification_id)
    return list(session.scalars(select(Letter).where(Letter.notification_id == n.id).order_by(Letter.created_at, Letter.subject_id, Letter.language)))


def read_letter(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, incident_id: uuid.UUID, letter_id: uuid.UUID,
) -> tuple[Letter, str]:
    """A letter's text; a subject's letter is opened under its data key, shown with the recipient's name as the reader's
    roles see names (full, masked or withheld), and the read is audited."""
    letter = session.get(Letter, letter_id)
    if letter is None or letter.incident_id != incident_id:
        raise not_found("letter")
    seen = "full"
    if letter.subject_id is None:
        text = letter.body or ""
    else:
        try:
            text = subjects.open_for_subject(session=session, envelope=envelope, subject_id=letter.subject_id, slot=f"breach-letter:{letter.id}", blob=letter.sealed_body or b"").decode()
        except SubjectErased:
            raise SubjectErased("This subject has been erased; the letter went with it.") from None
        seen = access.role_visibility(policy=policy, actor=actor, field="name")
    if letter.digest is None:  # made before migration 0015: keyed now that its text is open
        letter.digest = _digest(envelope, letter.id, text)
    if seen != "full":
        text = _name_as_seen(session, policy, envelope, letter, text, seen)
    audit.append(
        session=session, actor=actor, action=BreachAction.LETTER_READ, subject_id=letter.subject_id, resource=f"incident:{incident_id}/letter:{letter.id}",
        field_names=["name"] if letter.subject_id is not None else [], reason=None if letter.subject_id is None else f"name={seen}",
    )
    return letter, text


def served_digest(envelope: Envelope, letter: Letter, text: str) -> str:
    """The ETag of a letter as served: keyed, bound to the letter, over the text this reader got (masked or not), so
    it neither confirms a guessed name nor differs between readers only by what they cannot see."""
    return _digest(envelope, letter.id, text)


def _name_as_seen(session: Session, policy: Policy, envelope: Envelope, letter: Letter, text: str, seen: str) -> str:
    if letter.sealed_name is None:
        # A letter made before the name's place was kept: it cannot be shown masked, so only to who sees names in full.
        raise access.refuse(
            "field_not_visible", "This letter names its recipient in full and your roles do not see names in full.",
            Refusal(action=BreachAction.LETTER_READ, reason="field_not_visible", subject_id=letter.subject_id, field_names=("name",)),
        )
    placed = json.loads(subjects.open_for_subject(
        session=session, envelope=envelope, subject_id=letter.subject_id, slot=f"breach-letter-name:{letter.id}", blob=letter.sealed_name,
    ))
    name, places = placed["name"], placed["at"]
    if not name:
        return text
    shown = masking.mask(policy.catalog.fields["name"].masking, name) if seen == "masked" else WORDS["name_withheld"][letter.language]
    out, start = [], 0
    for at in places:
        out += [text[start:at], shown]
        start = at + len(name)
    return "".join(out) + text[start:]


# --- the incident report ------------------------------------------------------------------------------------------

REPORT_LABELS = {
    "zh": {
        "title": "个人信息安全事件报告", "drill": "应急演练（非真实事件）", "draft": "草稿：事件尚未关闭", "facts": "事件情况", "state": "状态",
        "detected": "发现时间", "aware": "知悉时间", "reported_by": "报告人", "source": "可疑来源", "scope": "受影响的个人",
        "people": "人数", "by_jurisdiction": "按法域", "by_category": "按类别", "by_sensitivity": "敏感个人信息", "minors": "未成年人",
        "assessment": "风险评估", "risk": "风险", "notify": "是否通知", "rationale": "理由", "notifications": "通知与报告",
        "due": "答复期限", "sent": "发送时间", "overdue": "已逾期", "status": "状态", "timeline": "时间线", "containment": "控制措施（止损）",
        "review": "事后复盘", "cause": "原因", "lessons": "经验教训", "actions": "后续措施", "none": "无", "digest": "名单摘要",
        "occurred": "事件发生时间", "assessed_people": "评估的人数（按法域）", "records": "记录数（评估）", "unknown": "不详", "yes": "是", "no": "否",
        "text.what_happened": "事件经过", "text.cause": "事件原因", "text.consequences": "可能造成的危害", "text.measures": "补救措施",
        "text.what_you_can_do": "个人可以采取的措施",
        "exposure": "非加密且未脱敏的个人信息是否泄露", "exposure.exposed": "是", "exposure.not_exposed": "否", "exposure.not_assessed": "尚未评估",
        "exposure_categories": "泄露的信息种类", "consumers": "受影响的加州消费者（估计范围）", "per_consumer": "每名消费者每次事件的法定赔偿",
        "statutory_damages": "法定赔偿总额范围", "actual_if_greater": "或实际损失（以较高者为准）", "if_exposed": "（如确认泄露）",
    },
    "en": {
        "title": "Security incident report", "drill": "DRILL (not a real incident)", "draft": "Draft: the incident is not closed", "facts": "Facts",
        "state": "State", "detected": "Detected", "aware": "Became aware", "reported_by": "Reported by", "source": "Suspected source",
        "scope": "Affected individuals", "people": "People", "by_jurisdiction": "By jurisdiction", "by_category": "By category",
        "by_sensitivity": "Sensitive personal information", "minors": "Minors", "assessment": "Risk assessment", "risk": "Risk",
        "notify": "Notify", "rationale": "Rationale", "notifications": "Notifications and reports", "due": "Due", "sent": "Sent",
        "overdue": "OVERDUE", "status": "Status", "timeline": "Timeline", "containment": "Containment", "review": "Post-incident review",
        "cause": "Cause", "lessons": "Lessons", "actions": "Follow-up actions", "none": "none", "digest": "List digest",
        "occurred": "The incident lasted", "assessed_people": "People as assessed (per jurisdiction)", "records": "Records (as assessed)",
        "unknown": "unknown", "yes": "yes", "no": "no", "text.what_happened": "What happened", "text.cause": "Cause",
        "text.consequences": "Likely consequences", "text.measures": "Measures", "text.what_you_can_do": "What people can do",
        "exposure": "Non-encrypted and non-redacted personal information exposed", "exposure.exposed": "yes", "exposure.not_exposed": "no",
        "exposure.not_assessed": "not assessed yet", "exposure_categories": "Kinds exposed", "consumers": "California consumers affected (estimate)",
        "per_consumer": "Statutory damages per consumer per incident", "statutory_damages": "Statutory damages, whole range",
        "actual_if_greater": "or actual damages, whichever is greater", "if_exposed": " (if the exposure is confirmed)",
    },
}


def render_report(*, session: Session, policy: Policy, incident: Incident, lang: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    if lang not in LANGUAGES:
        raise validation_failed({"lang": ["zh or en"]})
    doc = board.view(session=session, policy=policy, incident=incident, now=now)
    return _HTML.get_template("report.html").render(
        doc=doc, lang=lang, t=REPORT_LABELS[lang], final=incident.state == "closed", now=now, controller=policy.controller,
        category_label=lambda c: _category_label(policy, c, lang),
    )


def report(*, session: Session, policy: Policy, actor: Actor, incident_id: uuid.UUID, lang: str) -> tuple[str, bool]:
    """The incident report: the copy frozen at closing, or a draft rendered now. Audited."""
    incident = service.get_or_raise(session=session, incident_id=incident_id)
    frozen = incident.report_zh if lang == "zh" else incident.report_en if lang == "en" else None
    html = frozen if frozen is not None else render_report(session=session, policy=policy, incident=incident, lang=lang)
    audit.append(session=session, actor=actor, action=BreachAction.REPORT, resource=f"incident:{incident.id}/report:{lang}", reason="final" if frozen else "draft")
    return html, frozen is not None


def freeze_report(*, session: Session, policy: Policy, actor: Actor, incident: Incident, now: datetime) -> None:
    """Renders the report in both languages at closing and keeps it as it was (GDPR Art. 33(5) documentation)."""
    session.flush()
    incident.report_zh = render_report(session=session, policy=policy, incident=incident, lang="zh", now=now)
    incident.report_en = render_report(session=session, policy=policy, incident=incident, lang="en", now=now)
