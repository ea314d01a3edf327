"""Subject ids as canonical text: what bulk operations key ten thousand ids by, and what the API answers; and the
clauses that match ten thousand of them in one query."""

from __future__ import annotations

import re
import uuid
from typing import Any, Iterator, Sequence

from sqlalchemy import ARRAY, Text, Uuid, any_, bindparam, cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.sqltypes import NullType

# The form str(uuid.UUID(...)) gives (lower case, hyphenated): most clients send exactly this, and such a string needs
# no parsing to be canonical.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_id(value: uuid.UUID | str) -> str:
    """The canonical text of a UUID given as an object or in any spelling uuid.UUID accepts (ValueError or TypeError
    otherwise)."""
    if value.__class__ is str:
        return value if CANONICAL_UUID.fullmatch(value) else str(uuid.UUID(value))
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError("not a UUID")


def stored_id_text(value: uuid.UUID | str) -> str:
    """An id as a query handed it back through `id_text` below: already canonical text from PostgreSQL's
    cast (taken as is: ten thousand of them per bulk check), a UUID object elsewhere."""
    return value if value.__class__ is str else str(value)


def id_batches(session: Session, column, ids: Sequence[uuid.UUID | str]) -> Iterator[Any]:
    """`column` matches one batch of `ids` (UUIDs or their canonical text) per yielded clause: on PostgreSQL one
    array, sent as a single text parameter and cast by the server (ten thousand bound parameters, or an array of ten
    thousand uuid values dumped one by one by the driver, cost more than the query), IN lists of 1,000 on SQLite."""
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Untyped, so the server reads the parameter as uuid[] once, at bind time. Typed as text, the cast would be
        # an expression the planner cannot fold: evaluated for every row of a sequential scan (minutes, measured).
        as_text = "{" + ",".join(map(str, ids)) + "}"
        yield column == any_(cast(bindparam("ids", as_text, type_=NullType()), ARRAY(Uuid)))
        return
    as_uuids = [i if isinstance(i, uuid.UUID) else uuid.UUID(i) for i in ids]
    for start in range(0, len(as_uuids), 1000):
        yield column.in_(as_uuids[start:start + 1000])


def id_text(session: Session, column):
    """The id column as its canonical text where the database can say so (PostgreSQL: cheaper than ten thousand
    UUID objects built and hashed in Python); elsewhere the column itself, for govern.identifiers.stored_id_text to convert."""
    return cast(column, Text) if session.get_bind().dialect.name == "postgresql" else column
