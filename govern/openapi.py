"""The OpenAPI document describes errors as they are sent: RFC 9457 problem+json, and a 400 for a malformed request.

flask-smorest documents every error as `application/json` with its own {code, status, message} shape and every
argument error as a 422; govern answers `application/problem+json` (govern/errors.py) and turns a body or query
that does not parse into a 400 `validation_failed`. API fuzzing (tests/proof) holds the document to the answers.
"""

from __future__ import annotations

import http
from datetime import datetime

from apispec import BasePlugin
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, ValidationError
from marshmallow import fields as ma

from govern.identifiers import canonical_id, stored_id_text
from govern.subjects.validators import free_text_problem
from govern.timeutil import as_utc

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
    normalisation (full-width forms, zero-width characters, separators between digits: govern.subjects.validators).
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


class GovernApi(Api):
    """flask-smorest's Api with errors documented as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app=None, **kwargs):
        spec_kwargs = dict(kwargs.pop("spec_kwargs", None) or {})
        spec_kwargs["extra_plugins"] = [*spec_kwargs.get("extra_plugins", ()), ArgumentErrorsAre400()]
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
