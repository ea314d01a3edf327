"""The DPO and auditor console: server-rendered pages (Jinja2, zh/en) over the same services as the API.

Every route declares its access like the API (@requires / @public); the guard authenticates a console session
cookie (govern/identity/guard.py) and refuses a state-changing request without the session's CSRF token. This
module holds the blueprint, the frame (sign-in, home, preferences, errors) and the subject look-up, access review and
audit log pages; the other domains' pages live in pages_<domain>.py and add their routes to this blueprint, all of them
gathered by console/pages.py, which the app registers.
"""

from __future__ import annotations

import hmac
import re
import secrets
import tempfile
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import flask_babel
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    url_for,
)
from flask_babel import Babel
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from govern.access import reads
from govern.access.service import has_permission
from govern.api_support import current_call
from govern.audit import chain, checkpoints, export, signing
from govern.audit import service as audit
from govern.audit.tags import AuditAction
from govern.db import begin_after_refusal
from govern.errors import HTTP_CODES, Problem, problem_response
from govern.identity import review, staff
from govern.identity.guard import CSRF_FIELD, SESSION_COOKIE, current_runtime, public, requires
from govern.identity.models import Principal
from govern.identity.permissions import Permission
from govern.ratelimit import limited, refusal
from govern.timeutil import as_utc

from .i18n import DOMAIN, LANGUAGES, MESSAGES, N_, TRANSLATIONS
from .policy_text import policy_text

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LANG_COOKIE = "govern_lang"  # the language before sign-in; afterwards the account's own preference
SIGNIN_CSRF_COOKIE = "govern_signin"  # double-submit token of the (public) sign-in form

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@blp.record_once
def _install_babel(state) -> None:
    """Flask-Babel reads the console's catalogs (govern/console/translations) in the language `language()` chooses."""
    app: Flask = state.app
    Babel(app, locale_selector=language, default_locale="en", default_domain=DOMAIN, default_translation_directories=str(TRANSLATIONS))


# --- navigation: a page shows up only for roles that may open it, and only if its domain exists -------------------

NAV: list[tuple[str, str, Permission, str]] = [
    # (endpoint, words, permission, endpoint prefix of the section's other pages)
    ("console.home", "home", Permission.CONSOLE_VIEW, "console.home"),
    ("console.reports", "reports", Permission.CONSOLE_REPORTS, "console.reports"),
    ("console.calendar", "calendar", Permission.CONSOLE_CALENDAR, "console.calendar"),
    ("console.requests_queue", "requests", Permission.CONSOLE_REQUESTS, "console.request"),
    ("console.retention_overview", "retention", Permission.CONSOLE_RETENTION, "console.retention"),
    ("console.consent_overview", "consent_sharing", Permission.CONSOLE_CONSENT, "console.consent"),
    ("console.incidents", "incidents", Permission.CONSOLE_INCIDENTS, "console.incident"),
    ("console.breach_register", "breach_register", Permission.CONSOLE_INCIDENTS_REGISTER, "console.breach_register"),
    ("console.webhooks_overview", "webhooks", Permission.CONSOLE_WEBHOOKS, "console.webhook"),
    ("console.compliance_overview", "compliance", Permission.CONSOLE_COMPLIANCE, "console.compliance"),
    ("console.subject_lookup", "subject_lookup", Permission.CONSOLE_SUBJECT_LOOKUP, "console.subject"),
    ("console.access_review", "access_review", Permission.CONSOLE_ACCESS_REVIEW, "console.access_review"),
    ("console.audit_search", "audit_log", Permission.CONSOLE_AUDIT, "console.audit"),
]


def may(permission: Permission) -> bool:
    actor = g.get("actor")
    return actor is not None and actor.kind != "anonymous" and has_permission(current_runtime().policy, actor, permission)


# --- language, time zone, dates ------------------------------------------------------------------------------------


def _principal() -> Principal | None:
    actor = g.get("actor")
    if actor is None or actor.principal_id is None:
        return None
    return current_runtime().session().get(Principal, actor.principal_id)


