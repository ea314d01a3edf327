"""Rate limits on the routes that guess or enumerate: signing in, look-up by e-mail/phone/ID number, the consent check,
filing a request, redeeming a package token. A view declares its scope with @limited("lookup"); the figures come from
policies/rate_limits.yaml (govern/identity/policy.py), counted per address and per account by Flask-Limiter.

One Limiter per app: counters in Redis when GOVERN_REDIS_URL is set (every process and host shares them), otherwise in
the process's memory. A refusal is 429 problem+json with Retry-After, and an audit event that names the scope and
which count ran out, never the key (an address, a principal or a hash of a typed user name is all the key holds).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from typing import Callable

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.storage import storage_from_string

from govern.audit.tags import LimitAction
from govern.errors import Problem, problem_response
from govern.identity.policy import SCOPES
from govern.identity.staff import address_key
from govern.logging import get_logger
from govern.refusals import Refusal

RATE_SCOPE_ATTR = "_govern_rate_scope"
# Sliding-window counter: no burst of twice the limit across a window's edge (a fixed window allows one), and two
# numbers per key in Redis whatever the limit (a moving window keeps one entry per hit).
STRATEGY = "sliding-window-counter"
KEY_PREFIX = "govern"


def limited(scope: str) -> Callable:
    """Marks a view as counted under `scope` (one of govern.identity.policy.SCOPES); limits come from the policy."""
    if scope not in SCOPES:
        raise ValueError(f"unknown rate-limit scope {scope!r}: one of {', '.join(SCOPES)}")

    def mark(view: Callable) -> Callable:
        setattr(view, RATE_SCOPE_ATTR, scope)
        apidoc = getattr(view, "_apidoc", None)
        if apidoc is not None:  # a flask-smorest view: its OpenAPI operation documents the 429 too (problem+json)
            apidoc.setdefault("response", {}).setdefault("responses", {}).setdefault(429, []).append("TOO_MANY_REQUESTS")
        return view

    return mark


def by_address() -> str:
    """The client's address as the sign-in lockout counts it (IPv4 address, IPv6 /64), after the trusted proxies."""
    return "address:" + address_key(g.get("client_addr") or request.remote_addr)


def by_principal() -> str:
    actor = g.get("actor")
    if actor is None or actor.principal_id is None:
        return ""  # nobody signed in: Flask-Limiter skips an empty key, the address limit still counts
    return f"principal:{actor.principal_id}"


def by_typed_account() -> str:
    # The user name as sign_in looks it up, hashed: the counter must not keep what was typed (people type passwords
    # into the name field), and Redis is not where a staff list should be readable.
    name = (request.form.get("name") or "").strip().lower()
    return "account:" + hashlib.sha256(name.encode()).hexdigest()[:32] if name else ""


def install_rate_limits(app: Flask, runtime) -> Limiter:
    """Creates the app's Limiter and wraps every view marked with @limited in its scope's limits (call it after the
    blueprints are registered). A marked scope without figures in the policy stops the start."""
    policy = runtime.policy.rate_limits
    limiter = Limiter(
        key_func=by_address, storage_uri=runtime.settings.redis_url or "memory://", strategy=STRATEGY, key_prefix=KEY_PREFIX,
        headers_enabled=False,  # Retry-After is set on the 429 itself (refusal below); other answers carry nothing extra
        # Redis unreachable: the same limits count in this process until it answers again (logged), rather than every
        # sign-in and look-up failing, or none being limited.
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    _drop_app_wide_hooks(app, limiter)
    # Flask-Limiter logs each refusal with its key (an address, a principal): the audit event says what matters.
    logging.getLogger("flask-limiter").setLevel(logging.WARNING)
    for endpoint, view in list(app.view_functions.items()):
        scope = getattr(view, RATE_SCOPE_ATTR, None)
        if scope is None:
            continue
        figures = policy.scopes[scope]
        wrapped = view
        if figures.per_account:
            account = by_typed_account if scope == "sign_in" else by_principal
            # Shared by scope, not per route: the API's look-up and the console's count against the same allowance.
            wrapped = limiter.shared_limit(figures.per_account, scope=f"{scope}:per_account", key_func=account)(wrapped)
        if figures.per_address:
            wrapped = limiter.shared_limit(figures.per_address, scope=f"{scope}:per_address", key_func=by_address)(wrapped)
        app.view_functions[endpoint] = wrapped
    app.register_error_handler(RateLimitExceeded, lambda exc: _answer(refusal(exc, limiter)))
    app.extensions["govern_limiter"] = limiter
    return limiter


def _drop_app_wide_hooks(app: Flask, limiter: Limiter) -> None:
    """govern uses route limits only, checked in the marked views' wrappers after the guard. Flask-Limiter's app-wide
    hooks evaluate default, application and meta limits and write X-RateLimit headers, none of which govern has, yet
    they would cost every request ~250 Python calls, the hot read path's too (GET /healthz: 834 calls with them, 579
    without). Its per-request state lives on the request context and goes with it."""

    def ours(fn) -> bool:
        bound = getattr(fn, "__self__", None) if not isinstance(fn, functools.partial) else (fn.args or (None,))[0]
        return bound is limiter

    for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        hooks[None] = [fn for fn in hooks.get(None, []) if not ours(fn)]


def refusal(exc: RateLimitExceeded, limiter: Limiter | None = None) -> Problem:
    """The 429 for a spent allowance: problem+json with Retry-After (whole seconds), audited as a refusal."""

    limiter = limiter or _limiter_of_app()
    scope = exc.limit.scope if isinstance(exc.limit.scope, str) else "unknown"
    retry = 1
    current = limiter.current_limit if limiter is not None else None
    if current is not None:
        # When the spent window frees a request again: never less than a second, never more than the window itself.
        retry = min(max(1, math.ceil(current.window.reset_time - time.time())), current.limit.get_expiry())
    name, _, counted = scope.partition(":")
    return Problem(
        429, "rate_limited", "Too many requests",
        f"Too many {name.replace('_', ' ')} requests from this {'account' if counted == 'per_account' else 'address'}; retry after {retry} seconds.",
        extra={"scope": name, "counted": counted, "retry_after": retry}, headers={"Retry-After": str(retry)},
        audit=Refusal(action=LimitAction.REFUSE, reason=f"rate_limited:{name}:{counted}"),
    )


def _limiter_of_app() -> Limiter | None:
    return current_app.extensions.get("govern_limiter")


def _answer(problem: Problem):
    g.refusal_audit = problem.audit
    return problem_response(problem)


_storages: dict[str, object] = {}


def storage_check(settings) -> dict:
    """Readiness (not gating): where the counts are kept, and whether Redis answers. While it does not, each process
    counts alone in memory (the limits still hold per process), which an operator must see."""
    if not settings.redis_url:
        return {"ok": True, "gating": False, "storage": "memory"}

    storage = _storages.get(settings.redis_url)
    if storage is None:
        storage = _storages[settings.redis_url] = storage_from_string(settings.redis_url)
    try:
        ok = bool(storage.check())
    except Exception:  # the URL may hold a password: name nothing of it
        ok = False
    if not ok:
        get_logger("govern.ratelimit").warning("rate_limit_storage_unreachable")
        return {"ok": False, "gating": False, "storage": "redis", "warning": "Redis does not answer: each process counts alone in memory"}
    return {"ok": True, "gating": False, "storage": "redis"}
