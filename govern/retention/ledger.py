"""The purge ledger: every retention purge, kept outside the database beside the erasure tombstones, so that a
database restored from an older backup has what the law removed since removed again before it serves.

`purges.jsonl` in GOVERN_HOME (`Runtime.ledgers.purges`; written and read through govern/ledgers.py, the one append:
JSON Lines, fsynced, 0600, never created by an append), no personal data (subject ids, record ids and types, field
names, rule, run id, time). One line per batch and one for its outcome.

Order against a crash: a batch's line ("pending") is written and fsynced before the batch's transaction commits; its
outcome ("committed") is appended after. A crash in between leaves a pending line, which the purge resolves against
the run's cursor when it resumes (committed if the cursor passed the batch, rolled_back otherwise); a replay applies
a pending line nobody resolved, since what it names was due under an approved plan. So no committed purge is ever
without its line, and a batch that rolled back is not replayed once the run has resumed.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import LedgerAction
from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.jobs import Progress
from govern.ledgers import COMMITTED, PENDING, ROLLED_BACK, ErasureLedgers, Ledger
from govern.retention import shredding
from govern.retention.models import Run
from govern.subject_requests.flows import ERASURE_TYPES
from govern.subject_requests.models import DataSubjectRequest
from govern.subjects import erasure
from govern.subjects.erasure import Tombstone
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import as_utc, utcnow
from govern.validators import free_text_problem

REPLAY_REASON = "retention_replay"


def missing_ledgers(home: Path) -> list[Path]:
    """The ledgers a restore needs (erasures, partial erasures, purges) that are not in `home`."""
    return [ledger.path for ledger in ErasureLedgers.in_home(home).missing()]


def open_missing_ledgers(*, home: Path, database) -> list[str]:
    """At `govern init`: creates, empty, each missing ledger for which the database holds nothing it would have
    recorded (a fresh installation, or one from before the ledger existed that never did the thing). A ledger missing
    while the database shows erasures or purges is really missing: it is left missing, for a restore to refuse."""
    evidence = {
        "tombstones": exists().where(Tombstone.subject_id.is_not(None)),
        "request-erasures": exists().where(DataSubjectRequest.type.in_(sorted(ERASURE_TYPES)), DataSubjectRequest.state == "completed"),
        "purges": exists().where(Run.id.is_not(None)),
    }
    created = []
    with database.unit_of_work() as session:
        for ledger in ErasureLedgers.in_home(home).all():
            if not ledger.exists() and not session.scalar(select(evidence[ledger.name])):
                if ledger.create_empty():
                    created.append(ledger.name.replace("-", " "))
    return created


# --- writing --------------------------------------------------------------------------------------


def batch_entry(
    *, run_id: int, plan_id: uuid.UUID, first_seq: int, last_seq: int, purged_at: datetime, fields: Iterable, records: Iterable, subjects: Iterable,
) -> dict:
    """The pending line of one batch: (subject id, field name, rule), (subject id, record id, record type, rule) and
    (subject id, rule) of what the batch actually removed. Its own id names it in its outcome line; the plan id (a
    UUID, one run per plan) ties it to its run even after a restore hands the same run number out again."""
    return {
        "v": 1, "id": uuid.uuid4().hex, "state": PENDING, "run_id": run_id, "plan_id": str(plan_id), "batch": [first_seq, last_seq],
        "purged_at": as_utc(purged_at).isoformat(),
        "fields": [[str(s), n, r] for s, n, r in fields],
        "records": [[str(s), str(i), t, r] for s, i, t, r in records],
        "subjects": [[str(s), r] for s, r in subjects],
    }


def outcome_entry(entry: dict, state: str) -> dict:
    return {"v": 1, "of": entry["id"], "state": state, "run_id": entry["run_id"], "batch": list(entry["batch"]), "at": utcnow().isoformat()}


def resolve(purges: Ledger, *, plan_id: uuid.UUID, cursor: int) -> int:
    """Appends the outcome of every pending batch of the plan's run left without one (a crash between its line and
    its commit): committed when the run's cursor is past it, rolled_back otherwise. Call under the purge lock."""
    done = 0
    for entry in unresolved(purges, plan_id=plan_id):
        purges.append(outcome_entry(entry, COMMITTED if entry["batch"][1] <= cursor else ROLLED_BACK))
        done += 1
    return done