def language() -> str:
    if "console_lang" in g:
        return g.console_lang
    p = _principal()
    lang = p.language if p is not None and p.language in LANGUAGES else None
    if lang is None:
        lang = request.cookies.get(LANG_COOKIE) if request.cookies.get(LANG_COOKIE) in LANGUAGES else None
    if lang is None:
        best = request.accept_languages.best_match(["zh", "zh-CN", "en"])
        lang = ("zh" if best.startswith("zh") else "en") if best else current_runtime().policy.console.default_language
    g.console_lang = lang
    return lang


def _language_changed() -> None:
    g.pop("console_lang", None)
    flask_babel.refresh()  # Flask-Babel keeps the locale it chose for the request; a new preference applies at once


def time_zone() -> str:
    p = _principal()
    if p is not None and p.time_zone and staff.valid_time_zone(p.time_zone):
        return p.time_zone
    return current_runtime().policy.console.default_time_zone


def t(key: str, **values) -> str:
    """The words of msgid `key` in this request's language (Flask-Babel), {name} placeholders filled from `values`."""
    text = flask_babel.gettext(key)
    return text.format(**values) if values else text


def when(value: datetime | str | None, with_zone: bool = True) -> str:
    """A moment in the user's time zone; an ISO text (as a service's view gives it) is read first."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    local = as_utc(value).astimezone(ZoneInfo(time_zone()))
    return local.strftime("%Y-%m-%d %H:%M") + (f" {_zone_mark(local)}" if with_zone else "")


def _zone_mark(local: datetime) -> str:
    """The zone after a time: its abbreviation in English (CST, CET); in Chinese its UTC offset (UTC+8), since an
    English abbreviation means nothing to a Chinese reader and CST is ambiguous."""
    if language() != "zh":
        return local.tzname() or ""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def has_words(key: str) -> bool:
    return key in MESSAGES


def word_or(key: str, fallback: str) -> str:
    """The words of msgid `key`, or `fallback` (a name from the policy or the data) when the catalogs have none."""
    return t(key) if key in MESSAGES else fallback


def period(keep: str) -> str:
    """A retention period of the policy (3y, 6m, 90d, 15wd) in words."""
    match = re.fullmatch(r"(\d+)(wd|y|m|w|d|h)", str(keep))
    return t(f"period.{match.group(2)}", n=int(match.group(1))) if match else str(keep)


def role_name(role: str) -> str:
    """A role in words, in the page's language: by its label in roles.yaml (a role an operator adds reads in words at
    once); a role no longer in the policy (on an old audit event) as written."""
    found = current_runtime().policy.roles.get(role)
    return (found.label.get(language()) or found.label["en"]) if found is not None else role


def retention_rule_name(rule: str) -> str:
    """A retention rule in words, in the page's language: a rule of retention.yaml by its label there (one an operator
    adds reads in words at once); the rules fixed in code (closed_accounts, consent_withdrawn, left_with_nothing) by
    their words in the catalogs; a rule no longer in the policy as written."""
    found = current_runtime().policy.retention.rules.get(rule)
    if found is not None:
        return found.label.get(language()) or found.label["en"]
    return word_or(f"retention_rule.{rule}", rule)


def purpose_name(purpose: str | None) -> str:
    p = current_runtime().policy.purposes.get(purpose or "")
    return (p.label.get(language()) if p is not None else None) or (purpose or "—")


def field_name(field: str) -> str:
    rule = current_runtime().policy.catalog.fields.get(field)
    return (rule.label.get(language()) if rule is not None else None) or field


def record_type_name(name: str) -> str:
    kind = current_runtime().policy.catalog.record_types.get(name)
    return (kind.label.get(language()) if kind is not None else None) or name


def principal_name(ref: Any) -> str:
    """A principal shown by its name, never a bare uuid: a uuid (or its text) is looked up; a name stays as it is."""
    try:
        pid = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        return str(ref)
    found = current_runtime().session().get(Principal, pid)
    return found.name if found is not None else str(ref)


def parse_local(text: str | None) -> datetime | None:
    """A datetime-local form value, read in the user's time zone; None when empty or malformed."""
    if not text:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        return None
    return naive.replace(tzinfo=ZoneInfo(time_zone())) if naive.tzinfo is None else naive


