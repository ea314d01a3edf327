"""The erasure ledgers: append-only files outside the database (in GOVERN_HOME) that make a database restored from an
older backup remove again, before it serves, whatever was erased or purged since — `tombstones.jsonl` (subjects
crypto-shredded), `request-erasures.jsonl` (partial erasures by request) and `purges.jsonl` (retention purge batches).
Ids, names and times only, never a personal value.

One implementation for the three (`Ledger`): JSON Lines, each append written and fsynced before it returns, files
0600, and never created by an append — `govern init` starts them, `govern retention restart-ledger` (audited) after a
loss — because a deleted ledger re-created by the next erasure would look whole to a restore while it lacks
everything before. The process holds them as `Runtime.ledgers` (`ErasureLedgers`); services receive that.

When an entry counts: exactly when the transaction that erases commits. `Ledger.stage` writes the entry as `pending`
(fsynced) before the commit and hooks the session: after its commit an outcome line `committed`, after a rollback
`rolled_back`. Why pending first rather than a line written after the commit: in the second design a process killed
between the commit and the write leaves the database as the only evidence of the erasure — the very thing a restore
replaces — so an erasure could be lost; here the line is on disk before anything is erased, and the worst a crash
leaves is a question (did it commit?) that the database it ran on answers. The recovery rule: a pending entry without
an outcome is settled against that database — committed when the transaction's own evidence is there (the tombstone
row, the completed request), rolled_back otherwise — by `govern serve`'s start and `govern tombstones reapply`, and
by `govern restore` before it replaces the database. A replay applies committed entries and any pending one still
unsettled (a restore whose old database could not be read: an erasure that was under way is applied, never lost),
never a rolled-back one. Lines written before the ledger had states (no `state`) count as committed.

The purge ledger keeps its own settling (its batches are resolved by the run's cursor, govern/retention/ledger.py)
and uses the same append and read.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from govern.logging import get_logger
from govern.timeutil import utcnow

log = get_logger("govern.ledgers")

PENDING, COMMITTED, ROLLED_BACK = "pending", "committed", "rolled_back"
_STAGED = "govern.ledgers.staged"


class LedgerMissing(Exception):
    """The ledger file is not there. It is never created by an append: a ledger deleted and then re-created by the
    next erasure or purge would look whole to a restore while it lacks everything before."""

    def __init__(self, ledger: "Ledger") -> None:
        self.ledger = ledger
        super().__init__(
            f"{ledger.path.name} is missing from {ledger.path.parent}: nothing is erased or purged without its ledger line. Put the file "
            f'back; if it is truly lost, start a new one with `govern retention restart-ledger --ledger {ledger.name} --reason "<why>"` (audited).'
        )


@dataclass(frozen=True)
class Ledger:
    """One ledger file. `name` is how `govern retention restart-ledger --ledger` names it."""

    name: str
    path: Path

    def exists(self) -> bool:
        return self.path.is_file()

    def create_empty(self) -> bool:
        """Creates the ledger, empty and 0600, if there is none; True when it did. The folder entry is fsynced too."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(self.path.parent)
        return True

    def append(self, entry: dict[str, Any]) -> None:
        """One line, appended and fsynced before this returns; LedgerMissing when the file is not there."""
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise LedgerMissing(self) from None
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a torn line from a crash stays a line of its own, never glued to this one
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """Every line that reads as a JSON object. One that does not is the torn tail of a write the process died
        inside (so before the commit it preceded; `append` ends it with a newline first): skipped."""
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    # --- entries that count when their transaction commits -----------------------------------------------------

    def stage(self, session: Session, entry: dict[str, Any]) -> dict[str, Any]:
        """Writes `entry` as pending now, before the session's transaction commits, and settles it when that
        transaction ends (committed or rolled_back). Raises LedgerMissing, so nothing is erased without its line."""
        line = {"v": 1, "id": uuid.uuid4().hex, "state": PENDING, **entry}
        session.connection()  # inside a transaction, whose end settles the line (a session without one has no end)
        self.append(line)
        session.info.setdefault(_STAGED, []).append((self, line))
        return line

    def settle(self, entry: dict[str, Any], state: str) -> None:
        self.append({"v": 1, "of": entry["id"], "state": state, "at": utcnow().isoformat()})

    def to_apply(self) -> list[dict[str, Any]]:
        """The entries a replay applies: those written before states existed, committed ones, and pending ones nobody
        settled; never one that rolled back, and never an outcome line."""
        entries = self.read()
        outcomes = _outcomes(entries)
        return [e for e in entries if "of" not in e and ("state" not in e or (e["state"] == PENDING and outcomes.get(e.get("id")) != ROLLED_BACK))]

    def unsettled(self) -> list[dict[str, Any]]:
        entries = self.read()
        outcomes = _outcomes(entries)
        return [e for e in entries if e.get("state") == PENDING and "id" in e and e["id"] not in outcomes]

    def settle_unsettled(self, committed: Callable[[dict[str, Any]], bool]) -> dict[str, int]:
        """The recovery rule: each pending entry left without an outcome (a process killed between its line and the end
        of its transaction) is settled by `committed(entry)`, which asks the database the transaction ran against.
        Never call it on a database restored from a backup: there every answer would be "rolled back"."""
        counts = {COMMITTED: 0, ROLLED_BACK: 0}
        for entry in self.unsettled():
            state = COMMITTED if committed(entry) else ROLLED_BACK
            self.settle(entry, state)
            counts[state] += 1
        return counts


