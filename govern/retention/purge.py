"""Executes an approved plan in batches: one transaction per batch deletes the batch's fields and records,
shreds subjects left with nothing, and advances the run's cursor and counts. Whatever stops the process (Ctrl-C,
SIGTERM, kill -9, a lost connection), the database holds either the whole batch or none of it, so a rerun resumes
from the cursor without losing or double-counting anything. Each batch also queues, in the same transaction, one
webhook notice per subject it purged (govern/webhooks) for the CRM components and recipients that hold copies.
One purge at a time per database: an advisory lock on PostgreSQL, a file lock beside the database file on SQLite.
Each batch also goes into the purge ledger outside the database (ledger.py), fsynced before the batch commits, so a
restore of an older backup removes it again before serving.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import any_, bindparam, exists, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from govern.audit import service as audit
from govern.audit.tags import RetentionAction
from govern.crypto.envelope import Envelope
from govern.db import Database
from govern.identity.actor import Actor
from govern.jobs import Progress, database_lock, host_lock
from govern.ledgers import ErasureLedgers, Ledger, LedgerMissing
from govern.policy import Policy
from govern.retention import ledger, service, shredding
from govern.retention.models import Hold, HoldRecord, Plan, PlanItem, Run
from govern.retention.service import FIELD, RECORD, active_hold
from govern.subjects import erasure
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks

PURGE_LOCK_ID = 7265110006
AUDIT_REASON = "retention_purge"
UNATTENDED_APPROVER = "policy:retention.yaml unattended_purge"


class PurgeBusy(Exception):
    """Another purge holds the lock for this database."""


class PurgeInterrupted(Exception):
    """Stopped between batches (Ctrl-C, SIGTERM) or by a lost connection; a rerun of the same command resumes."""


class PurgeRefused(Exception):
    """The plan cannot be executed (not approved, expired, policy changed, unattended purges not allowed)."""


@dataclass(frozen=True)
class RunResult:
    run_id: int
    plan_id: uuid.UUID
    status: str
    resumed: bool
    total: int
    counts: dict[str, Any]
    seconds: float


def empty_counts() -> dict[str, Any]:
    return {"fields": 0, "records": 0, "subjects": 0, "held": 0, "gone": 0, "kept": 0, "by_rule": {}}


# --- the lock -------------------------------------------------------------------------------------


@contextmanager
def purge_lock(database: Database) -> Iterator[Callable[[], None]]:
    """One purge per database. PostgreSQL: a session advisory lock, released by the server when the holder dies
    (kill -9 included). SQLite: an flock beside the database file, released by the kernel likewise.

    Yields a check, called before every batch: it raises PurgeInterrupted once the lock's connection is gone,
    because from then on another purge could start."""
    busy = lambda: PurgeBusy(_busy_detail(database))  # noqa: E731
    if database.dialect != "postgresql":
        with host_lock(Path(str(Path(make_url(database.url).database or "govern.db").resolve()) + ".retention.lock"), busy):
            yield lambda: None
        return
    with database_lock(database, PURGE_LOCK_ID, busy) as conn:

        def still_held() -> None:
            try:
                conn.exec_driver_sql("SELECT 1").scalar()
                conn.commit()
            except Exception:
                raise PurgeInterrupted("lost the database connection that holds the purge lock") from None

        yield still_held


def _busy_detail(database: Database) -> str:
    try:
        with database.unit_of_work() as session:
            run = session.scalars(select(Run).where(Run.status == "running").order_by(Run.id.desc()).limit(1)).first()
            if run is not None:
                return f"another purge is running against this database (run {run.id}, started by {run.started_by} at {as_utc(run.started_at):%Y-%m-%d %H:%M:%S} UTC)"
    except Exception:
        pass
    return "another purge is running against this database"


# --- entry points ---------------------------------------------------------------------------------


def purge_plan(
    *, database: Database, envelope: Envelope, policy: Policy, actor: Actor, plan_id: uuid.UUID, ledgers: ErasureLedgers | None,
    batch_size: int = 500, pause_seconds: float = 0.0, on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False, now: datetime | None = None,
) -> RunResult:
    """Executes exactly the items of an approved plan (or resumes its unfinished run). Each batch goes into the purge
    ledger and each shredding into the tombstones ledger (`ledgers`, the runtime's); without them nothing is purged."""
    _require_ledgers(ledgers)
    with purge_lock(database) as still_held:
        return _execute(
            still_held=still_held, database=database, envelope=envelope, policy=policy, actor=actor, plan_id=plan_id, ledgers=ledgers,
            batch_size=batch_size, pause_seconds=pause_seconds, on_progress=on_progress, should_stop=should_stop, now=now, mode="plan",
        )


def _require_ledgers(ledgers: ErasureLedgers | None) -> None:
    """Refused before anything starts: a batch cannot commit without its ledger line, a shred without its tombstone."""
    if ledgers is None:
        return
    for missing in (ledgers.purges, ledgers.tombstones):
        if not missing.exists():
            raise PurgeRefused(str(LedgerMissing(missing)))


def purge_all_due(
    *, database: Database, envelope: Envelope, policy: Policy, actor: Actor, ledgers: ErasureLedgers | None, batch_size: int = 500,
    pause_seconds: float = 0.0, on_progress: Callable[[Progress], None] | None = None, should_stop: Callable[[], bool] = lambda: False,
    now: datetime | None = None,
) -> list[RunResult]:
    """For schedules: resumes an unfinished unattended run, then plans and purges everything due now. Only when
    retention.yaml says `unattended_purge: true`; the policy stands in for the second person's approval."""
    rp = policy.retention
    _require_ledgers(ledgers)
    if not rp.unattended_purge:
        raise PurgeRefused(
            "unattended purges are not allowed: policies/retention.yaml has unattended_purge: false; "
            "make a plan (govern retention plan --save), have it approved and run govern retention purge --plan ID"
        )
    results = []
    with purge_lock(database) as still_held:
        with database.unit_of_work() as session:
            leftover = session.scalars(
                select(Run.plan_id).join(Plan, Plan.id == Run.plan_id).where(Run.status != "completed", Plan.unattended.is_(True)).order_by(Run.id)
            ).all()
        common = dict(
            still_held=still_held, database=database, envelope=envelope, policy=policy, actor=actor, ledgers=ledgers, batch_size=batch_size,
            pause_seconds=pause_seconds, on_progress=on_progress, should_stop=should_stop, now=now, mode="all_due",
        )
        for plan_id in leftover:
            results.append(_execute(plan_id=plan_id, **common))
        with database.unit_of_work() as session:
            made = service.make_plan(session=session, policy=policy, actor=actor, save=True, now=now, unattended=True, note="govern retention purge --all-due")
            plan = made.plan
            assert plan is not None
            plan.status, plan.approved_by, plan.approved_at = "approved", UNATTENDED_APPROVER, utcnow()
            plan_id = plan.id
        results.append(_execute(plan_id=plan_id, **common))
    return results


# --- execution ------------------------------------------------------------------------------------


def _start_or_resume(session: Session, policy: Policy, actor: Actor, plan_id: uuid.UUID, mode: str, now: datetime) -> tuple[Run, bool]:
    rp = policy.retention
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise PurgeRefused(f"no retention plan {plan_id}")
    run = session.scalars(select(Run).where(Run.plan_id == plan_id)).first()
    if run is not None and run.status == "completed":
        return run, False
    if run is None:
        status = service.plan_status(plan, rp, now)
        if status != "approved":
            raise PurgeRefused(f"plan {plan_id} is {status}; only an approved plan can be executed" + (" (make a new plan)" if status == "expired" else ""))
        if plan.policy_digest != rp.digest:
            raise PurgeRefused("policies/retention.yaml changed since the plan was made; make and approve a new plan")
        run = Run(
            plan_id=plan.id, mode=mode, status="running", cursor=0, total=plan.items, counts=empty_counts(),
            rules=[r["rule"] for r in plan.summary.get("rules", []) if any(r["due"].values())],
            attempts=1, started_by=actor.name, approved_by=plan.approved_by, started_at=utcnow(), updated_at=utcnow(),
        )
        session.add(run)
        session.flush()  # the run id goes into the audit event
        audit.append(session=session, actor=actor, action=RetentionAction.RUN_START, resource=f"retention_run:{run.id}", reason=f"plan={plan.id}"[:64])
        return run, False
    # An unfinished run: its plan was approved when it started; finish exactly what it began.
    run.status, run.attempts, run.updated_at, run.last_error = "running", run.attempts + 1, utcnow(), None
    audit.append(session=session, actor=actor, action=RetentionAction.RUN_RESUME, resource=f"retention_run:{run.id}", reason=f"cursor={run.cursor}")
    return run, True


def _execute(
    *, still_held: Callable[[], None], database: Database, envelope: Envelope, policy: Policy, actor: Actor, plan_id: uuid.UUID,
    ledgers: ErasureLedgers | None, batch_size: int, pause_seconds: float, on_progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool], now: datetime | None, mode: str,
) -> RunResult:
    started = time.monotonic()
    with database.unit_of_work() as session:
        run, resumed = _start_or_resume(session, policy, actor, plan_id, mode, now or utcnow())
        run_id, cursor, total = run.id, run.cursor, run.total
        if run.status == "completed":
            return _result(run, resumed=False, seconds=0.0)
    purges = ledgers.purges if ledgers is not None else None
    if purges is not None:
        # A crash between a batch's ledger line and its commit left the line without an outcome: the cursor decides.
        ledger.resolve(purges, plan_id=plan_id, cursor=cursor)
    done_at_start = _done(database, plan_id, cursor)
    done = done_at_start
    try:
        while True:
            if should_stop():
                raise PurgeInterrupted(f"stopped after item {cursor} of {total}")
            still_held()
            with database.unit_of_work() as session:
                moved, cursor, entry = _batch(session, envelope, actor, run_id, plan_id, cursor, batch_size, ledgers.tombstones if ledgers else None)
                if entry is not None and purges is not None:
                    # Durable before the commit below: a committed purge never lacks its line (see ledger.py).
                    _append(purges, entry)
            if entry is not None and purges is not None:
                _append(purges, ledger.outcome_entry(entry, ledger.COMMITTED))
            if moved == 0:
                break
            done += moved
            if on_progress:
                elapsed = max(time.monotonic() - started, 1e-6)
                on_progress(Progress(done, total, (done - done_at_start) / elapsed))
            if pause_seconds:
                time.sleep(pause_seconds)
        with database.unit_of_work() as session:
            run = session.get(Run, run_id)
            plan = session.get(Plan, plan_id)
            run.status, run.finished_at, run.updated_at = "completed", utcnow(), utcnow()
            plan.status = "executed"
            # The items only said what to purge; the plan's summary and the run's counts remain.
            session.execute(PlanItem.__table__.delete().where(PlanItem.plan_id == plan_id))
            c = run.counts
            audit.append(
                session=session, actor=actor, action=RetentionAction.RUN_FINISH, resource=f"retention_run:{run.id}",
                reason=f"f={c['fields']} r={c['records']} s={c['subjects']} held={c['held']}"[:64],
            )
            return _result(run, resumed=resumed, seconds=time.monotonic() - started)
    except (KeyboardInterrupt, PurgeInterrupted) as exc:
        _mark_interrupted(database, actor, run_id, "interrupted", "stopped by the operator")
        if isinstance(exc, KeyboardInterrupt):
            raise PurgeInterrupted(f"interrupted after item {cursor} of {total}") from None
        raise
    except Exception as exc:
        # Driver messages quote parameters (ids, never values, but still): keep the type only.
        _mark_interrupted(database, actor, run_id, "failed", type(exc).__name__)
        raise


