"""Who is acting, with which roles, in which request and from where: what every audit event records."""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass, field


@dataclass
class PrincipalCheck:
    """A principal recognised from this process's memory of its key (identity.service.authenticate, `remembered`),
    not yet confirmed by the database in this request: the first audit event of the request is written only if the
    principal is still enabled with that key, which confirms it; a request that writes none is checked before it is
    answered (govern/app.py)."""

    principal_id: uuid.UUID
    key_hash: str
    confirmed: bool = False


@dataclass(frozen=True)
class Actor:
    name: str
    kind: str  # service | staff | operator | system
    roles: tuple[str, ...] = ()
    principal_id: uuid.UUID | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_addr: str | None = None
    principal_check: PrincipalCheck | None = field(default=None, compare=False)

    @classmethod
    def operator(cls) -> "Actor":
        """The person at the `govern` command line, named by their OS account."""
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = "unknown"
        return cls(name=f"cli:{user}", kind="operator", roles=("operator",), client_addr="local")