@blp.app_template_filter("console_when")
def _when_filter(value):
    return when(value)


# Names in words for a list in a template: `roles|map('role_name')|join(', ')`.
blp.add_app_template_filter(lambda r: role_name(r), "role_name")
blp.add_app_template_filter(lambda f: field_name(f), "field_name")
blp.add_app_template_filter(lambda r: record_type_name(r), "record_type_name")
blp.add_app_template_filter(lambda p: purpose_name(p), "purpose_name")


def page(template: str, status: int = 200, **context: Any):
    """Renders a console page with the frame's context: words, navigation, the user, the CSRF token."""
    actor = g.get("actor")
    signed_in = actor is not None and actor.kind != "anonymous"
    here = request.endpoint or ""
    nav = [
        (endpoint, label, here.startswith(prefix))
        for endpoint, label, perm, prefix in NAV if endpoint in _endpoints() and signed_in and may(perm)
    ]
    body = render_template(
        f"console/{template}", _=t, t=t, lang=language(), other_lang="en" if language() == "zh" else "zh", when=when, nav=nav,
        actor=actor if signed_in else None, csrf_token=g.get("csrf_token", ""),
        csrf_field=CSRF_FIELD, tz=time_zone(), may=may, Permission=Permission, current=request.endpoint, word_or=word_or, role_name=role_name, retention_rule_name=retention_rule_name, period=period,
        purpose_name=purpose_name, field_name=field_name, record_type_name=record_type_name, principal_name=principal_name,
        policy_text=policy_text, **context,
    )
    return Response(body, status=status, mimetype="text/html")


def _endpoints() -> set[str]:
    return set(current_app.view_functions)


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: an open redirect to another site is not followed."""
    if target and target.startswith("/console/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("console.home")


def _secure() -> bool:
    mode = current_runtime().settings.console_secure_cookies
    return mode == "true" or (mode == "auto" and request.is_secure)


# --- responses: security headers, errors as pages ------------------------------------------------------------------


@blp.after_request
def _headers(response: Response) -> Response:
    # Pages carry personal data: nothing cached, nothing framed, nothing loaded from elsewhere.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _wants_html() -> bool:
    return request.accept_mimetypes.accept_html


@blp.errorhandler(Problem)
def _problem(problem: Problem):
    if problem.audit is not None:
        g.refusal_audit = problem.audit
    if not _wants_html():
        return problem_response(problem)
    if problem.status == 401:
        target = request.full_path.rstrip("?") if request.method == "GET" else request.path
        reason = (problem.extra or {}).get("reason")
        return redirect(url_for("console.sign_in", next=target, ended=1 if reason == "session_invalid" else None))
    key = _PROBLEM_MESSAGES.get(problem.code)
    return page("error.html", status=problem.status, problem=problem, message=t(key) if key else None)


# The problems whose page says more than their (English) title, in the reader's language: msgid by problem code.
_PROBLEM_MESSAGES = {
    "csrf_failed": N_("csrf_failed"), "permission_denied": N_("forbidden"), "not_found": N_("not_found"),
    "edit_conflict": N_("edit_conflict"), "audit_unavailable": N_("audit_unavailable"),
}


def late_problem_page(problem: Problem) -> Response:
    """The console's answer to a problem met after its view returned — the request's commit failed (503
    audit_unavailable) or lost a race for a versioned row (409 edit_conflict): the error page in the reader's language
    with the console's headers, or problem+json to a client that asks for JSON, as for a problem the view raised."""
    return _headers(_problem(problem))


@blp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded):
    """Too many sign-ins or look-ups: the error page (or problem+json) with Retry-After, the refusal audited."""
    problem = refusal(exc)
    if _wants_html():
        g.refusal_audit = problem.audit
        response = page("error.html", status=429, problem=problem, message=t("rate_limited", s=problem.extra["retry_after"]))
    else:
        response = _problem(problem)
    response.headers.update(problem.headers)
    return response


