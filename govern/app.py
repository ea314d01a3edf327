"""create_app(settings): the runtime (govern/runtime.py: policies, keys, database), logging, the API blueprints, errors and
the request lifecycle.

A request is one transaction, opened lazily and committed in after_request only when the response is a success, so
that a failed commit (the audit event could not be made durable) turns into an error before any data leaves. Except
an audited read (govern.identity.guard.audited_read) on PostgreSQL: it changes nothing but the audit log, so its
session runs in AUTOCOMMIT and its audit event is durable as it is inserted, before any data is returned. And a page
shown after a refused action (govern.db.begin_after_refusal): the refused action was undone when it was refused, and
the page's reads, made in a unit of work begun afresh, are committed with their audit events though the answer is an
error — or the answer is 503 instead of the page.
"""

from __future__ import annotations

import time
from types import FunctionType
from typing import Any

import structlog
from flask import Flask, g, request
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from govern import __version__, input_limits
from govern.api_support import not_modified, refuse_nul_characters
from govern.audit import service as audit
from govern.audit.api import blp as audit_blp
from govern.audit.service import Outcome
from govern.breach.api import blp as breach_blp
from govern.config import Settings
from govern.consent.api import blp as consent_blp
from govern.console.pages import blp as console_blp
from govern.console.views import late_problem_page as console_problem_page
from govern.db import kept_after_refusal
from govern.deidentified.api import blp as deidentified_blp
from govern.errors import AuditUnavailable, EditConflict, is_edit_conflict, problem_response, register_error_handlers
from govern.health.api import blp as health_blp
from govern.health.api import docs_assets
from govern.health.metrics import observe_request
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.identity.api import blp as identity_blp
from govern.identity.guard import declared_access, install_guard, public
from govern.logging import configure_logging, get_logger
from govern.openapi import GovernApi
from govern.processing.api import blp as processing_blp
from govern.ratelimit import install_rate_limits
from govern.retention.api import blp as retention_blp
from govern.runtime import Runtime, build_runtime
from govern.sharing.api import blp as sharing_blp
from govern.subject_requests.api import blp as requests_blp
from govern.subject_requests.service import CHANNELS as REQUEST_CHANNELS
from govern.subject_requests.service import REFUSAL_REASONS
from govern.subject_requests.service import STATES as REQUEST_STATES
from govern.subjects.api import blp as subjects_blp
from govern.webhooks.api import blp as webhooks_blp

log = get_logger("govern.app")


