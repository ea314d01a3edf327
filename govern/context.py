"""The per-call context: what one call (an API request, a console page, a CLI batch) hands the services it calls.

Built in one place per caller (govern.api_support.current_call for requests and pages); services keep their
keyword-only arguments and receive its parts through `services()`, so none of them depends on this object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govern.config import Settings
    from govern.crypto.envelope import Envelope
    from govern.identity.actor import Actor
    from govern.policy import Policy


@dataclass(frozen=True)
class CallContext:
    session: Session
    policy: Policy
    envelope: Envelope
    actor: Actor
    settings: Settings

    def services(self, *more: str) -> dict[str, Any]:
        """session, policy and actor as a service's keyword arguments, plus any of `more` ("envelope", "settings")."""
        args: dict[str, Any] = {"session": self.session, "policy": self.policy, "actor": self.actor}
        for name in more:
            args[name] = getattr(self, name)
        return args
