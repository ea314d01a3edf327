"""The OpenAPI document describes errors as they are sent: RFC 9457 problem+json, and a 400 for a malformed request.

flask-smorest documents every error as `application/json` with its own {code, status, message} shape and every
argument error as a 422; govern answers `application/problem+json` (govern/errors.py) and turns a body or query
that does not parse into a 400 `validation_failed`. API fuzzing (tests/proof) holds the document to the answers.
"""

from __future__ import annotations

import http
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import CodeType
from typing import Any

from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, ValidationError
from marshmallow import fields as ma

from govern.identifiers import canonical_id, stored_id_text
from govern.timeutil import as_utc
from govern.validators import free_text_problem

PROBLEM_JSON = "application/problem+json"


class UtcDateTime(ma.DateTime):
    """A date-time answered in RFC 3339 with its offset. govern stores UTC; SQLite hands datetimes back without a
    zone, and a bare "2026-01-01T10:00:00" is not a date-time in the OpenAPI sense (nor unambiguous to a client)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, datetime):
            value = as_utc(value)
        return super()._serialize(value, attr, obj, **kwargs)


class UUIDList(ma.List):
    """A list of UUIDs as canonical text (lower case, hyphenated), parsed and checked in one pass; documented as an
    array of uuid strings. For lists of ten thousand ids, where marshmallow's per-item field machinery, and building
    a UUID object per id, cost more than the work the ids were sent for."""

    def __init__(self, **kwargs) -> None:
        super().__init__(ma.UUID(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> list[str]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        out: list[str] = []
        errors: dict[int, list[str]] = {}
        for index, item in enumerate(value):
            try:
                out.append(canonical_id(item))
            except (ValueError, TypeError, AttributeError):
                errors[index] = ["Not a valid UUID."]
        if errors:
            raise ValidationError(errors, valid_data=out)
        return out

    def _serialize(self, value, attr, obj, **kwargs) -> list[str] | None:
        return None if value is None else list(map(stored_id_text, value))


class FreeText(ma.Str):
    """Free text a person writes into govern (a reason, a note, a reference): refused when it holds a value of
    personal data (a mobile number, an e-mail address, an identity or card number), which must live only in a
    subject's encrypted fields. The error names the kind found, never the value. The text is searched after
    normalisation (full-width forms, zero-width characters, separators between digits: govern.validators).
    `allow` names kinds a field holds by design (a recipient's contact is a role e-mail address)."""

    def __init__(self, *args, allow: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allow = allow

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = free_text_problem(text, allow=self.allow)
        if problem:
            raise ValidationError(problem)
        return text


class ProblemSchema(Schema):
    """An RFC 9457 problem. Some problems add members (`errors` per field, a refusal's `reason`, `permission`)."""

    class Meta:
        unknown = INCLUDE  # documented as additionalProperties: true

    type = ma.Str(required=True, metadata={"description": "https://govern.dev/problems/<code>"})
    title = ma.Str(required=True)
    status = ma.Int(required=True)
    code = ma.Str(required=True, metadata={"description": "Stable machine-readable code, e.g. validation_failed, permission_denied."})
    detail = ma.Str(metadata={"description": "What went wrong; never a personal-data value."})
    instance = ma.Str(metadata={"description": "urn:govern:request:<request id>"})


class ArgumentErrorsAre400(BasePlugin):
    """flask-smorest documents a body or query that fails its schema as 422 (by name); govern answers 400.

    A 422 documented with a description (alt_response) is a real answer of the service and stays."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses is None:
                continue
            takes_arguments = "requestBody" in operation or any(
                isinstance(p, dict) and p.get("in") == "query" for p in operation.get("parameters", [])
            )
            for code in (422, "422"):
                if responses.get(code) == "UNPROCESSABLE_ENTITY":
                    del responses[code]
                    takes_arguments = True
            if takes_arguments and 400 not in responses and "400" not in responses:
                responses[400] = "BAD_REQUEST"


# The request headers govern reads, as header parameters. A view reads one when its code (or a function nested in it)
# calls a helper that reads it or names the header itself: the document follows the code, not a hand-kept list.
HEADERS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {
        "description": "Makes a create safe to retry: a retry with the same key and body gets the first 201 again "
                       "(Idempotent-Replayed: true); the same key with another body is a 422 idempotency_key_reused.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100}, "example": "3f1c2b7e-crm-retry-1",
    },
    "If-Match": {
        "description": "The ETag you read: without it 428 precondition_required, a stale one 412 precondition_failed.",
        "schema": {"type": "string"}, "example": '"1a2b3c4d-1"',
    },
    "If-None-Match": {
        "description": "The ETag you hold: 304 Not Modified (no body) while it is still current.",
        "schema": {"type": "string"}, "example": '"1a2b3c4d-1"',
    },
    "X-Purpose": {
        "description": "The purpose of this read (a purpose of policies/purposes.yaml the caller's role may use).",
        "schema": {"type": "string"}, "example": "customer_service",
    },
}
HEADER_READERS: dict[str, str] = {
    "idempotent_create": "Idempotency-Key", "if_match_version": "If-Match", "parse_if_match": "If-Match",
    "purpose_of_request": "X-Purpose",
}
ETAG_GIVERS = frozenset({"version_etag", "etag", "ETag"})
# The problems a route can answer and when: every authenticated route 401/403/429; a path with an id 404 …
PROBLEM_STATUSES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 412: "PRECONDITION_FAILED",
                    422: "UNPROCESSABLE_ENTITY", 428: "PRECONDITION_REQUIRED", 429: "TOO_MANY_REQUESTS"}


REQUIRED_HEADERS_ATTR = "_govern_required_headers"


def requires_header(*names: str) -> Callable[[Callable], Callable]:
    """Documents headers of HEADERS that a view refuses to work without (required: true). Where flask-smorest's
    `@blp.doc(parameters=[…])` would do the same, it replaces the query parameters of `@blp.arguments`, so a GET that
    takes both lost its query from the document (the records list did: its cursor and limit were undocumented)."""

    def mark(view: Callable) -> Callable:
        setattr(view, REQUIRED_HEADERS_ATTR, frozenset(names))
        return view

    return mark


# The ids in request-body examples (EXAMPLE of a schema): recognisable, never real; tests/api/test_request_examples.py
# puts a real subject, request, recipient … in their place to send each example to the server.
EXAMPLE_IDS = {
    "subject": "5b3d6c2e-0f4a-4e1b-9c7d-000000000001", "recipient": "5b3d6c2e-0f4a-4e1b-9c7d-000000000002",
    "principal": "5b3d6c2e-0f4a-4e1b-9c7d-000000000003", "letter": "5b3d6c2e-0f4a-4e1b-9c7d-000000000004",
    "subject_2": "5b3d6c2e-0f4a-4e1b-9c7d-000000000005", "principal_name": "crm-sales",
}


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def names_in(view: Callable) -> set[str]:
    """The global and attribute names and the string constants of a view and the functions nested in it."""
    original = inspect.unwrap(view)
    code = getattr(original, "__code__", None)
    if code is None:
        return set()
    found: set[str] = set()
    for each in _code_objects(code):
        found.update(each.co_names)
        found.update(c for c in each.co_consts if isinstance(c, str) and len(c) < 40)
    return found


def headers_read(view: Callable) -> list[str]:
    """The request headers of HEADERS that a view reads."""
    names = names_in(view)
    read = {header for helper, header in HEADER_READERS.items() if helper in names}
    read.update(h for h in ("If-Match", "X-Purpose") if h in names)
    return sorted(read)


def gives_etag(view: Callable) -> bool:
    return bool(ETAG_GIVERS & names_in(view))


def operation_id(endpoint: str, method: str, methods_on_rule: int) -> str:
    """`<blueprint>_<view>`, e.g. subjects_create_subject: stable while the view keeps its name (tests/api freezes them)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", endpoint.replace(".", "_"))
    return name if methods_on_rule == 1 else f"{name}_{method}"


class Contract(BasePlugin):
    """What a client generator needs of each operation, derived from the route and its view: a stable operationId,
    the headers it reads, no security on public routes, the problems it can answer (problem+json), 304 where an ETag
    is given, and enums of the values the server accepts."""

    def __init__(self, api: GovernApi) -> None:
        self.api = api

    def schema_helper(self, name, definition, **kwargs):
        example = getattr(kwargs.get("schema"), "EXAMPLE", None)
        if example is not None and "example" not in definition:
            definition["example"] = example
        enums = self.api.enums()
        for field, prop in (definition.get("properties") or {}).items():
            values = enums.get((name, field)) or enums.get(("*", field))
            if values and isinstance(prop, dict) and "enum" not in prop and prop.get("type") == "string":
                prop["enum"] = [*values, None] if prop.get("nullable") else list(values)
            elif values and isinstance(prop, dict) and prop.get("type") == "array" and (prop.get("items") or {}).get("type") == "string":
                prop["items"].setdefault("enum", list(values))
        return None

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule, app = kwargs.get("rule"), self.api._app
        if rule is None or app is None or not operations:
            return
        view = app.view_functions.get(rule.endpoint)
        access = self.api.access_of(rule.endpoint)
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            operation.setdefault("operationId", operation_id(rule.endpoint, method, len(operations)))
            responses = operation.setdefault("responses", {})
            params = operation.setdefault("parameters", [])
            present = {(p.get("in"), p.get("name")) for p in params if isinstance(p, dict)}
            self._query_enums(operation, params)
            read = headers_read(view) if view is not None else []
            required = getattr(view, REQUIRED_HEADERS_ATTR, frozenset())
            read = sorted({*read, *required})
            etag_get = method == "get" and view is not None and gives_etag(view)
            if etag_get:
                read = sorted({*read, "If-None-Match"})
            for header in read:
                if ("header", header) not in present:
                    params.append({"in": "header", "name": header, "required": header in required, **HEADERS[header]})
            statuses: set[int] = set()
            if str(access) == "public":
                operation["security"] = []
            else:
                statuses |= {401, 403, 429}
            if rule.arguments:
                statuses.add(404)
            if "Idempotency-Key" in read:
                statuses |= {409, 422}
            if "If-Match" in read:
                statuses |= {412, 428}
            for status in sorted(statuses):
                if status not in responses and str(status) not in responses:
                    responses[status] = PROBLEM_STATUSES[status]
            if etag_get and 304 not in responses:
                responses[304] = {"description": "Not Modified: the If-None-Match names the current ETag", "headers": {"ETag": {"schema": {"type": "string"}}}}
            self._body_example(operation)
            for status, response in responses.items():
                if isinstance(response, dict) and str(status).startswith("4") and "content" not in response and "$ref" not in response:
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


    def _query_enums(self, operation: dict, params: list) -> None:
        """Enums of query parameters, by ("query", operationId, name): the policy's values a filter accepts."""
        enums = self.api.enums()
        for param in params:
            if isinstance(param, dict) and param.get("in") == "query" and (param.get("schema") or {}).get("type") == "string":
                values = enums.get(("query", operation.get("operationId"), param.get("name"))) or enums.get(("query", "*", param.get("name")))
                if values:
                    param["schema"].setdefault("enum", list(values))

    def _body_example(self, operation: dict) -> None:
        """The example of a request body's schema (its EXAMPLE) on the body itself, where clients and tools look."""
        for media in (operation.get("requestBody") or {}).get("content", {}).values():
            ref = (media.get("schema") or {}).get("$ref", "")
            definition = self.api.spec.components.schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
            if definition and "example" in definition and "example" not in media and "examples" not in media:
                media["example"] = definition["example"]


class GovernApi(Api):
    """flask-smorest's Api with errors documented as problem+json, and the contract a client generator needs."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app=None, *, enums: Callable[[], Mapping[tuple[str, ...], Any]] | None = None,
                 access_of: Callable[[str], Any] | None = None, **kwargs):
        """`enums()`: the values the server accepts, by (schema name or "*", field); `access_of(endpoint)`: the
        permission a route declares, or "public" (govern.identity.guard)."""
        self.enums = enums or dict
        self.access_of = access_of or (lambda endpoint: None)
        spec_kwargs = dict(kwargs.pop("spec_kwargs", None) or {})
        spec_kwargs["extra_plugins"] = [*spec_kwargs.get("extra_plugins", ()), ArgumentErrorsAre400(), Contract(self)]
        super().__init__(app, spec_kwargs=spec_kwargs, **kwargs)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)