def _append(purges: Ledger, entry: dict) -> None:
    try:
        purges.append(entry)
    except LedgerMissing as exc:
        raise PurgeInterrupted(str(exc)) from None


def _done(database: Database, plan_id: uuid.UUID, cursor: int) -> int:
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(PlanItem).where(PlanItem.plan_id == plan_id, PlanItem.seq <= cursor)) or 0


def _mark_interrupted(database: Database, actor: Actor, run_id: int, status: str, error: str) -> None:
    """Best effort: with the connection gone this fails too, and the run stays `running` until a rerun resumes it."""
    try:
        with database.unit_of_work() as session:
            run = session.get(Run, run_id)
            if run is not None and run.status == "running":
                run.status, run.last_error, run.updated_at = status, error[:1000], utcnow()
                audit.append(session=session, actor=actor, action=RetentionAction.RUN_INTERRUPT, resource=f"retention_run:{run_id}", reason=f"cursor={run.cursor}")
    except Exception:
        pass


def _result(run: Run, *, resumed: bool, seconds: float) -> RunResult:
    return RunResult(run_id=run.id, plan_id=run.plan_id, status=run.status, resumed=resumed, total=run.total, counts=copy.deepcopy(run.counts), seconds=seconds)


def _bump(counts: dict[str, Any], rule: str, key: str, n: int = 1) -> None:
    if not n:
        return
    counts[key] += n
    per = counts["by_rule"].setdefault(rule, {"fields": 0, "records": 0, "subjects": 0, "held": 0, "gone": 0, "kept": 0})
    per[key] += n