# --- reading --------------------------------------------------------------------------------------


def read(purges: Ledger) -> list[dict]:
    """Every batch and outcome line that reads (a torn line is skipped by Ledger.read)."""
    return [
        e for e in purges.read()
        if e.get("state") in (PENDING, COMMITTED, ROLLED_BACK) and ("id" in e or "of" in e)
    ]


def _outcomes(entries: list[dict]) -> dict[str, str]:
    return {e["of"]: e["state"] for e in entries if e["state"] in (COMMITTED, ROLLED_BACK) and "of" in e}


def unresolved(purges: Ledger, *, plan_id: uuid.UUID | None = None) -> list[dict]:
    entries = read(purges)
    outcomes = _outcomes(entries)
    return [
        e for e in entries
        if e["state"] == PENDING and "id" in e and (plan_id is None or e.get("plan_id") == str(plan_id)) and e["id"] not in outcomes
    ]


def to_replay(purges: Ledger) -> list[dict]:
    """The batches a replay applies: committed, or pending with no outcome; never one that rolled back."""
    entries = read(purges)
    outcomes = _outcomes(entries)
    return [e for e in entries if e["state"] == PENDING and "id" in e and outcomes.get(e["id"]) != ROLLED_BACK]


# --- replay after a restore -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    batches: int
    fields: int
    records: int
    subjects: int
    seconds: float

    @property
    def removed_again(self) -> int:
        return self.fields + self.records + self.subjects


def replay(
    *, database, envelope, actor: Actor, purges: Ledger, on_progress: Callable[[Progress], None] | None = None, skip_committed_here: bool = False,
) -> ReplayResult:
    """Removes again whatever the ledger says a purge removed and the database holds (restored from an older backup):
    one transaction per batch line, each removal audited like the purge's own. Idempotent: a second replay finds
    nothing and writes nothing. A field is removed only if its value is not newer than the purge (one collected
    again afterwards, with a new legal basis, stays).

    skip_committed_here (`govern serve`'s start): a batch this database's own run shows committed (its cursor is past
    it) is not looked at, so a start costs one query when the database was not restored. `govern restore` replays
    every line, trusting nothing the database says."""
    started = time.monotonic()
    batches = to_replay(purges)
    if skip_committed_here and batches:
        with database.unit_of_work() as session:
            cursors = {str(plan_id): cursor for plan_id, cursor in session.execute(select(Run.plan_id, Run.cursor))}
        batches = [e for e in batches if not (e.get("plan_id") in cursors and e["batch"][1] <= cursors[e["plan_id"]])]
    totals = {"fields": 0, "records": 0, "subjects": 0}
    for n, entry in enumerate(batches, 1):
        with database.unit_of_work() as session:
            for key, count in _replay_batch(session, envelope, actor, entry).items():
                totals[key] += count
        if on_progress:
            on_progress(Progress(n, len(batches), n / max(time.monotonic() - started, 1e-6)))
    if any(totals.values()):
        with database.unit_of_work() as session:
            audit.append(
                session=session, actor=actor, action=LedgerAction.REPLAY, resource=f"purge_ledger:{len(batches)}",
                reason=f"f={totals['fields']} r={totals['records']} s={totals['subjects']}"[:64],
            )
    return ReplayResult(batches=len(batches), seconds=time.monotonic() - started, **totals)


# Ids per statement: well under SQLite's bound variables, and a batch may hold up to 100,000 items.
CHUNK = 2000