def _outcomes(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Each entry's outcome; committed wins over rolled_back in any order. Two outcomes for one entry come from a
    settling (`govern tombstones reapply` while another process serves) that read the database just before the
    entry's own transaction committed: the transaction's word stands. A committed written by a settling is never
    wrong where it matters: it saw the subject's tombstone, so the subject is erased either way."""
    out: dict[str, str] = {}
    for e in entries:
        if "of" in e and e.get("state") in (COMMITTED, ROLLED_BACK) and out.get(e["of"]) != COMMITTED:
            out[e["of"]] = e["state"]
    return out


@dataclass(frozen=True)
class ErasureLedgers:
    """The three ledgers of one GOVERN_HOME, held by the runtime."""

    tombstones: Ledger
    request_erasures: Ledger
    purges: Ledger

    @classmethod
    def in_home(cls, home: Path) -> "ErasureLedgers":
        return cls(
            tombstones=Ledger("tombstones", home / "tombstones.jsonl"),
            request_erasures=Ledger("request-erasures", home / "request-erasures.jsonl"),
            purges=Ledger("purges", home / "purges.jsonl"),
        )

    def all(self) -> tuple[Ledger, Ledger, Ledger]:
        return (self.tombstones, self.request_erasures, self.purges)

    def missing(self) -> list[Ledger]:
        return [ledger for ledger in self.all() if not ledger.exists()]

    def by_name(self, name: str) -> Ledger:
        return next(ledger for ledger in self.all() if ledger.name == name)


# --- settling staged entries when their transaction ends ----------------------------------------------------------


def _settle_staged(session: Session, state: str) -> None:
    staged = session.info.pop(_STAGED, [])
    for ledger, entry in staged:
        try:
            ledger.settle(entry, state)
        except (OSError, LedgerMissing) as exc:
            # The transaction has ended either way; the entry stays pending and the next start settles it against
            # the database (see the module docstring).
            log.warning("ledger_settle_failed", ledger=ledger.name, entry=entry["id"], state=state, error=type(exc).__name__)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the outer transaction decides
    _settle_staged(session, COMMITTED)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the staged entries are gone already (after_commit runs first); any left when the outermost
    # transaction ends were rolled back. A savepoint ending settles nothing: its outer transaction decides.
    if transaction.parent is None and session.info.get(_STAGED):
        _settle_staged(session, ROLLED_BACK)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
