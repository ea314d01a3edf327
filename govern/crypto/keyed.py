"""What the domains above crypto keep under the master key, registered by each of them: crypto imports no domain.

Each domain that keeps data sealed under the keyring registers a `KeyedData` when its package is imported
(govern/subjects/__init__.py, govern/webhooks/__init__.py): a probe saying whether the database holds any (a new
keyring would orphan it, so `govern init` and start-up refuse one), and, for a domain that wraps data keys of its own
outside subject_keys, the step that moves them onto the new master-key version during `govern keys rotate` (in one
transaction after the subjects' data keys; a rerun finds nothing left to move). The policy loader (govern/policies.py)
imports every domain's package, so every process that loads a policy — the app, each worker, each command — has every
holder registered; tests/crypto/test_keyed_holders.py fails when a mapped table wraps keys under the master key and
nothing registered rewraps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import Select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from govern.crypto.envelope import Envelope

# (session, envelope, target master-key version) -> how many wrapped keys moved onto it
Rewrap = Callable[[Session, "Envelope", int], int]


@dataclass(frozen=True)
class KeyedData:
    name: str  # the table it probes
    probe: Select[Any]  # any row: the database holds data under the keyring
    rewrap: Rewrap | None = None  # wrapped data keys of its own, moved by a master-key rotation


_registered: dict[str, KeyedData] = {}


def register(keyed: KeyedData) -> None:
    """Registering the same name again replaces it (a module reloaded in a test)."""
    _registered[keyed.name] = keyed


def registered() -> list[KeyedData]:
    return [_registered[name] for name in sorted(_registered)]
