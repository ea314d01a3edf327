"""RFC 9457 problem+json for every error: a stable `type` code, never a stack trace or a personal-data value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from flask import Flask, Response, current_app, g, json
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from govern.logging import get_logger
from govern.refusals import Refusal

PROBLEM_BASE = "https://govern.dev/problems/"
# Retry-After (seconds) of a 503 whose cause passes (a lock held elsewhere, an audit write that could not be made).
BUSY_RETRY_AFTER_SECONDS = 5


@dataclass
class Problem(Exception):
    """An error a client can act on. `code` is stable and documented; `detail` never carries a value."""

    status: int
    code: str
    title: str
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # An audit entry to keep even though the request's own transaction is rolled back (a refused read).
    audit: Any = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail or self.title}"


def validation_failed(errors: dict[str, list[str]]) -> Invalid:
    """400 naming each offending field and the rule it broke."""
    return Invalid(
        "validation_failed",
        "The request is not valid",
        "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in sorted(errors.items())),
        extra={"errors": errors},
    )


def stale(what: str, *, headers: dict[str, str] | None = None) -> PreconditionFailed:
    """412: the row changed since the caller read it (a lost update refused); `headers` may give the current ETag."""
    return PreconditionFailed("precondition_failed", "Stale version", f"The {what} changed since you read it; read it again.", headers=headers)


def require_version(*, current: int, expected: int | None, what: str) -> None:
    """An update names the version it read (If-Match): 428 when it names none, 412 when the row has moved on."""
    if expected is None:
        raise if_match_required()
    if current != expected:
        raise stale(what)


def if_match_required() -> PreconditionRequired:
    """428: an update that names no version it read (no If-Match) could overwrite a change it never saw."""
    return PreconditionRequired("precondition_required", "If-Match required", "Send the ETag you read in If-Match, so no update is lost.")


def require_editable(changes: Mapping[str, Any], editable: Sequence[str]) -> None:
    """A partial update changes at least one field, and only fields that may change (400 naming the others)."""
    unknown = sorted(set(changes) - set(editable))
    if unknown or not changes:
        raise validation_failed({"body": [f"change one of {', '.join(editable)}" + (f"; not editable: {', '.join(unknown)}" if unknown else "")]})


def not_found(what: str) -> Problem:
    return NotFound(what)


# Domain errors: what services raise. Each class holds its status, so a service says what went wrong in the domain's
# words (`raise Conflict("incident_closed", ...)`, `raise SubjectErased()`) and never picks an HTTP status; the one
# handler in register_error_handlers answers every one of them as problem+json. They are Problems, so a CLI or the
# console that catches Problem catches them too.


class DomainError(Problem):
    """A rule refused the call; `status` comes from the class."""

    status_code = 400

    def __init__(self, code: str, title: str, detail: str | None = None, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, audit: Any = None) -> None:
        super().__init__(self.status_code, code, title, detail, dict(extra or {}), dict(headers or {}), audit)


class Invalid(DomainError):
    """400: the input cannot be used (for per-field messages, validation_failed)."""

    status_code = 400


class Unauthenticated(DomainError):
    """401: the caller is not (or no longer) signed in or identified."""

    status_code = 401


class Forbidden(DomainError):
    """403: this actor may not do this (a rule about who, not about the state of things)."""

    status_code = 403


class AccessRefused(Forbidden):
    """403 access_denied naming its `reason`: the actor may not use this subject's data for this purpose (govern/access).
    The refusal itself is audited after the request's own transaction is rolled back (`audit`, recorded by the app)."""

    def __init__(self, reason: str, detail: str, refusal: Refusal) -> None:
        super().__init__("access_denied", "Access denied", detail, extra={"reason": reason}, audit=refusal)


class NotFound(DomainError):
    """404: no such thing (or none this caller may know of)."""

    status_code = 404

    def __init__(self, what: str | None = None, *, code: str = "not_found", title: str = "Not found", detail: str | None = None,
                 extra: dict[str, Any] | None = None, audit: Any = None) -> None:
        super().__init__(code, title, detail if detail is not None else f"No such {what}.", extra=extra, audit=audit)


class Conflict(DomainError):
    """409: the thing's state does not allow it now (a closed incident, a request already acknowledged)."""

    status_code = 409


class EditConflict(Conflict):
    """409 edit_conflict: someone else changed the same item at the same moment (its version moved between this call's
    read and its write), so this call changed nothing; reload the item and try again. Never a 503: the audit log is fine."""

    def __init__(self) -> None:
        super().__init__(
            "edit_conflict", "Changed by someone else",
            "Someone else changed this item at the same time, so nothing was changed; reload it and try again.",
        )


def is_edit_conflict(exc: BaseException) -> bool:
    """Whether a database error is an optimistic version clash (SQLAlchemy's StaleDataError on a versioned row)."""
    return isinstance(exc, StaleDataError)


class PreconditionFailed(DomainError):
    """412: the thing changed since the caller read it (a lost update refused)."""

    status_code = 412


class Unprocessable(DomainError):
    """422: well-formed, but a rule of the law or the policy refuses it as asked (a bundled consent, a guardian missing)."""

    status_code = 422