class _Flask(Flask):
    """Flask, remembering which of its functions are coroutines: it asks again for every hook, view and handler of
    every request (about a dozen inspections per request), and a function does not change its kind."""

    _sync: dict[Any, Any]

    def ensure_sync(self, func):
        sync = self.__dict__.setdefault("_sync", {})
        found = sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if isinstance(func, FunctionType) and len(sync) < 10_000:  # plain functions live as long as the app
                sync[func] = found
        return found


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    configure_logging(settings.log_level)
    runtime = runtime or build_runtime(settings)

    app = _Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese names stay readable in JSON
    app.config.update(
        API_TITLE="govern",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
        API_SPEC_OPTIONS={
            "info": {"description": "The system of record for a CRM's customer personal data."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "servers": [{"url": "/", "description": "This govern; every path starts with /api/v1"}],
        },
    )
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    app.extensions["govern"] = runtime
    input_limits.install(app)  # before any route: the `int` converter bounds ids to what a BIGINT holds

    api = GovernApi(app, enums=lambda: _accepted_values(runtime), access_of=lambda endpoint: _access_of(app, endpoint))
    _register_blueprints(app, api)
    register_error_handlers(app)

    _install_lifecycle(app, runtime)  # first: its before_request starts the clock for everything after
    install_guard(app, runtime)
    app.before_request(input_limits.check_json_body)  # depth and number limits, before any parser reads the body
    app.before_request(refuse_nul_characters)  # after the guard: who asks is settled before what they sent
    app.after_request(not_modified)  # a GET naming its current ETag in If-None-Match: 304, before the commit runs
    install_rate_limits(app, runtime)  # wraps the views marked @limited: their counts run after the guard, in the view
    _protect_openapi_routes(app)
    return app


def _register_blueprints(app: Flask, api: GovernApi) -> None:
    for blp in (subjects_blp, identity_blp, audit_blp, consent_blp, sharing_blp, requests_blp, retention_blp, breach_blp, processing_blp, webhooks_blp):
        api.register_blueprint(blp)
    api.register_blueprint(deidentified_blp)  # de-identified exports (PIPL Art. 73)
    app.register_blueprint(health_blp)
    app.register_blueprint(docs_assets)
    app.register_blueprint(console_blp)


def _accepted_values(runtime) -> dict[tuple[str, ...], tuple[str, ...]]:
    """The values the server accepts, documented as enums (by schema name, or "*" for a field of any schema)."""
    policy = runtime.policy
    jurisdictions = tuple(sorted(policy.jurisdictions))
    return {
        ("LegalHoldCreate", "reason"): tuple(policy.retention.hold_reasons), ("RequestRefuse", "reason"): REFUSAL_REASONS,
        ("Lookup", "field"): tuple(policy.catalog.searchable_fields),
        ("RecipientCreate", "categories"): tuple(sorted({f.category for f in policy.catalog.fields.values()})),
        ("RecordCreate", "type"): tuple(sorted(policy.catalog.record_types)), ("LegalHoldCreate", "record_type"): tuple(sorted(policy.catalog.record_types)),
        ("query", "subjects_list_records", "type"): tuple(sorted(policy.catalog.record_types)),
        ("query", "*", "purpose"): tuple(sorted(policy.purposes)),
        **{(body, "purpose"): tuple(sorted(policy.purposes)) for body in (
            "ConsentCreate", "Check", "Lookup", "DisclosureCreate", "ObjectionLift", "PseudonymisedExport", "AggregateExport", "RecipientCreate")},
        ("ConsentCreate", "purposes"): tuple(sorted(policy.purposes)),
        ("AggregateExport", "dimensions"): tuple(policy.deidentified.dimensions),
        **{(name, "jurisdiction"): jurisdictions for name in ("SubjectCreate", "Subject", "RequestCreate", "Request")},
        ("RequestCreate", "channel"): REQUEST_CHANNELS, ("Request", "channel"): REQUEST_CHANNELS,
        ("Request", "state"): REQUEST_STATES, ("RequestCreated", "state"): REQUEST_STATES,
    }


def _access_of(app: Flask, endpoint: str):
    return declared_access(app, endpoint)


def _protect_openapi_routes(app: Flask) -> None:
    """flask-smorest's own routes (the OpenAPI document and its UI) publish no personal data."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.startswith("api-docs."):
            # They are bound methods, which take no attributes: wrap each in a plain function.
            app.view_functions[endpoint] = public("the API's own description")(_plain(view))


def _plain(view):
    def wrapper(*args, **kwargs):
        return view(*args, **kwargs)

    return wrapper


def _install_lifecycle(app: Flask, runtime: Runtime) -> None:
    # Bound once, after create_app configured logging: the module's lazy logger rebuilds itself on every call.
    request_log = log.bind()

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()

    @app.after_request
    def _finish(response):
        # The request and g once each (every access through Flask's proxies is a context look-up).
        req, ctx = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        response = _confirm_principal(runtime, response)
        session: Session | None = ctx.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code >= 400 and not kept_after_refusal(session):
                    session.rollback()
                elif session.in_transaction() or session.new or session.dirty or session.deleted:
                    session.commit()
                # else nothing began and nothing is pending: an audited read's statements committed as they ran
            except Exception as exc:  # the commit (and with it the audit event) did not become durable
                session.rollback()
                if is_edit_conflict(exc):  # the last flush lost a race for a versioned row: the log is fine, nothing changed
                    log.warning("edit_conflict", error_type=type(exc).__name__)
                    response = _late_problem(EditConflict())
                else:
                    log.error("commit_failed", error_type=type(exc).__name__)
                    response = _late_problem(AuditUnavailable("The operation could not be recorded and was not carried out."))
            finally:
                runtime.database.end(session)
        refusal = ctx.pop("refusal_audit", None)
        if refusal is not None:
            _record_refusal(runtime, refusal)
        response.headers["X-Request-Id"] = ctx.get("request_id", "")
        now = time.perf_counter()
        elapsed = now - ctx.get("started", now)
        endpoint, method, status = req.endpoint, req.method, response.status_code
        observe_request(endpoint or "unmatched", method, status, elapsed)
        request_log.info(
            "request", method=method, path=req.path, endpoint=endpoint, status=status, ms=round(elapsed * 1000, 2),
            actor=getattr(ctx.get("actor"), "name", None),
        )
        return response

    @app.teardown_request
    def _teardown(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            try:
                session.rollback()
            finally:
                runtime.database.end(session)


def _late_problem(problem):
    """The answer to a problem found after the view returned: the console's error page to its pages (in the reader's
    language, with its headers), problem+json to the API."""
    if request.blueprint == console_blp.name:
        return console_problem_page(problem)
    return problem_response(problem)


def _confirm_principal(runtime: Runtime, response):
    """A principal recognised from memory (an audited read) is confirmed by the request's first audit INSERT; a request
    that wrote none (refused, not found, failed) asks the database now, so a disabled key never gets an answer other
    than 401 — whatever it asks, on its very next request."""
    session = g.get("db_session")
    if session is None or response.status_code == 401 or audit.unmet_condition(session=session) is None:
        return response
    transaction = session.get_transaction()
    if transaction is not None and not transaction.is_active:
        # A flush failed (a version clash answered 409 edit_conflict): that transaction can run nothing more, so the
        # check runs in a fresh one instead of turning the answer into a 503; nothing of it was to be kept.
        session.rollback()
    try:
        enabled = identity.confirm_remembered(session=session, principal_id=getattr(g.get("actor"), "principal_id", None))
    except Exception as exc:  # cannot tell: answer nothing
        log.error("principal_not_confirmed", error_type=type(exc).__name__)
        if response.status_code == 503:  # already "not carried out, try again" (a lost connection): no more to hide
            return response
        return _late_problem(AuditUnavailable("The request could not be checked and was not carried out."))
    if enabled:
        return response
    problem = identity.unauthenticated(identity.KEY_REJECTED, "credentials_rejected")
    g.refusal_audit = problem.audit
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    return _late_problem(problem)


def _record_refusal(runtime: Runtime, refusal) -> None:
    """A refused access is kept in the log even though the request's own transaction was rolled back."""
    actor = g.get("actor") or Actor(name="anonymous", kind="anonymous", request_id=g.get("request_id", ""), client_addr=request.remote_addr)
    # A unit of work of its own, without the request's condition: a refusal is recorded whoever asked, not only while
    # a remembered principal is still enabled.
    try:
        with runtime.database.unit_of_work() as session:
            audit.append(
                session=session, actor=actor, action=refusal.action, outcome=Outcome(refusal.outcome), subject_id=refusal.subject_id,
                field_names=refusal.field_names, purpose=refusal.purpose, reason=refusal.reason,
            )
    except Exception as exc:
        # The refusal stands either way (no data was returned); the operator must see the gap.
        log.error("refusal_not_recorded", error_type=type(exc).__name__, reason=refusal.reason)
