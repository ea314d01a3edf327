"""The suite the database's data is under, recorded in key_checks (kind `suite`), and the start-up rule that keeps
policies/crypto.yaml from naming another one while nothing converts the data.

Rows of kind `suite` are numbered: version 1 is recorded at the first start (`international` for a database that
already holds data written before suites existed, else the policy's); `govern keys migrate-suite` adds the next one
as `migrating` and marks it `migrated` when every data key, value, blind index and endpoint secret has been
converted and verified. The suite in force is the newest row not `migrating`.

Once commercial_cn is in force or being migrated to, the audit log hashes with SM3 from a recorded seq on: start-up
(and `govern keys migrate-suite` when it begins) appends the switch event if the log has none (govern/audit/chain.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit import chain as audit_chain
from govern.config import Settings
from govern.crypto import suites
from govern.crypto.keyring import KeyringError
from govern.crypto.models import KeyCheck
from govern.crypto.policy import read_crypto_policy
from govern.crypto.provider import MasterKeys
from govern.db import Database
from govern.identity.actor import Actor

SUITE = "suite"
MIGRATING, MIGRATED = "migrating", "migrated"

# What went wrong, as a stable code (logs, tests) beside the sentence for the operator.
SUITE_MISMATCH = "suite_mismatch"
SUITE_UNSUPPORTED = "suite_unsupported"
SUITE_UNAVAILABLE = "suite_unavailable"


class SuiteRefused(KeyringError):
    """The suite the policy names cannot be used: not the data's (and no migration to it), or not offered here."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class SuiteState:
    in_force: str  # what the data is under (all of it, when no migration is under way)
    target: str | None  # a migration under way converts to this
    version: int  # the newest `suite` row

    @property
    def writes(self) -> str:
        """The suite new data keys are made under: a migration's target from its start."""
        return self.target or self.in_force


def state(session: Session) -> SuiteState | None:
    rows = session.scalars(select(KeyCheck).where(KeyCheck.kind == SUITE).order_by(KeyCheck.version)).all()
    if not rows:
        return None
    settled = [r for r in rows if r.recorded_how != MIGRATING]
    in_force = settled[-1].check_value if settled else suites.INTERNATIONAL
    target = rows[-1].check_value if rows[-1].recorded_how == MIGRATING else None
    return SuiteState(in_force=in_force, target=target, version=rows[-1].version)


def wanted(settings: Settings) -> str:
    """The suite policies/crypto.yaml names, if this host can run it."""
    name = read_crypto_policy(settings.policies_dir).suite
    why = suites.available(name)
    if why:
        raise SuiteRefused(SUITE_UNAVAILABLE, f"policies/crypto.yaml names the {name} suite, but {why}")
    return name


def ensure(*, database: Database, keyring: MasterKeys, settings: Settings, holds_data: bool, migrating: bool = False) -> SuiteState:
    """Start-up: records the suite at the first start, refuses a policy naming another suite than the data's while no
    migration to it is under way, and a suite this key store cannot wrap for; then tells the keyring which suite is
    in force (the envelope writes under it, or under a migration's target)."""
    name = wanted(settings)
    current: SuiteState | None = None
    for attempt in range(2):  # two workers starting at once on a new database: the loser reads the winner's row
        try:
            with database.unit_of_work() as session:
                current = state(session)
                if current is None:
                    first = suites.INTERNATIONAL if holds_data else name  # data written before suites is international
                    session.add(KeyCheck(kind=SUITE, version=1, check_value=first, recorded_how="first_use" if holds_data else "created"))
                    session.flush()
                    current = SuiteState(in_force=first, target=None, version=1)
            break
        except IntegrityError:
            if attempt:
                raise
    assert current is not None
    if not migrating:  # `govern keys migrate-suite` checks its target itself, before it writes anything
        refuse_mismatch(current, name)
        refuse_unsupported(keyring, current.writes)
    if current.writes == suites.COMMERCIAL_CN:
        with database.unit_of_work() as session:
            audit_log_to_sm3(session, "suite_in_force" if current.target is None else "suite_migration")
    adopt(keyring, current)
    return current


def audit_log_to_sm3(session: Session, why: str, actor: Actor | None = None) -> bool:
    """The audit log hashes with SM3 from here on (under commercial_cn), unless it does already: True if switched."""
    return audit_chain.switch_to_sm3(session, actor or Actor(name="govern", kind="system", request_id="crypto-suite"), why)


def refuse_mismatch(current: SuiteState, name: str) -> None:
    if name in (current.in_force, current.target):
        return
    raise SuiteRefused(
        SUITE_MISMATCH,
        f"policies/crypto.yaml names the {name} suite, but this database's data is under {current.in_force} and no migration to "
        f"{name} is under way: run `govern keys migrate-suite` to convert it (it starts the migration; the service may then run "
        f"with either suite named), or set `suite: {current.in_force}` back",
    )


def refuse_unsupported(keyring: MasterKeys, name: str) -> None:
    why = keyring.supports(suites.suite(name).value_format)
    if why:
        raise SuiteRefused(SUITE_UNSUPPORTED, f"the {name} suite cannot be used with this master-key provider: {why}")


def adopt(keyring: MasterKeys, current: SuiteState) -> None:
    """The keyring carries the suite in force (and a migration under way) to the envelope and to every reload."""
    keyring.suite = current.in_force
    if current.target is not None and not keyring.suite_migration:
        # The database says a migration is under way but this keyring file does not (a copy from another host):
        # look-ups must still match both suites, and new data keys go to the target.
        keyring.suite_migration = {"from": current.in_force, "target": current.target}
    elif current.target is None and keyring.suite_migration:
        keyring.suite_migration = None  # finished (or abandoned) per the database, which decides
