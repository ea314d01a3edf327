"""Authentication and route authorisation, enforced in one place for every route.

Each view declares what it needs with @requires(Permission...) or @public(reason). The guard runs before every
request and refuses any endpoint that declared nothing, so a route added later cannot escape authorisation.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Callable

import structlog
from flask import Flask, current_app, g, request

from govern.errors import Forbidden, Unauthenticated
from govern.identity import service as identity
from govern.identity import staff
from govern.identity.actor import Actor
from govern.identity.permissions import Permission, has_permission
from govern.refusals import Refusal

if TYPE_CHECKING:
    from govern.runtime import Runtime

ACCESS_ATTR = "_govern_access"
AUDITED_READ_ATTR = "_govern_audited_read"
PUBLIC = "public"


def requires(permission: Permission) -> Callable:
    def mark(view: Callable) -> Callable:
        setattr(view, ACCESS_ATTR, permission)
        return view

    return mark


def public(reason: str) -> Callable:
    """No principal needed; `reason` says why (health probes, published notices)."""

    def mark(view: Callable) -> Callable:
        setattr(view, ACCESS_ATTR, PUBLIC)
        return view

    return mark


def audited_read(view: Callable) -> Callable:
    """Marks a view that changes nothing but the audit log. On PostgreSQL its statements then run without an explicit
    transaction: the audit event commits as it is inserted, before any data leaves the service (if it cannot be
    written the view fails, as before), and the request saves the BEGIN and COMMIT round trips, two of the five that
    the hot read path made (bench/read_path.py). Its principal may come from the worker's memory of the key: the
    view's first audit event confirms it (audit.append_only_if), or the app asks before answering (app._confirm_principal).
    Every view marked so must write an audit event for any data it returns."""
    setattr(view, AUDITED_READ_ATTR, True)
    return view


def is_audited_read(app: Flask, endpoint: str | None) -> bool:
    return endpoint is not None and getattr(app.view_functions.get(endpoint), AUDITED_READ_ATTR, False)


def declared_access(app: Flask, endpoint: str) -> Permission | str | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, ACCESS_ATTR, None)


def install_guard(app: Flask, runtime) -> None:
    @app.before_request
    def _guard():
        # The request and g once each: every access through Flask's proxies costs a context look-up, on every request.
        req, ctx = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
        request_id = ctx.request_id = _request_id(req)
        client_addr = ctx.client_addr = req.remote_addr
        structlog.contextvars.bind_contextvars(request_id=request_id)
        endpoint = req.endpoint
        if endpoint is None:
            return None  # 404/405: nothing to guard, the error handler answers
        view = app.view_functions.get(endpoint)
        needed = getattr(view, ACCESS_ATTR, None)
        if needed is None:
            # Fail closed: a route that declared no rule is refused, whoever asks.
            raise Forbidden("route_not_authorised", "Route not authorised", "This route declares no access rule.")
        if needed == PUBLIC:
            ctx.actor = Actor(name="anonymous", kind="anonymous", request_id=request_id, client_addr=client_addr)
            return None
        principal = _authenticate(runtime, req, remembered=getattr(view, AUDITED_READ_ATTR, False))
        structlog.contextvars.bind_contextvars(actor=principal.name)
        actor = ctx.actor = Actor(
            name=principal.name, kind=principal.kind, roles=tuple(principal.roles), principal_id=principal.id,
            request_id=request_id, client_addr=client_addr,
        )
        if not has_permission(runtime.policy, actor, needed):
            raise Forbidden("permission_denied", "Permission denied", f"This principal lacks the permission {needed}.", extra={"reason": "permission_denied", "permission": str(needed)})
        return None


def _authenticate(runtime, req, *, remembered: bool):
    header = req.headers.get("Authorization", "")
    if not header and req.blueprint == CONSOLE_BLUEPRINT:
        return _console_principal(runtime)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise identity.unauthenticated("Send `Authorization: Bearer <api key>`.", "credentials_missing")
    # `remembered`: an audited read confirms its principal in its own audit INSERT (audit.append_only_if), so it may
    # skip the principal's query: one round trip fewer on the hottest path. A disable still acts on the principal's
    # next request.
    principal = identity.authenticate(session=runtime.session(), api_key=token.strip(), remembered=remembered)
    if principal is None:
        raise identity.unauthenticated(identity.KEY_REJECTED, "credentials_rejected")
    return principal


def _request_id(req) -> str:
    given = req.headers.get("X-Request-Id", "")
    # Accept a caller's id only in a harmless shape: it is logged and audited verbatim.
    if 8 <= len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given):
        return given
    return uuid.uuid4().hex


def current_actor() -> Actor:
    return g.actor


def current_runtime() -> Runtime:
    return current_app.extensions["govern"]


# --- the console (govern/console): a staff member's session cookie authenticates instead of an API key -------------

CONSOLE_BLUEPRINT = "console"
SESSION_COOKIE = "govern_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _console_principal(runtime):
    """The staff principal of the request's console session. A session cookie is an ambient credential, so every
    state-changing request must also carry the session's CSRF token (a form field or a header)."""

    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        # Nobody presented a credential: not an attempt worth an audit event (sign-in attempts are audited).
        raise Unauthenticated("unauthenticated", "Sign in required", "Sign in to the console.", extra={"reason": "session_missing"})
    found = staff.authenticate_session(session=runtime.session(), policy=runtime.policy, token=token)
    if found is None:
        raise Unauthenticated(
            "unauthenticated", "Sign in required", "The console session has ended; sign in again.", extra={"reason": "session_invalid"},
            audit=Refusal(action=staff.StaffAction.SESSION_EXPIRED, reason="session_invalid"),
        )
    principal, console_session = found
    g.console_session = console_session
    # Kept as a string too: a page rendered after the request's transaction failed (an error page) must not load it again.
    g.csrf_token = console_session.csrf_token
    if request.method not in SAFE_METHODS:
        # Named in the refusal's audit event: the session was genuine, the form was not.
        g.actor = Actor(
            name=principal.name, kind=principal.kind, roles=tuple(principal.roles), principal_id=principal.id,
            request_id=g.request_id, client_addr=g.client_addr,
        )
        sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not staff.csrf_matches(console_session, sent):
            raise Forbidden(
                "csrf_failed", "Form expired or forged", "The form carried no valid CSRF token; reload the page and try again.",
                extra={"reason": "csrf_failed"}, audit=Refusal(action=staff.StaffAction.CSRF_REJECT, reason="csrf_failed"),
            )
    return principal