class PreconditionRequired(DomainError):
    """428: the call must name the version it read (If-Match)."""

    status_code = 428


class Gone(DomainError):
    """410: it existed and is gone for good (an expired package, an erased subject)."""

    status_code = 410


class SubjectErased(Gone):
    """410 subject_erased: the subject's data was crypto-shredded; nothing of it can be read or changed."""

    def __init__(self, detail: str = "This subject's data has been erased.") -> None:
        super().__init__("subject_erased", "Subject erased", detail)


class Locked(DomainError):
    """423: locked until someone acts (too many failed verifications)."""

    status_code = 423


class Unavailable(DomainError):
    """503: a resource the call needs is missing or busy; nothing was changed (an erasure ledger gone from GOVERN_HOME)."""

    status_code = 503


class AuditUnavailable(Unavailable):
    """503 audit_unavailable: the audit log could not take the event, so the operation was not carried out; a retry
    after BUSY_RETRY_AFTER_SECONDS may succeed (Retry-After)."""

    def __init__(self, detail: str = "The operation could not be recorded in the audit log and was not carried out.") -> None:
        super().__init__("audit_unavailable", "Not recorded", detail, headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})


class Misconfigured(DomainError):
    """500: the policy files lack something this call needs; an operator must fix them."""

    status_code = 500


# Kernel errors of the layers above that are not a rule refusing a call: crypto raises subclasses of these
# (CiphertextRejected, KeyringError), so the handlers below answer them without this module importing crypto.


class StoredDataRejected(Exception):
    """500 ciphertext_rejected: stored data failed its integrity check (altered, moved, or under another key)."""


class KeysUnavailable(Exception):
    """503 keyring_unavailable: the service's keys are missing, unreadable, or not the data's; nothing was changed."""


def problem_response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem.code,
        "title": problem.title,
        "status": problem.status,
        "code": problem.code,
    }
    if problem.detail:
        body["detail"] = problem.detail
    request_id = g.get("request_id")
    if request_id:
        body["instance"] = f"urn:govern:request:{request_id}"
    body.update(problem.extra)
    response = Response(json.dumps(body), status=problem.status, mimetype="application/problem+json")
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


# The problem code of each HTTP error werkzeug raises (routing, methods, body limits): the API's handler and the
# console's JSON answers name them alike.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "too_many_requests",
}


def register_error_handlers(app: Flask) -> None:
    log = get_logger("govern.errors")

    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        if problem.audit is not None:
            g.refusal_audit = problem.audit
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            return _internal(exc)
        messages = _webargs_messages(exc)
        if messages is not None:
            # webargs/marshmallow answer 422; a malformed body is a 400 here, naming each field.
            return problem_response(validation_failed(messages))
        allowed = getattr(exc, "valid_methods", None) if status == 405 else None  # RFC 9110 §15.5.6: a 405 names them
        return problem_response(
            Problem(status, HTTP_CODES.get(status, "http_error"), exc.name, exc.description, headers={"Allow": ", ".join(allowed)} if allowed else {})
        )

    @app.errorhandler(StaleDataError)
    def _edit_conflict(exc: StaleDataError):
        # A version clash that no service turned into its own answer (a flush outside the audit write): 409, and the
        # request's transaction is rolled back like any refusal. Handed on as the Problem it is, so the console's own
        # Problem handler shows its page.
        log.warning("edit_conflict", error_type=type(exc).__name__)
        session = g.get("db_session")
        if session is not None:  # the failed flush left the request's unit of work unusable: undone, so a page can read
            session.rollback()
        return current_app.handle_user_exception(EditConflict())

    @app.errorhandler(StoredDataRejected)
    def _integrity(exc: StoredDataRejected):
        # The message names the subject and slot, never a value; an operator must see this at once.
        log.error("ciphertext_rejected", detail=str(exc))
        return problem_response(Problem(500, "ciphertext_rejected", "Stored data failed its integrity check", str(exc)))

    @app.errorhandler(KeysUnavailable)
    def _keyring(exc: KeysUnavailable):
        # The keyring file went missing or was swapped under a running instance (readiness says which): nothing is
        # written or read under keys that are not the data's.
        log.error("keyring_unavailable", error_type=type(exc).__name__)
        return problem_response(Problem(503, "keyring_unavailable", "Keys unavailable", "The service's keys are unavailable; nothing was changed."))

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        # Never a stack trace to the client, and the log line carries the type only, not the message:
        # driver errors quote the statement's parameters, which can be personal data.
        log.error("unhandled_error", error_type=type(exc).__name__)
        return problem_response(
            Problem(500, "internal_error", "Internal error", "The request failed; nothing was changed.")
        )


def _webargs_messages(exc: HTTPException) -> dict[str, list[str]] | None:
    data = getattr(exc, "data", None)
    if not isinstance(data, dict) or "messages" not in data:
        return None
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, sub in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            flat[prefix or "body"] = list(node)
        else:
            flat[prefix or "body"] = [str(node)]

    for location, msgs in data["messages"].items():
        walk("" if location in ("json", "form") else location, msgs)
    return flat
