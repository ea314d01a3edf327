"""What the audit log keeps of a refused request: carried by a `Problem` (govern/errors.py) and written after the
request's own transaction is rolled back. A kernel type, so that every layer can refuse without importing access."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    """What the audit log keeps of a refused access (the request's own transaction is rolled back)."""

    action: str
    reason: str
    subject_id: object = None
    purpose: str | None = None
    field_names: tuple[str, ...] = ()
    outcome: str = "denied"
