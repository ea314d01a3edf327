"""Console pages for breach response (govern/breach): the incident board, an incident with its notification clocks,
affected-subject counts, assessment, containment, notifications, letters and timeline, the incident report, and the
register of every breach. Every rule — states, scope, clocks, exemptions, letters — is the breach domain's: forms are
read through the API's own schemas (govern/breach/schemas.py) and passed to service / flows / letters unchanged."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import Response, g, redirect, request, url_for
from marshmallow import ValidationError

from govern import paging
from govern.api_support import current_call
from govern.breach import board, flows, letters, schemas, service
from govern.breach.clocks import RISKS
from govern.breach.policy import BREACH_EXEMPTIONS
from govern.errors import Problem, validation_failed
from govern.identity import assignees
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.timeutil import utcnow

from . import queue
from .views import HOME_PANELS, after_refusal, blp, language, may, page, parse_local, principal_name, t, time_zone, when, word_or

NOTIFY_CHOICES = ("yes", "no", "unknown")
TEXT_ITEMS = service.TEXT_ITEMS


def _load(schema, data: dict[str, Any]) -> dict[str, Any]:
    """A form read through the API's schema: the same limits and choices, no second copy of them."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise validation_failed({k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in _flat(exc.messages).items()}) from None


def _flat(messages: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (messages.items() if isinstance(messages, dict) else [("", messages)]):
        name = f"{prefix}.{key}" if prefix and key != "" else str(key or prefix)
        if isinstance(value, dict):
            out.update(_flat(value, name))
        else:
            out[name] = value
    return out


def _text(name: str) -> str | None:
    value = (request.form.get(name) or "").strip()
    return value or None


def _iso(name: str) -> str | None:
    """A datetime-local field read in the user's time zone, as the ISO text the API schemas take."""
    raw = request.form.get(name)
    if not raw:
        return None
    moment = parse_local(raw)
    if moment is None:
        raise validation_failed({name: ["not a date and time"]})
    return moment.isoformat()


def _tristate(name: str) -> bool | None:
    return {"yes": True, "no": False}.get(request.form.get(name, ""))


def _source_form() -> dict[str, Any]:
    """The suspected source as typed: principals (names or ids), a lost export's audit event id, or a recipient."""
    source: dict[str, Any] = {}
    names = [p for p in (request.form.get("principals") or "").replace(",", " ").split() if p]
    if names:
        source["principals"] = names
    for key in ("export_id", "recipient_id"):
        if _text(key):
            source[key] = _text(key)
    for key, field in (("from", "source_from"), ("to", "source_to")):
        if _iso(field):
            source[key] = _iso(field)
    return source


def _unschema(source: dict[str, Any]) -> dict[str, Any]:
    return {("from" if k == "from_" else k): (str(v) if isinstance(v, uuid.UUID) else v) for k, v in source.items() if v is not None}


def clock_text(n: dict[str, Any]) -> str:
    """A notification's clock in words: time left, overdue by, or the law's wording when it sets no figure."""
    if n["sent_at"] is not None:
        return t("clock_sent_late") if n["sent_late"] else t("clock_sent")
    if n["status"] not in ("required", "unknown"):
        return t("clock_not_running")
    if n["due_at"] is None:
        return t("clock_no_figure", rule=n["due_rule"].get(language(), ""))
    seconds = n["seconds_left"] or 0
    span = _span(abs(seconds))
    return t("clock_overdue", span=span) if n["overdue"] else t("clock_left", span=span)


# Why a notification is (not) required, as govern.breach.clocks says it in English, read back into words of the
# catalogs: (pattern, msgid). A `source` group is the policy's own citation (policies/jurisdictions.yaml), kept as it is.
_REASONS = [
    (re.compile(r"only when (?P<requires>\w+) is required \((?P<status>\w+)\)"), "breach_reason.requires"),
    (re.compile(r"the breach is assessed unlikely to result in a risk \((?P<source>.*)\)"), "breach_reason.unlikely"),
    (re.compile(r"risk not assessed yet: treated as required"), "breach_reason.unassessed_required"),
    (re.compile(r"risk not assessed yet: required if the risk is high"), "breach_reason.unassessed_if_high"),
    (re.compile(r"risk assessed (?P<risk>\w+), not high \((?P<source>.*)\)"), "breach_reason.not_high"),
    (re.compile(r"risk assessed (?P<risk>\w+)"), "breach_reason.assessed"),
    (re.compile(r"(?P<n>\d+) people < (?P<min>\d+) \((?P<source>.*)\)"), "breach_reason.below_threshold"),
    (re.compile(r"(?P<n>\d+) people >= (?P<min>\d+) \((?P<source>.*)\)"), "breach_reason.threshold_met"),
    (re.compile(r"always \((?P<source>.*)\)"), "breach_reason.always"),
]


# An exemption applied (govern.breach.clocks: "name: source; name: source"): its words are the assessment's.
_EXEMPTION = re.compile(r"(?:^|; )(" + "|".join(BREACH_EXEMPTIONS) + r"): ")
_EXEMPTION_WORDS = {"encrypted_key_safe": "assess_encrypted", "measures_avoid_harm": "assess_measures_avoid_harm",
                    "disproportionate_effort": "assess_disproportionate_effort"}


def reason_text(reason: str, labels: dict[str, str]) -> tuple[str, list[str]]:
    """(the reason in the user's words, the policy's citations it names). The template shows each citation in the
    reader's language (policy_text); a reason of another form is shown as it is, as policy text."""
    for pattern, key in _REASONS:
        match = pattern.fullmatch(reason or "")
        if match:
            values = match.groupdict()
            source = values.pop("source", None)
            if "requires" in values:
                values["requires"] = labels.get(values["requires"], values["requires"])
            if "status" in values:
                values["status"] = t(f"notification_status.{values['status']}")
            if "risk" in values:
                values["risk"] = t(f"risk.{values['risk']}")
            return t(key, **values), [source] if source else []
    parts = _EXEMPTION.split(reason or "")
    if len(parts) > 1 and not parts[0]:
        words = [t(_EXEMPTION_WORDS.get(name, name)) for name in parts[1::2]]
        return ("；" if language() == "zh" else "; ").join(words), parts[2::2]
    return "", [reason] if reason else []


def event_details(data: dict[str, Any] | None, labels: dict[str, str]) -> list[str]:
    """An incident event's details in words ("风险: 高风险"), never as raw key=value: a drill flag that is false says
    nothing and is left out; codes are shown by their words; a key without words shows as itself."""
    out = []
    for key, value in (data or {}).items():
        if key == "drill":
            if value:
                out.append(t("drill"))
            continue
        if key == "assignee_id":  # an assignment: the name is the event's note; an id alone tells a DPO nothing
            if value is None:
                out.append(t("unassigned"))
            continue
        if isinstance(value, bool):
            text = t("yes") if value else t("no")
        elif key in ("method", "risk", "notify", "action", "phase") and isinstance(value, str):
            family = {"method": "scope_method", "action": "containment"}.get(key, key)
            text = word_or(f"{family}.{value}", value)
        elif key == "notification" and isinstance(value, str):
            text = labels.get(value, value)
        elif key == "by_language" and isinstance(value, dict):
            text = ", ".join(f"{word_or(f'language_name.{lang}', lang)} {n}" for lang, n in value.items())
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        else:
            text = str(value)
        out.append(f"{word_or(f'event_field.{key}', key)}: {text}")
    return out


def _span(seconds: int) -> str:
    """Hours and minutes up to four days (the 72-hour clock reads as hours, as the law says it); days beyond."""
    if seconds >= 4 * 86400:
        days, rest = divmod(seconds, 86400)
        return t("span_days", d=days, h=rest // 3600)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return t("span_hours", h=hours, m=minutes)
    return t("span_minutes", m=minutes)


# --- home: open incidents with their notification clocks running ----------------------------------------------------


def _home_panel():
    if not may(Permission.CONSOLE_INCIDENTS):
        return None
    ctx = current_call()
    clocks = board.open_clocks(session=ctx.session, policy=ctx.policy)
    shown = [{**c, "clock": clock_text(c)} for c in clocks[:8]]
    return {"clocks": shown, "more": max(0, len(clocks) - 8), "figures": board.figures(session=ctx.session)}


HOME_PANELS.append(("incidents", _home_panel))


# --- the board ------------------------------------------------------------------------------------------------------


def _queue_filters(args) -> board.Filters:
    aware_from, aware_before = queue.day_range(args, "aware_from", "aware_to")
    return board.Filters(state=args.get("state") or "open", assignee=args.get("assignee") or None, aware_from=aware_from,
                         aware_before=aware_before, search=queue.search_text(args))


def _urgency(row: dict[str, Any]) -> str:
    warn = current_runtime().policy.console.warn_hours * 3600  # the policy only, per row: no call context (and no session) needed
    return queue.urgency(row["seconds_left"], warn, running=row["next_due"] is not None and row["state"] != "closed")


@blp.route("/incidents", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS)
def incidents():
    """The incident queue, the nearest deadline first (board.queue): filters by state, assignee, date of awareness and
    search, a page at a time (a cursor: no cap), the CSV of the same view in the same order; each row's next
    notification clock with its time left, coloured by urgency, and who works it."""
    ctx, args = current_call(), request.args
    context = dict(args=args, figures=board.figures(session=ctx.session), clock_text=clock_text, urgency=_urgency, time_left=queue.time_left,
                   groups=tuple(board.STATE_GROUPS), states=service.STATES,
                   staff=assignees.assignable(session=ctx.session, policy=ctx.policy, permission=board.WORKS_THE_QUEUE),
                   assignee_words=queue.assignee_words)
    try:
        rows, cursor = board.queue(session=ctx.session, policy=ctx.policy, filters=_queue_filters(args), cursor=args.get("cursor") or None,
                                    limit=board.PAGE_SIZE, actor=ctx.actor)
    except Problem as problem:
        return page("incidents.html", status=problem.status, problem=problem, rows=[], next_url=None, export_url=None, **context)
    return page("incidents.html", rows=rows, **queue.links("console.incidents", "console.incidents_export", args, cursor), **context)


@blp.route("/incidents/export.csv", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS)
def incidents_export():
    """Every incident of the filtered queue as CSV (the same columns as the page)."""
    ctx = current_call()
    filters = _queue_filters(request.args)
    rows = paging.every(lambda cursor: board.queue(session=ctx.session, policy=ctx.policy, filters=filters, cursor=cursor, limit=500, actor=ctx.actor))
    header = [t("incident"), t("incident_reference"), t("incident_title"), t("state"), t("assignee"), t("drill"), t("aware_at"),
              t("notifications_pending"), t("overdue"), t("next_clock"), t("due_at"), t("time_left")]
    return queue.csv_response("incidents", header, (
        (r["id"], r["reference"], r["title"], t(f"incident_state.{r['state']}"), queue.assignee_words(r["assignee"]),
         t("yes") if r["drill"] else t("no"), r["aware_at"].isoformat(),
         r["pending"], r["overdue"], r["next_due"]["label"].get(language(), "") if r["next_due"] else "",
         r["next_due"]["due_at"].isoformat() if r["next_due"] and r["next_due"]["due_at"] else "",
         queue.time_left(r["seconds_left"]) if r["seconds_left"] is not None else "")
        for r in rows
    ))


# --- opening an incident ----------------------------------------------------------------------------------------------


def _now_local() -> str:
    return utcnow().astimezone(ZoneInfo(time_zone())).strftime("%Y-%m-%dT%H:%M")


@blp.route("/incidents/new", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS_OPEN)
def incident_new():
    return page("incident_new.html", form={}, now_local=_now_local())


@blp.route("/incidents/new", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_OPEN)
def incident_open():
    try:
        body = _load(schemas.IncidentCreateSchema(), {
            "title": _text("title") or "", "description": _text("description"), "detected_at": _iso("detected_at"),
            "aware_at": _iso("aware_at"), "reported_by": _text("reported_by"), "source": _source_form(),
            "drill": request.form.get("drill") == "yes", "critical_infrastructure": request.form.get("critical_infrastructure") == "yes",
        })
        data = {**body, "source": _unschema(body.get("source") or {})}
        incident = service.create(**current_call().services(), data=data)
    except Problem as problem:
        if problem.status != 400:
            raise
        return after_refusal(problem, page, "incident_new.html", status=400, form=request.form, now_local=_now_local())
    return redirect(url_for("console.incident_detail", incident_id=incident.id, done="open"))


# --- an incident ------------------------------------------------------------------------------------------------------


def _detail(incident_id: uuid.UUID, *, problem: Problem | None = None):
    ctx = current_call()
    session = ctx.session
    incident = service.get_or_raise(session=session, incident_id=incident_id)
    v = board.view(session=session, policy=ctx.policy, incident=incident)
    manage = may(Permission.CONSOLE_INCIDENTS_MANAGE) and v["state"] != "closed"
    a = v["assessment"] or {}
    return page(
        "incident.html", status=problem.status if problem else 200, problem=problem, v=v, manage=manage, a=a, done=request.args.get("done"),
        assignee=queue.assignee_words(assignees.assignee_of(session=session, principal_id=v["assignee_id"])),
        staff=assignees.assignable(session=session, policy=ctx.policy, permission=board.WORKS_THE_QUEUE) if manage else [],
        clock_text=clock_text, risks=RISKS, notify_choices=NOTIFY_CHOICES, text_items=TEXT_ITEMS, phases=letters.PHASES,
        containment_actions=flows.CONTAINMENT_ACTIONS, categories=ctx.policy.catalog.categories, jurisdictions=sorted(ctx.policy.breach_terms),
        source_text=_source_text(v["source"]), ccpa_categories=_ccpa_categories(ctx.policy),
        reason_text=reason_text, event_details=event_details, notification_labels={n["key"]: n["label"].get(language(), n["key"]) for n in v["notifications"]},
    )


def _ccpa_categories(policy) -> dict[str, Any]:
    terms = policy.breach_terms.get("US-CA")
    return dict(terms.private_action.categories) if terms and terms.private_action else {}


def _ccpa_form() -> dict[str, Any] | None:
    """The CCPA 1798.150 part of the assessment form; None when the form leaves it unrecorded."""
    exposed = request.form.get("ccpa_exposed", "")
    if exposed not in ("yes", "no", "unknown"):
        return None
    return {
        "nonencrypted_nonredacted": {"yes": True, "no": False}.get(exposed), "categories": request.form.getlist("ccpa_categories"),
        "consumers_min": _text("ccpa_consumers_min"), "consumers_max": _text("ccpa_consumers_max"),
    }


def _source_text(source: dict[str, Any]) -> list[tuple[str, str]]:
    """The suspected source as the user reads it: its parts in words, principals by name (never a bare uuid), lists
    joined, times in the user's time zone."""
    out = []
    for key, value in (source or {}).items():
        if key == "principals" and isinstance(value, list):
            text = ", ".join(principal_name(v) for v in value)
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        elif key in ("from", "to") and isinstance(value, str):
            try:
                text = when(datetime.fromisoformat(value))
            except ValueError:
                text = value
        else:
            text = str(value)
        out.append((word_or(f"source.{key}", key), text))
    return out


@blp.route("/incidents/<uuid:incident_id>", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS)
def incident_detail(incident_id: uuid.UUID):
    return _detail(incident_id)


def _act(incident_id: uuid.UUID, done: str, fn: Callable[[], Any]):
    try:
        fn()
    except Problem as problem:
        if problem.status in (400, 409, 410, 423):
            return after_refusal(problem, _detail, incident_id)
        raise
    return redirect(url_for("console.incident_detail", incident_id=incident_id, done=done))


@blp.route("/incidents/<uuid:incident_id>/scope", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_scope(incident_id: uuid.UUID):
    def run():
        data = _unschema(_load(schemas.ScopeSchema(), _source_form()))
        flows.compute_scope(**current_call().services("envelope"), incident_id=incident_id, data=data)

    return _act(incident_id, "scope", run)


@blp.route("/incidents/<uuid:incident_id>/containment", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_contain(incident_id: uuid.UUID):
    def run():
        body = _load(schemas.ContainmentSchema(), {"action": request.form.get("action", ""), "principal": _text("principal"), "note": _text("note")})
        flows.contain(**current_call().services(), incident_id=incident_id, action=body["action"], principal=body["principal"], note=body["note"])

    return _act(incident_id, "contain", run)


@blp.route("/incidents/<uuid:incident_id>/assessment", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_assess(incident_id: uuid.UUID):
    def run():
        ctx = current_call()
        people = {}
        for code in ctx.policy.breach_terms:
            raw = _text(f"people.{code}")
            if raw is not None:
                people[code] = raw
        texts = {item: {lang: _text(f"texts.{item}.{lang}") for lang in ("zh", "en") if _text(f"texts.{item}.{lang}")} for item in TEXT_ITEMS}
        body = _load(schemas.AssessmentSchema(), {
            "categories": request.form.getlist("categories") or None, "sensitive": _tristate("sensitive"), "minors": _tristate("minors"),
            "encrypted": request.form.get("encrypted") == "yes", "key_compromised": _tristate("key_compromised"), "people": people or None,
            "records": _text("records"), "risk": request.form.get("risk") or "unknown", "notify": request.form.get("notify") or "unknown",
            "rationale": _text("rationale") or "", "measures_avoid_harm": request.form.get("measures_avoid_harm") == "yes",
            "disproportionate_effort": request.form.get("disproportionate_effort") == "yes", "texts": {k: v for k, v in texts.items() if v},
            "ccpa_exposure": _ccpa_form(),
        })
        service.assess(**ctx.services(), incident_id=incident_id, data=body)

    return _act(incident_id, "assess", run)


@blp.route("/incidents/<uuid:incident_id>/transition", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_transition(incident_id: uuid.UUID):
    def run():
        to = request.form.get("to", "")
        review = None
        if to == "closed":
            review = {"cause": _text("cause") or "", "lessons": _text("lessons") or "",
                      "actions": [line.strip() for line in (request.form.get("follow_up") or "").splitlines() if line.strip()]}
        body = _load(schemas.TransitionSchema(), {"to": to, "note": _text("transition_note"), "review": review, "at": _iso("transition_at"), "reason": _text("transition_reason")})
        flows.transition(
            **current_call().services(), incident_id=incident_id, to=body["to"], note=body["note"], review=body["review"], at=body["at"], reason=body["reason"],
        )

    return _act(incident_id, "transition", run)


@blp.route("/incidents/<uuid:incident_id>/assign", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_assign(incident_id: uuid.UUID):
    """Assigns the incident to the signed-in user ("me"), to another active staff member (their id), or to nobody ("")."""
    assignee = queue.assignee_chosen(request.form, g.actor)
    return _act(incident_id, "assign", lambda: board.assign(**current_call().services(), incident_id=incident_id, assignee_id=assignee))


@blp.route("/incidents/<uuid:incident_id>/times", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_times(incident_id: uuid.UUID):
    def run():
        body = _load(schemas.TimesSchema(), {**{k: _iso(f"times_{k}") for k in service.RECORDED_TIMES}, "reason": _text("times_reason") or ""})
        service.record_times(**current_call().services(), incident_id=incident_id, times={k: body[k] for k in service.RECORDED_TIMES}, reason=body["reason"])

    return _act(incident_id, "times", run)


@blp.route("/incidents/<uuid:incident_id>/notifications/<uuid:notification_id>/letters", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_generate(incident_id: uuid.UUID, notification_id: uuid.UUID):
    def run():
        reasons = {lang: _text(f"delay_reasons.{lang}") for lang in ("zh", "en") if _text(f"delay_reasons.{lang}")}
        body = _load(schemas.LettersRequestSchema(), {
            "languages": request.form.getlist("languages") or None, "phase": _text("phase"), "delay_reasons": reasons,
            "voluntary": request.form.get("voluntary") == "yes",
        })
        letters.generate(
            **current_call().services("envelope"), incident_id=incident_id, notification_id=notification_id, languages=body["languages"],
            phase=body["phase"], delay_reasons=body.get("delay_reasons") or None, voluntary=body["voluntary"],
        )

    return _act(incident_id, "letters", run)


@blp.route("/incidents/<uuid:incident_id>/notifications/<uuid:notification_id>/letters", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_letters(incident_id: uuid.UUID, notification_id: uuid.UUID):
    ctx = current_call()
    session = ctx.session
    incident = service.get_or_raise(session=session, incident_id=incident_id)
    rows = letters.list_letters(session=session, incident_id=incident_id, notification_id=notification_id)
    n = next(x for x in board.view(session=session, policy=ctx.policy, incident=incident, with_timeline=False)["notifications"] if x["id"] == notification_id)
    return page("incident_letters.html", incident=incident, n=n, rows=rows)


@blp.route("/incidents/<uuid:incident_id>/letters/<uuid:letter_id>", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_letter(incident_id: uuid.UUID, letter_id: uuid.UUID):
    """A letter's text (a subject's letter is opened under its data key; the read is audited by the letters service)."""
    ctx = current_call()
    letter, text = letters.read_letter(**ctx.services("envelope"), incident_id=incident_id, letter_id=letter_id)
    return page("incident_letter.html", incident=service.get_or_raise(session=ctx.session, incident_id=incident_id), letter=letter, text=text)


@blp.route("/incidents/<uuid:incident_id>/notifications/<uuid:notification_id>/sent", methods=["POST"])
@requires(Permission.CONSOLE_INCIDENTS_MANAGE)
def incident_sent(incident_id: uuid.UUID, notification_id: uuid.UUID):
    def run():
        body = _load(schemas.SentSchema(), {
            "channel": _text("channel") or "", "reference": _text("reference"), "sent_at": _iso("sent_at"), "late_reason": _text("late_reason"),
        })
        service.mark_sent(
            **current_call().services(), incident_id=incident_id, notification_id=notification_id, channel=body["channel"], reference=body["reference"],
            sent_at=body["sent_at"], late_reason=body["late_reason"],
        )

    return _act(incident_id, "sent", run)


@blp.route("/incidents/<uuid:incident_id>/report/<lang>", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS)
def incident_report(incident_id: uuid.UUID, lang: str):
    """The incident report (HTML, to print to PDF): the copy frozen at closing, or a marked draft. A download, because
    the report carries its own print styles, which the console's Content-Security-Policy would not apply."""
    if lang not in letters.LANGUAGES:
        raise Problem(404, "not_found", "Not found", "No such language.")
    ctx = current_call()
    html, final = letters.report(**ctx.services(), incident_id=incident_id, lang=lang)
    reference = service.get_or_raise(session=ctx.session, incident_id=incident_id).reference
    name = f"incident-report-{reference}-{lang}{'' if final else '-draft'}.html"
    return Response(html, mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Content-Language": lang, "X-Report-Final": "true" if final else "false",
    })


# --- the register (GDPR Art. 33(5)), read-only ------------------------------------------------------------------------


@blp.route("/incidents/register", methods=["GET"])
@requires(Permission.CONSOLE_INCIDENTS_REGISTER)
def breach_register():
    ctx = current_call()
    drills = request.args.get("drills") == "1"
    rows = board.register(**ctx.services(), include_drills=drills)
    sources = [term.register_source for term in ctx.policy.breach_terms.values() if term.register_source]
    labels = {key: rule.label.get(language(), key) for term in ctx.policy.breach_terms.values() for key, rule in term.notifications.items()}
    return page("breach_register.html", rows=rows, drills=drills, sources=sources, as_time=_as_time, notification_labels=labels)


def _as_time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