@blp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    if not _wants_html():
        return problem_response(Problem(exc.code or 500, HTTP_CODES.get(exc.code or 500, "http_error"), exc.name, exc.description))
    return page("error.html", status=exc.code or 500, problem=Problem(exc.code or 500, "http_error", exc.name, None), message=t("not_found") if exc.code == 404 else None)


def after_refusal(problem: Problem, render: Callable[..., Response], *args: Any, **kwargs: Any) -> Response:
    """A refused action answered with the page of the item it was refused on, as the item stands (render(*args,
    problem=problem, **kwargs), called here). The one rule for every such page (govern/db.py begin_after_refusal): the
    refused action is undone here, before the page reads anything; the page's reads and their audit events are then a
    unit of work of their own, which the request commits though it answers 400/409/423, or it answers 503 instead of
    the page (fail-closed, govern/app.py). The refusal's own audit event is kept once, in its own unit of work, as for
    any refusal (g.refusal_audit)."""
    if problem.audit is not None:
        g.refusal_audit = problem.audit
    with begin_after_refusal(current_runtime().session()) as session:
        # A principal still to be confirmed (a remembered API key) is confirmed now, in the new unit of work: the
        # request must not roll the page's events back at its end to ask then (govern/app.py _confirm_principal).
        condition = audit.unmet_condition(session=session)
        if condition is not None and not audit.check_condition(session=session):
            raise condition.refusal()
        return render(*args, problem=problem, **kwargs)


def problem_page(problem: Problem, template: str, **context: Any):
    """A service's refusal shown on the page that asked (keeping its audit entry), not as a bare error page."""
    if problem.audit is not None:
        g.refusal_audit = problem.audit
    return page(template, status=problem.status, problem=problem, **context)


# --- static files (all local: nothing is fetched from the internet) -------------------------------------------------


@blp.route("/static/<path:filename>", methods=["GET"])
@public("the console's own stylesheet and script; no data")
def static_file(filename: str):
    response = send_from_directory(STATIC, filename, max_age=3600)
    return response


# --- sign-in and sign-out ------------------------------------------------------------------------------------------


@blp.route("/sign-in", methods=["GET"])
@public("the sign-in form")
def sign_in():
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page("sign_in.html", signin_token=token, next=_safe_next(request.args.get("next")), ended=bool(request.args.get("ended")),
                    signed_out=bool(request.args.get("signed_out")), failed=False)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(), path="/console/")
    return response


@blp.route("/sign-in", methods=["POST"])
@public("signing in: checks a user name and password, counts failures and locks after repeated ones (audited)")
@limited("sign_in")
def sign_in_submit():
    cookie_token = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), sent.encode()):
        raise Problem(403, "csrf_failed", "Form expired or forged", "The sign-in form carried no valid token; reload the page.")
    rt = current_runtime()
    result = staff.sign_in(
        session=rt.session(), policy=rt.policy, name=request.form.get("name", ""), password=request.form.get("password", ""),
        request_id=g.request_id, client_addr=g.client_addr,
    )
    if not result.ok:
        # 200 so that the request's transaction commits the failure count and its audit event.
        rules = rt.policy.console
        return page("sign_in.html", signin_token=cookie_token, next=_safe_next(request.form.get("next")), failed=True,
                    failure=t("sign_in_failed", n=rules.max_failures, m=rules.lockout_minutes), ended=False, signed_out=False)
    response = redirect(_safe_next(request.form.get("next")))
    response.set_cookie(SESSION_COOKIE, result.token, httponly=True, samesite="Lax", secure=_secure(), path="/console/")
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/console/")
    if result.principal.language:
        response.set_cookie(LANG_COOKIE, result.principal.language, samesite="Lax", secure=_secure(), path="/console/", max_age=365 * 86400)
    return response


@blp.route("/sign-out", methods=["POST"])
@requires(Permission.CONSOLE_VIEW)
def sign_out():
    console_session = g.get("console_session")
    if console_session is not None:
        ctx = current_call()
        staff.sign_out(session=ctx.session, actor=ctx.actor, console_session=console_session)
    response = redirect(url_for("console.sign_in", signed_out=1))
    response.delete_cookie(SESSION_COOKIE, path="/console/")
    return response


