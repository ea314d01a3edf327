"""What every API view shares: the request's purpose, the runtime, and Idempotency-Key handling for creates."""

from __future__ import annotations

from typing import Any, Callable

from flask import jsonify, request
from sqlalchemy.exc import IntegrityError

from govern import idempotency
from govern.errors import Problem
from govern.identity.guard import current_actor, current_runtime


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
    print_ = idempotency.fingerprint(request.method, request.path, payload)
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


def _created(body: dict, headers: dict[str, str]):
    response = jsonify(body)
    response.status_code = 201
    response.headers.update(headers)
    return response
