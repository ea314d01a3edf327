"""What every API view shares: the request's purpose, the runtime, and Idempotency-Key handling for creates."""

from __future__ import annotations

from typing import Any, Callable

from flask import Response, jsonify, request
from sqlalchemy.exc import IntegrityError

from govern import idempotency
from govern.context import CallContext
from govern.errors import Problem, validation_failed
from govern.identity.guard import current_actor, current_runtime


def current_call() -> CallContext:
    """This request's context for the services it calls: its session, the policy, keys, settings and who asks."""
    runtime = current_runtime()
    return CallContext(session=runtime.session(), policy=runtime.policy, envelope=runtime.envelope, actor=current_actor(), settings=runtime.settings)


def purpose_of_request(body: dict | None = None) -> str | None:
    """The purpose from X-Purpose, else a `purpose` field of the body or query."""
    return request.headers.get("X-Purpose") or (body or {}).get("purpose") or request.args.get("purpose")


def idempotent_create(payload: Any, create: Callable[[], tuple[dict, dict[str, str]]]):
    """Runs `create` once per Idempotency-Key; a retry with the same key and body gets the first 201 again."""
    runtime, actor = current_runtime(), current_actor()
    key = idempotency.check_key(request.headers.get("Idempotency-Key"))
    if key is None:
        body, headers = create()
        return _created(body, headers)
    session = runtime.session()
    print_ = idempotency.fingerprint(runtime.envelope, request.method, request.path, payload)
    earlier = idempotency.replay(session=session, principal_id=actor.principal_id, key=key, request_fingerprint=print_)
    if earlier is not None:
        response = jsonify(earlier.body)
        response.status_code = earlier.status
        response.headers.update(earlier.headers)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    body, headers = create()
    try:
        idempotency.remember(session=session, principal_id=actor.principal_id, key=key, request_fingerprint=print_, status=201, body=body, headers=headers)
    except IntegrityError:
        raise Problem(409, "idempotency_in_progress", "Request in progress", "Another request with this Idempotency-Key is being processed; retry.") from None
    return _created(body, headers)


def version_etag(row: Any) -> str:
    """The ETag of a row with an `id` (UUID) and a `version` counter (SQLAlchemy version_id_col)."""
    return f'"{row.id.hex[:8]}-{row.version}"'


def if_match_version(row_id: Any) -> int | None:
    """The version an If-Match names for this row: None without the header, -1 when it names another row or no version."""
    header = request.headers.get("If-Match")
    if not header:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    prefix, _, version = tag.partition("-")
    return int(version) if prefix == row_id.hex[:8] and version.isdigit() else -1


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def not_modified(response: Response) -> Response:
    """A GET whose If-None-Match names the ETag it would get answers 304 with no body (RFC 9110 §13.1.2)."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    etag, held = response.headers.get("ETag"), request.headers.get("If-None-Match")
    if not etag or not held:
        return response
    tags = _tags(held)
    if "*" not in tags and etag.removeprefix("W/") not in tags:
        return response
    unchanged = Response(status=304)
    for name in ("ETag", "Cache-Control", "Content-Location", "Date", "Expires", "Vary", "X-Request-ID"):
        if name in response.headers:
            unchanged.headers[name] = response.headers[name]
    return unchanged


def _created(body: dict, headers: dict[str, str]):
    response = jsonify(body)
    response.status_code = 201
    response.headers.update(headers)
    return response


def refuse_nul_characters() -> None:
    """A NUL character in a query, form or JSON string is refused with a 400 naming where it was.

    PostgreSQL text cannot hold U+0000 (the driver raises, the request failed with a 500 there and was stored on
    SQLite): refusing it at the door gives one answer on every database. Found by the API fuzzing (tests/proof)."""
    req = request._get_current_object()  # type: ignore[attr-defined]  # once: each proxy access is a context look-up
    environ = req.environ
    if req.method in _NO_BODY and not _may_hold_nul(environ.get("QUERY_STRING", "")) and "\x00" not in environ.get("HTTP_X_PURPOSE", ""):
        return  # the hot reads: a query string with no %00 (nor a raw NUL) decodes to none, and there is no body to look at
    where: dict[str, list[str]] = {}
    for name, value in req.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            where[name.replace("\x00", "")] = ["contains a NUL character"]
    if req.method not in _NO_BODY:
        # JSON can carry a NUL only as the escape \u0000 (or as a raw byte, which is not JSON): a body with neither
        # is not walked, which spares a check of ten thousand ids a walk over every one of them.
        if req.is_json and (b"\\u0000" in (raw := req.get_data(cache=True)) or b"\x00" in raw):
            _walk(req.get_json(silent=True), "", where)
        elif req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, value in req.form.items(multi=True):
                if "\x00" in name or "\x00" in value:
                    where[name.replace("\x00", "")] = ["contains a NUL character"]
    purpose = req.headers.get("X-Purpose", "")
    if "\x00" in purpose:
        where["X-Purpose"] = ["contains a NUL character"]
    if where:
        raise validation_failed(where)


_NO_BODY = ("GET", "HEAD", "OPTIONS")


def _may_hold_nul(query: str) -> bool:
    """Whether a raw query string can decode to a NUL: only through a raw NUL or the escape %00 (a `+` is a space,
    and an overlong UTF-8 form such as %C0%80 decodes to U+FFFD)."""
    return "%00" in query or "\x00" in query


def _walk(node: Any, path: str, where: dict[str, list[str]]) -> None:
    if isinstance(node, str):
        if "\x00" in node:
            where[path or "body"] = ["contains a NUL character"]
    elif isinstance(node, dict):
        for key, value in node.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                where[name.replace("\x00", "")] = ["contains a NUL character"]
            _walk(value, name.replace("\x00", ""), where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{path}[{index}]", where)