@blp.route("/language/<lang>", methods=["GET"])
@public("chooses the language of the sign-in page (a display cookie; no data)")
def choose_language(lang: str):
    if lang not in LANGUAGES:
        abort(404)
    response = redirect(_safe_next(request.args.get("next")) if request.args.get("next") else url_for("console.sign_in"))
    response.set_cookie(LANG_COOKIE, lang, samesite="Lax", secure=_secure(), path="/console/", max_age=365 * 86400)
    return response


# --- preferences: language and time zone, remembered per user ------------------------------------------------------


@blp.route("/preferences", methods=["GET"])
@requires(Permission.CONSOLE_VIEW)
def preferences():
    return page("preferences.html", zones=sorted(available_timezones()), saved=bool(request.args.get("saved")))


@blp.route("/preferences", methods=["POST"])
@requires(Permission.CONSOLE_VIEW)
def preferences_submit():
    lang = request.form.get("language") or None
    zone = request.form.get("time_zone") or None
    ctx = current_call()
    staff.set_preferences(session=ctx.session, principal_id=ctx.actor.principal_id, language=lang, time_zone=zone)
    _language_changed()
    back = request.form.get("next")
    response = redirect(_safe_next(back) if back else url_for("console.preferences", saved=1))
    if lang:
        response.set_cookie(LANG_COOKIE, lang, samesite="Lax", secure=_secure(), path="/console/", max_age=365 * 86400)
    return response


# --- home ----------------------------------------------------------------------------------------------------------


@blp.route("/", methods=["GET"])
@requires(Permission.CONSOLE_VIEW)
def home():
    panels: dict[str, Any] = {}
    for name, build in HOME_PANELS:
        panel = build()
        if panel is not None:
            panels[name] = panel
    if may(Permission.CONSOLE_AUDIT):
        panels["chain"] = _chain_facts(current_call().session)
    return page("home.html", panels=panels)


def _chain_facts(session) -> dict[str, Any]:
    """Head, unsealed events and the newest signed checkpoint, read in this request's transaction. (The full check,
    integrity.status, opens its own connection: on SQLite that would wait on this request's own write lock.)"""
    head_seq, _ = chain.head(session)
    cp = checkpoints.latest(session)
    return {
        "head_seq": head_seq, "unsealed": chain.unsealed_count(session),
        "checkpoint": cp.number if cp else None, "checkpoint_at": cp.issued_at if cp else None,
        "covered": bool(cp) and cp.tree_size == head_seq,
    }


# The pages_<domain>.py modules add (name, builder) here; a builder returns None when the user may not see its panel.
HOME_PANELS: list[tuple[str, Any]] = []


# --- subject look-up (privacy staff only) --------------------------------------------------------------------------


def _lookup_choices() -> tuple[list[str], list[tuple[str, str]]]:
    """Searchable fields, and the purposes a role of this user may use (from roles.yaml), with their labels."""
    ctx = current_call()
    policy, actor = ctx.policy, ctx.actor
    allowed = sorted({p for r in actor.roles if r in policy.roles for p in policy.roles[r].purposes})
    purposes = [(name, policy.purposes[name].label.get(language()) or name) for name in allowed if name in policy.purposes]
    return list(policy.catalog.searchable_fields), purposes


@blp.route("/subjects", methods=["GET"])
@requires(Permission.CONSOLE_SUBJECT_LOOKUP)
def subject_lookup():
    fields, purposes = _lookup_choices()
    return page("lookup.html", fields=fields, purposes=purposes, results=None, chosen_field=fields[0] if fields else None, labels=_field_labels())


def _field_labels() -> dict[str, str]:
    return {name: rule.label.get(language()) or name for name, rule in current_runtime().policy.catalog.fields.items()}


