"""A staff member's credential at the command line. A two-person step (making and approving a retention plan) is
signed by authenticated people: a staff account's password, checked by staff.sign_in (the console's lockout, counter
and audit events), or a staff principal's API key. Never the OS account or $USER/$LOGNAME, which whoever holds the
shell can set to any name (DESIGN.md 8b)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from govern.identity import service, staff
from govern.identity.actor import Actor
from govern.identity.models import ConsoleSession
from govern.timeutil import utcnow

# Recorded as the client address of a sign-in made at the command line.
CLI_ADDRESS = "cli"


class StaffCredentialRefused(Exception):
    """The credential named no enabled staff account (wrong password, unknown name, locked, disabled, a service key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StaffCredential:
    name: str | None = None
    password: str | None = None
    api_key: str | None = None


def authenticate_staff(*, database, policy, credential: StaffCredential, request_id: str | None = None) -> Actor:
    """The staff Actor the credential proves, or StaffCredentialRefused. A failed password is counted and audited
    (committed even though the step is refused); a successful one opens no console session."""
    request_id = request_id or uuid.uuid4().hex
    if credential.api_key is not None:
        with database.unit_of_work() as session:
            found = service.authenticate(session=session, api_key=credential.api_key.strip())
        if found is None:
            raise StaffCredentialRefused("credentials_rejected")
        if found.kind != "staff":
            raise StaffCredentialRefused("not_staff")
        return Actor(name=found.name, kind="staff", roles=tuple(found.roles), principal_id=found.id, request_id=request_id, client_addr=CLI_ADDRESS)
    if not credential.name:
        raise StaffCredentialRefused("credentials_missing")
    with database.unit_of_work() as session:
        result = staff.sign_in(
            session=session, policy=policy, name=credential.name, password=credential.password or "", request_id=request_id, client_addr=CLI_ADDRESS,
        )
        if result.ok and result.token:
            # Proving who is at the keyboard needs no browser session: the one sign_in opened ends at once.
            row = session.get(ConsoleSession, staff._token_hash(result.token))
            if row is not None:
                row.ended_at = utcnow()
        principal = result.principal
        actor = None if not result.ok or principal is None else Actor(
            name=principal.name, kind=principal.kind, roles=tuple(principal.roles), principal_id=principal.id, request_id=request_id,
            client_addr=CLI_ADDRESS,
        )
    if actor is None:
        raise StaffCredentialRefused(result.reason or "bad_credentials")
    return actor
