"""The port through which consent checks the recipients a grant or a notice names (PIPL Art. 23, 25, 39) against the
register of recipients that sharing keeps (govern/sharing), without importing the layer above it.

Consent says what it asks; sharing answers (govern/sharing/register.py) and installs its answer when the package
govern.sharing is first imported. The policy loader imports govern.sharing's policy part, so every process that holds a
`Policy` — which recording or showing consent needs — has the register installed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RegisteredRecipient:
    """A recipient as the register holds it: who it is, the purpose it is registered for, the kinds of data it
    receives (catalog categories) and whether it is disabled."""

    id: uuid.UUID
    name: str
    contact: str
    country: str
    purpose: str
    categories: tuple[str, ...]
    disabled: bool


class RecipientRegister(Protocol):
    def find(self, session: Session, recipient_id: uuid.UUID) -> RegisteredRecipient | None:
        """The registered recipient with this id, disabled or not; None if there is none."""

    def in_force(self, session: Session, purpose: str, today: date) -> list[RegisteredRecipient]:
        """The recipients registered for this purpose, not disabled, whose agreement has not expired on `today`, by name."""


_installed: list[RecipientRegister] = []


def install(register: RecipientRegister) -> None:
    """Sharing's answer; installing it again replaces it."""
    _installed[:] = [register]


def recipient_register() -> RecipientRegister:
    if not _installed:
        raise RuntimeError("no register of recipients is installed: govern.sharing installs it when it is imported")
    return _installed[0]