@blp.route("/subjects", methods=["POST"])
@requires(Permission.CONSOLE_SUBJECT_LOOKUP)
@limited("lookup")
def subject_lookup_submit():
    """Look-up and read through govern.access.reads: purpose-checked, audited, masked per role (no rule here)."""
    ctx = current_call()
    fields, purposes = _lookup_choices()
    field = request.form.get("field", "")
    purpose = request.form.get("purpose") or None
    context = {"fields": fields, "purposes": purposes, "chosen_field": field, "chosen_purpose": purpose, "labels": _field_labels()}
    try:
        ids = reads.lookup(**ctx.services("envelope"), field=field, value=request.form.get("value", ""), purpose=purpose)
        views = [reads.read(**ctx.services("envelope"), subject_id=sid, purpose=purpose) for sid in ids[:20]]
    except Problem as problem:
        return problem_page(problem, "lookup.html", results=None, **context)
    return page("lookup.html", results=views, more=len(ids) > 20, **context)


# --- access review -------------------------------------------------------------------------------------------------


@blp.route("/access-review", methods=["GET"])
@requires(Permission.CONSOLE_ACCESS_REVIEW)
def access_review():
    result = review.build(**current_call().services())
    return page("access_review.html", review=result)


@blp.route("/access-review.csv", methods=["GET"])
@requires(Permission.CONSOLE_ACCESS_REVIEW)
def access_review_csv():
    result = review.build(**current_call().services(), export=True)
    name = f"govern-access-review-{result.until.strftime('%Y%m%d')}.csv"
    return Response(review.to_csv(result).encode("utf-8"), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- audit log: search and export, the same services as /api/v1/audit ----------------------------------------------


@blp.route("/audit", methods=["GET"])
@requires(Permission.CONSOLE_AUDIT)
def audit_search():
    args = request.args
    searched = any(args.get(k) for k in ("from", "to", "actor", "subject", "action", "purpose", "outcome", "request_id", "go"))
    errors: list[str] = []
    subject = None
    if args.get("subject"):
        try:
            subject = uuid.UUID(args["subject"])
        except ValueError:
            errors.append("subject")
    outcome = args.get("outcome") or None
    if outcome not in (None, "allowed", "denied", "failed"):
        errors.append("outcome")
    page_ = None
    if searched and not errors:
        filters = audit.SearchFilters(
            time_from=parse_local(args.get("from")), time_to=parse_local(args.get("to")), actor=(args.get("actor") or "").strip()[:100] or None,
            subject_id=subject, action=(args.get("action") or "").strip()[:64] or None, purpose=(args.get("purpose") or "").strip()[:64] or None,
            outcome=outcome, request_id=(args.get("request_id") or "").strip()[:64] or None,
        )
        try:
            ctx = current_call()
            page_ = audit.search(session=ctx.session, actor=ctx.actor, filters=filters, cursor=args.get("cursor") or None, limit=50)
        except Problem as problem:
            return problem_page(problem, "audit.html", args=args, result=None, errors=errors)
    older = None
    if page_ is not None and page_.next_cursor:
        older = url_for("console.audit_search", **{**{k: v for k, v in args.items() if k != "cursor"}, "cursor": page_.next_cursor})
    return page("audit.html", args=args, result=page_, errors=errors, older=older, parse_time=_event_time)


def _event_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


@blp.route("/audit/export", methods=["GET"])
@requires(Permission.CONSOLE_AUDIT)
def audit_export():
    """The same export as GET /api/v1/audit/export: events.jsonl and the signed manifest, zipped; audited."""
    ctx = current_call()
    session = ctx.session
    fmt = request.args.get("format", "jsonl")
    if fmt not in ("jsonl", "ocsf"):
        abort(400)
    time_from, time_to = parse_local(request.args.get("from")), parse_local(request.args.get("to"))
    audit.append(session=session, actor=ctx.actor, action=AuditAction.EXPORT,
                 resource=f"export:{time_from.isoformat() if time_from else '-'}..{time_to.isoformat() if time_to else '-'}")
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="govern-export-") as tmp:
        try:
            result = export.write(session=session, settings=ctx.settings, out=Path(tmp), time_from=time_from, time_to=time_to, fmt=fmt)
        except signing.SigningKeyError:
            raise Problem(503, "audit_signing_key_unavailable", "Signing key unavailable", "The export cannot be signed; ask an operator.") from None
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, f"audit-export/{path.name}")
    spool.seek(0)
    return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=f"govern-audit-{result.first_seq}-{result.last_seq}.zip")