def _chunks(values: list) -> Iterable[list]:
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def _replay_batch(session: Session, envelope, actor: Actor, entry: dict[str, Any]) -> dict[str, int]:
    """One batch line: a few statements per CHUNK ids when nothing is left to remove (`govern serve` replays at
    every start), one more per subject only where something came back."""
    reference = f"retention_run:{entry['run_id']}"
    purged_at = datetime.fromisoformat(entry["purged_at"])
    wanted = {(uuid.UUID(sid), name) for sid, name, _rule in entry.get("fields", [])}
    back: dict[uuid.UUID, list[str]] = defaultdict(list)
    for ids in _chunks(sorted({sid for sid, _ in wanted})):
        chunk = set(ids)
        names = sorted({n for sid, n in wanted if sid in chunk})
        for sid, name in session.execute(select(ProfileField.subject_id, ProfileField.name).where(
            ProfileField.subject_id.in_(ids), ProfileField.name.in_(names), ProfileField.updated_at <= purged_at,
        )):
            if (sid, name) in wanted:
                back[sid].append(name)
    for sid in sorted(back):
        names = sorted(back[sid])
        session.execute(delete(ProfileField).where(ProfileField.subject_id == sid, ProfileField.name.in_(names)).execution_options(synchronize_session=False))
        audit.append(session=session, actor=actor, action=erasure.ErasureAction.FIELDS_ERASE, subject_id=sid, field_names=names,
                     reason=REPLAY_REASON, resource=reference)
    types: dict[uuid.UUID, set[str]] = defaultdict(set)
    n_records = 0
    for ids in _chunks([uuid.UUID(rid) for _, rid, _, _ in entry.get("records", [])]):
        gone = session.execute(
            delete(Record).where(Record.id.in_(ids)).returning(Record.subject_id, Record.type).execution_options(synchronize_session=False)
        ).all()
        n_records += len(gone)
        for sid, rtype in gone:
            types[sid].add(rtype)
    for sid in sorted(types):
        audit.append(session=session, actor=actor, action=erasure.ErasureAction.RECORDS_ERASE, subject_id=sid,
                     field_names=[f"record:{t}" for t in sorted(types[sid])], reason=REPLAY_REASON, resource=reference)
    # A subject the purge shredded that holds a row not marked erased, or a data key, again: shredded again.
    revived: set[uuid.UUID] = set()
    for ids in _chunks(sorted({uuid.UUID(sid) for sid, _rule in entry.get("subjects", [])})):
        revived |= set(session.scalars(select(Subject.id).where(Subject.id.in_(ids), Subject.status != erasure.ERASED)))
        revived |= set(session.scalars(select(SubjectKey.subject_id).where(SubjectKey.subject_id.in_(ids))))
    for sid in sorted(revived):
        shredding.shred(session=session, envelope=envelope, actor=actor, subject_id=sid, reason=REPLAY_REASON, reference=reference)
    return {"fields": sum(len(v) for v in back.values()), "records": n_records, "subjects": len(revived)}


def accept_missing(*, database, actor: Actor, missing: list[Ledger], reason: str) -> list[str]:
    """A restore the operator let go on without some ledgers: audited with their reason (what is lost cannot be
    re-applied), then the ledgers are started again, empty, so the next restore can tell missing from new."""
    names = [ledger.path.name for ledger in missing]
    with database.unit_of_work() as session:
        audit.append(session=session, actor=actor, action=LedgerAction.ACCEPT_MISSING, resource=("ledgers:" + ",".join(names))[:200], reason=reason)
    for ledger in missing:
        ledger.create_empty()
    return names


def override_reason_problem(reason: str) -> str | None:
    """What is wrong with an override's reason (it goes verbatim into the audit log), or None."""
    if not reason or not reason.strip():
        return "give the reason the ledgers are missing"
    if len(reason) > 64:
        return "at most 64 characters (it is kept in the audit event)"
    return free_text_problem(reason)
