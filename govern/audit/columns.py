"""Which columns of the audit tables the hash covers, and the check that every other column others rely on (search,
breach scoping, access reviews, the console) still says what the hashed canonical event says.

audit_events — `canonical` is hashed (leaf = SHA-256(0x00 || canonical)); every other column is a copy kept for
indexes and is compared with it by `govern audit verify` (`mismatches`), so an edit of a copy names the event:

    occurred_at  ← event.time          actor_id    ← event.actor.id     actor_name ← event.actor.name
    roles        ← event.roles (",")   action      ← event.action       resource   ← event.resource
    subject_id   ← event.subject       field_names ← event.fields (",") purpose    ← event.purpose
    outcome      ← event.outcome       reason      ← event.reason       request_id ← event.request
    client_addr  ← event.client
    id           — not hashed; it is what audit_chain.event_id joins on, so an edited id leaves its link without
                   a row (verify: deleted) and the row without a link (verify: unsealed).

audit_chain — seq, prev_hash, hash and leaf are recomputed by the walk; event_id is bound through the leaf (the row it
names must hash to it); sealed_at is not hashed and nothing relies on it.
audit_checkpoints — `body` is signed; number, tree_size, head_hash, merkle_root, issued_at and key_id are compared with
it, and frontier must give its merkle_root (checkpoints.problem).
audit_seal_runs — not hashed; only the sealer's look-back floor, capped at the newest sealed event, so a forged run can
at most leave older events unsealed, which verify and /readyz report.
audit_purges — not hashed and not trusted: each row must match a signed purge checkpoint (integrity.verify_live).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

from govern.audit.verifier import parse_time

HASHED = ("canonical",)
CHECKED = (
    "occurred_at", "actor_id", "actor_name", "roles", "action", "resource", "subject_id", "field_names", "purpose", "outcome",
    "reason", "request_id", "client_addr",
)


def _uuid_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def stored_time(value: datetime | str | None) -> datetime | None:
    """A timestamp column's value as either database hands it back (SQLite: ISO text), as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def expected(event: dict[str, Any]) -> dict[str, Any]:
    """The column values the canonical event implies."""
    actor = event.get("actor") or {}
    return {
        "occurred_at": parse_time(event.get("time")),
        "actor_id": actor.get("id"),
        "actor_name": actor.get("name"),
        "roles": ",".join(event.get("roles") or []),
        "action": event.get("action"),
        "resource": event.get("resource"),
        "subject_id": event.get("subject"),
        "field_names": ",".join(event.get("fields") or []),
        "purpose": event.get("purpose"),
        "outcome": event.get("outcome"),
        "reason": event.get("reason"),
        "request_id": event.get("request"),
        "client_addr": event.get("client"),
    }


def mismatches(row: Mapping[Any, Any]) -> list[str]:
    """The names of the columns of one audit_events row that differ from its canonical event (["canonical"] when the
    canonical text is not an event at all)."""
    try:
        event = json.loads(row["canonical"])
        if not isinstance(event, dict):
            return ["canonical"]
        want = expected(event)
    except (ValueError, TypeError, AttributeError):
        return ["canonical"]
    wrong = []
    for name in CHECKED:
        have, should = row.get(name), want[name]
        try:
            if name == "occurred_at":
                same = stored_time(have) == should
            elif name in ("actor_id", "subject_id"):
                # str() of a UUID is the canonical spelling the event holds; parse only when that does not match.
                same = (None if have is None else str(have)) == should or _uuid_text(have) == _uuid_text(should)
            else:
                same = have == should
        except (ValueError, TypeError, AttributeError):
            same = False
        if not same:
            wrong.append(name)
    return wrong