def _batch(
    session: Session, envelope: Envelope, actor: Actor, run_id: int, plan_id: uuid.UUID, cursor: int, batch_size: int, tombstones: Ledger | None,
) -> tuple[int, int, dict | None]:
    """One transaction: the next items after the cursor, purged; the cursor and counts advanced with them. Returns
    the batch's ledger line (what it removed) for the caller to make durable before the commit."""
    query = select(Run).where(Run.id == run_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    run = session.scalars(query).one()
    if run.cursor != cursor or run.status != "running":
        # Someone else advanced this run (the lock was lost): stop rather than purge or count anything twice.
        raise PurgeInterrupted(f"run {run_id} was advanced by another process; rerun to resume")
    items = session.execute(
        select(PlanItem.seq, PlanItem.kind, PlanItem.subject_id, PlanItem.field_name, PlanItem.record_id, PlanItem.record_type, PlanItem.rule)
        .where(PlanItem.plan_id == plan_id, PlanItem.seq > cursor).order_by(PlanItem.seq).limit(batch_size)
    ).all()
    if not items:
        return 0, cursor, None
    now = utcnow()
    counts = copy.deepcopy(run.counts)
    reference = f"retention_run:{run_id}"
    subject_ids = sorted({i.subject_id for i in items})
    holds = session.scalars(select(Hold).where(_one_of(session, Hold.subject_id, subject_ids), active_hold(now))).all()
    whole = {h.subject_id for h in holds if h.scope == "subject"}
    any_hold = {h.subject_id for h in holds}
    type_holds = {(h.subject_id, h.record_type) for h in holds if h.scope == "record_type"}
    held_records: set[uuid.UUID] = set()
    if any(h.scope == "records" for h in holds):
        held_records = set(session.scalars(
            select(HoldRecord.record_id).where(HoldRecord.hold_id.in_([h.id for h in holds if h.scope == "records"]))
        ))

    fields: dict[uuid.UUID, list] = defaultdict(list)
    records: list = []
    shreds: list = []
    for item in items:
        kind = item.kind
        if kind == RECORD:
            # Most batches hold nothing: test the holds only when this batch's subjects have some.
            if any_hold and item.subject_id in any_hold and (
                item.subject_id in whole or (item.subject_id, item.record_type) in type_holds or item.record_id in held_records
            ):
                _bump(counts, item.rule, "held")
            else:
                records.append(item)
        elif kind == FIELD:
            if item.subject_id in whole:
                _bump(counts, item.rule, "held")
            else:
                fields[item.subject_id].append(item)
        else:
            shreds.append(item)

    # What went, per subject (names only), for the one notice per subject and batch to those who hold copies.
    purged: dict[uuid.UUID, webhooks.Purged] = defaultdict(webhooks.Purged)
    gone_fields: list[tuple] = []
    gone_records: list[tuple] = []
    gone_subjects: list[tuple] = []
    for sid, group in fields.items():
        erased = set(erasure.erase_fields(
            session=session, actor=actor, subject_id=sid, names=[i.field_name for i in group], reason=AUDIT_REASON, reference=reference,
        ))
        for i in group:
            _bump(counts, i.rule, "fields" if i.field_name in erased else "gone")
            if i.field_name in erased:
                purged[sid].fields.add(i.field_name)
                purged[sid].rules.add(i.rule)
                gone_fields.append((sid, i.field_name, i.rule))
    if records:
        deleted = _erase_records(session, actor, records, reference)
        for i in records:
            # Not deleted: erased meanwhile (a request, a shred), so nothing to do and nothing counted twice.
            _bump(counts, i.rule, "records" if i.record_id in deleted else "gone")
            if i.record_id in deleted:
                purged[i.subject_id].record_types.add(i.record_type)
                purged[i.subject_id].rules.add(i.rule)
                gone_records.append((i.subject_id, i.record_id, i.record_type, i.rule))
    for item in shreds:
        sid = item.subject_id
        if sid in any_hold:
            _bump(counts, item.rule, "held")
        elif session.get(Subject, sid) is None:
            _bump(counts, item.rule, "gone")
        elif session.scalar(select(exists().where(ProfileField.subject_id == sid))) or session.scalar(select(exists().where(Record.subject_id == sid))):
            _bump(counts, item.rule, "kept")  # data arrived after the plan: not what was approved, so not shredded
        else:
            shred = shredding.shred(
                session=session, envelope=envelope, actor=actor, subject_id=sid, reason=AUDIT_REASON, reference=reference, ledger=tombstones,
            )
            _bump(counts, item.rule, "subjects")
            gone_subjects.append((sid, item.rule))
            if not shred.already_erased:  # erased before (a request): those who hold copies were told then
                purged[sid].shredded = True
                purged[sid].rules.add(item.rule)
    # Propagation (GDPR Art. 19, PIPL Art. 47): in this transaction, so a rolled-back batch tells nobody.
    webhooks.retention_purged(session=session, actor=actor, run_id=run_id, batch_start=items[0].seq, purged=purged, now=now)
    run.cursor = items[-1].seq
    run.counts = counts
    run.updated_at = now
    entry = ledger.batch_entry(
        run_id=run_id, plan_id=plan_id, first_seq=items[0].seq, last_seq=items[-1].seq, purged_at=utcnow(), fields=gone_fields, records=gone_records, subjects=gone_subjects,
    )
    return len(items), run.cursor, entry


def _one_of(session: Session, column, values: list):
    """column IN values; on PostgreSQL as `= ANY(array)`: one parameter, however many values."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def _erase_records(session: Session, actor: Actor, items: list, reference: str) -> set[uuid.UUID]:
    """The batch's records in one DELETE … RETURNING, then one audit event per subject, as erasure.erase_records
    writes it (same action, record types as field names, reason, reference). erase_records itself takes one subject
    per call: three round trips per subject would cap the purge far below the rate it must reach."""
    table = Record.__table__
    deleted = set(session.execute(
        table.delete().where(_one_of(session, table.c.id, [i.record_id for i in items])).returning(table.c.id)
    ).scalars())
    types: dict[uuid.UUID, set[str]] = defaultdict(set)
    for i in items:
        if i.record_id in deleted:
            types[i.subject_id].add(i.record_type)
    for sid in sorted(types):
        audit.append(
            session=session, actor=actor, action=erasure.ErasureAction.RECORDS_ERASE, subject_id=sid,
            field_names=[f"record:{t}" for t in sorted(types[sid])], reason=AUDIT_REASON, resource=reference,
        )
    return deleted


def describe_counts(counts: dict[str, Any]) -> str:
    return (
        f"{counts['fields']} field(s), {counts['records']} record(s) purged, {counts['subjects']} subject(s) shredded; "
        f"{counts['held']} held back, {counts['gone']} already gone, {counts['kept']} subject(s) kept (new data since the plan)"
    )

