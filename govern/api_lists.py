"""One shape for every list the API answers: `{"items": [...], "next_cursor": str | null}`, paged with `?cursor=&limit=`.

A cursor is opaque to clients and signed: it names the listing it was issued for (the endpoint and its filters) and
the position after the last row shown, under a keyed digest of govern's own keys. A cursor typed by hand, cut short,
edited, or taken from another listing (or from the same one with other filters) is a 400 problem, never a wrong page.
The position is a keyset (the last row's sort key, or the cursor of the service below when it pages itself), not an
offset: rows added or removed between two pages neither repeat nor vanish from the ones still to come.

Lists that answered another shape before (a bare array, `{"requests": [...]}`) changed on purpose: the object ones
still carry their old key for one release, and those answers say so with `Deprecation` and `Sunset` headers
(RFC 9745, RFC 8594) and a `Link` to the notice (docs/api.md). A bare array could carry no second key (README, API).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from flask import request
from marshmallow import Schema, validate
from marshmallow import fields as ma

from govern.errors import validation_failed
from govern.timeutil import as_utc

if TYPE_CHECKING:
    from govern.crypto.envelope import Envelope

T = TypeVar("T")
# A list endpoint's answer: the body, or the body with its status and the deprecation headers (a list of the old shape).
ListAnswer = dict[str, Any] | tuple[dict[str, Any], int, dict[str, str]]

CURSOR_PURPOSE = "api-list-cursor"
TAG_CHARS = 32  # of the keyed digest: 128 bits of HMAC-SHA256, or `sm3:` and 112 bits of HMAC-SM3
MAX_CURSOR = 600  # characters: a position and a 128-bit tag fit in far less; longer is not one of ours
# The old keys of lists that had an object shape: kept in answers until SUNSET, announced since DEPRECATED_SINCE.
DEPRECATED_SINCE = datetime(2026, 12, 5, tzinfo=timezone.utc)
SUNSET = datetime(2027, 6, 30, tzinfo=timezone.utc)
NOTICE = "https://govern.dev/docs/api#lists"
# A list held whole in memory is read up to SCAN rows (then paged): far above the configuration and work lists it serves.
SCAN = 10_000
DEPRECATION_HEADERS = {
    "Deprecation": {"description": "RFC 9745: the answer carries a deprecated key (the old name of `items`).", "schema": {"type": "string"}},
    "Sunset": {"description": "RFC 8594: after this date the deprecated key is no longer sent.", "schema": {"type": "string"}},
    "Link": {"description": "rel=\"deprecation\": where the change is explained.", "schema": {"type": "string"}},
}


def page_query(*, default: int = 50, maximum: int = 200) -> dict[str, ma.Field]:
    """The `cursor` and `limit` query fields of a list endpoint, to spread into its query schema."""
    return {
        "cursor": ma.Str(load_default=None, validate=validate.Length(1, MAX_CURSOR),
                         metadata={"description": "next_cursor of the previous page, as it was given (opaque)."}),
        "limit": ma.Int(load_default=default, validate=validate.Range(1, maximum),
                        metadata={"description": f"Rows per page (default {default}, at most {maximum})."}),
    }


def PageQuerySchema(name: str, *, default: int = 50, maximum: int = 200, **fields: ma.Field) -> type[Schema]:
    """A query schema of `fields` (the list's filters) plus cursor and limit."""
    return Schema.from_dict({**fields, **page_query(default=default, maximum=maximum)}, name=name)


def PageSchema(name: str, item: type[Schema] | Schema, *, old_key: str | None = None, **extra: ma.Field) -> type[Schema]:
    """The answer of a list endpoint: its items, the next cursor (null on the last page), `extra` fields that describe
    the whole list (figures, keys), and `old_key` holding the same items for clients of the old shape (deprecated)."""
    fields: dict[str, ma.Field] = {
        "items": ma.List(ma.Nested(item), required=True),
        "next_cursor": ma.Str(required=True, allow_none=True, metadata={"description": "Pass as ?cursor= for the next page; null on the last."}),
        **extra,
    }
    if old_key:
        fields[old_key] = ma.List(ma.Nested(item), metadata={
            "deprecated": True, "description": f"The same rows as `items`, under the old name; sent until {SUNSET.date()} (see the Sunset header)."})
    return Schema.from_dict(fields, name=name)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scope(listing: str, filters: Mapping[str, Any]) -> str:
    return json.dumps([listing, {k: v for k, v in sorted(filters.items()) if k not in ("cursor", "limit")}], default=str, sort_keys=True)


def issue_cursor(envelope: Envelope, listing: str, filters: Mapping[str, Any], position: Any) -> str:
    """The cursor of `position` (a JSON value) in `listing` filtered by `filters`."""
    body = json.dumps(position, separators=(",", ":"), default=str)
    tag = envelope.keyed_digest(CURSOR_PURPOSE, _scope(listing, filters), body)[:TAG_CHARS]
    return f"{_b64(body.encode())}.{tag}"


def read_cursor(envelope: Envelope, listing: str, filters: Mapping[str, Any], text: str) -> Any:
    """The position a cursor names; a 400 problem when govern did not issue it for this listing and these filters."""
    try:
        encoded, tag = text.split(".")
        body = _unb64(encoded).decode()
        # The tag names its algorithm (HMAC-SHA256, or `sm3:` HMAC-SM3) and is checked under it, so a cursor issued before
        # `govern keys migrate-suite` pages on after it; either is a MAC under govern's own key, so neither can be forged.
        if not envelope.keyed_digest(CURSOR_PURPOSE, _scope(listing, filters), body).matches(tag, TAG_CHARS):
            raise ValueError("tag")
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise validation_failed({"cursor": ["not a cursor this listing issued (pass next_cursor back unchanged, with the same filters)"]}) from None


def page_of(
    rows: Iterable[T], *, key: Callable[[T], Sequence[Any]], envelope: Envelope, listing: str, query: Mapping[str, Any],
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """One page of a list held whole in memory, in `key` order: the rows after the cursor's key, at most `limit`.

    For the short lists of configuration and work (principals, holds, plans, recipients …): each key is a tuple of
    strings and numbers, unique per row (end it with the id)."""
    ordered = sorted(rows, key=lambda r: tuple(key(r)), reverse=descending)
    if query.get("cursor"):
        last = tuple(read_cursor(envelope, listing, query, query["cursor"]))
        try:
            ordered = [r for r in ordered if (tuple(key(r)) < last if descending else tuple(key(r)) > last)]
        except TypeError:  # a signed key of another shape: a cursor issued before the list's order changed
            raise validation_failed({"cursor": ["this cursor is no longer valid; start again without it"]}) from None
    limit = query["limit"]
    shown = ordered[:limit]
    more = len(ordered) > limit
    return shown, issue_cursor(envelope, listing, query, list(key(shown[-1]))) if more and shown else None


def wrap_cursor(envelope: Envelope, listing: str, query: Mapping[str, Any], inner: str | None) -> str | None:
    """The signed cursor around a service's own cursor (lists the service pages itself)."""
    return None if inner is None else issue_cursor(envelope, listing, query, {"after": inner})


def unwrap_cursor(envelope: Envelope, listing: str, query: Mapping[str, Any]) -> str | None:
    """The service's own cursor inside the one the client sent back (None on the first page)."""
    if not query.get("cursor"):
        return None
    position = read_cursor(envelope, listing, query, query["cursor"])
    if not isinstance(position, dict) or not isinstance(position.get("after"), str):
        raise validation_failed({"cursor": ["not a cursor this listing issued"]})
    return position["after"]


def listing(items: list, next_cursor: str | None, *, old_key: str | None = None, **extra: Any) -> ListAnswer:
    """The answer of a list endpoint; with `old_key`, the items under it too and the deprecation headers."""
    body = {"items": items, "next_cursor": next_cursor, **extra}
    if not old_key:
        return body
    body[old_key] = items
    return body, 200, deprecation_headers()


def deprecation_headers() -> dict[str, str]:
    return {
        "Deprecation": f"@{int(DEPRECATED_SINCE.timestamp())}",
        "Sunset": format_datetime(SUNSET, usegmt=True),
        "Link": f'<{NOTICE}>; rel="deprecation"; type="text/html"',
    }


def moment(value: datetime | None) -> str:
    """A sort key of a date-time: ISO 8601 in UTC (compares as text), "" for none."""
    return as_utc(value).isoformat() if value is not None else ""


def this_listing() -> str:
    """The listing a cursor belongs to: this endpoint and its path arguments (a subject's disclosures are not another's)."""
    return f"{request.endpoint}:{json.dumps(request.view_args or {}, default=str, sort_keys=True)}"


def answer_page(
    envelope: Envelope, rows: Iterable[T], query: Mapping[str, Any], *, key: Callable[[T], Sequence[Any]], view: Callable[[T], Any] = lambda r: r,
    descending: bool = False, old_key: str | None = None, **extra: Any,
) -> ListAnswer:
    """The answer of a list endpoint whose rows are held whole: the page the query asks for, each row as `view` shows it."""
    shown, next_cursor = page_of(rows, key=key, envelope=envelope, listing=this_listing(), query=query, descending=descending)
    return listing([view(r) for r in shown], next_cursor, old_key=old_key, **extra)


def service_cursor(envelope: Envelope, query: Mapping[str, Any]) -> str | None:
    """For a list the service pages itself: its own cursor inside the one the client sent back."""
    return unwrap_cursor(envelope, this_listing(), query)


def client_cursor(envelope: Envelope, query: Mapping[str, Any], inner: str | None) -> str | None:
    """For a list the service pages itself: the signed cursor the client gets for the service's next one."""
    return wrap_cursor(envelope, this_listing(), query, inner)
