"""Who is acting, with which roles, in which request and from where: what every audit event records."""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    name: str
    kind: str  # service | staff | operator | system
    roles: tuple[str, ...] = ()
    principal_id: uuid.UUID | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_addr: str | None = None

    @classmethod
    def operator(cls) -> "Actor":
        """The person at the `govern` command line, named by their OS account."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        return cls(name=f"cli:{user}", kind="operator", roles=("operator",), client_addr="local")
