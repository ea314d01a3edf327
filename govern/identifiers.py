"""Subject ids as canonical text: what bulk operations key ten thousand ids by, and what the API answers."""

from __future__ import annotations

import re
import uuid

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
    """An id as a query handed it back through subjects.service.id_text: already canonical text from PostgreSQL's
    cast (taken as is: ten thousand of them per bulk check), a UUID object elsewhere."""
    return value if value.__class__ is str else str(value)
