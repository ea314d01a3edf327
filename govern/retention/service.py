"""Retention rules applied: legal holds, dry-run plans (saved with the exact items due), approval by a second person.

The purge that executes an approved plan is in purge.py. A plan is computed in SQL over ids and timestamps only:
no value is decrypted, so planning reads no personal data.

"Last interaction" of a subject is the newer of its profile's last change (subjects.updated_at) and its latest
record (max records.occurred_at, served by the index ix_records_subject_time). Audit events are not used: most
are reads by the company's own services, which are not the person interacting, and the audit log has its own
retention.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Iterable

from sqlalchemy import (
    BigInteger,
    String,
    Uuid,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from govern import figures, paging
from govern.audit import service as audit
from govern.audit.service import Outcome
from govern.audit.tags import RetentionAction
from govern.consent import withdrawals
from govern.errors import Conflict, Forbidden, Problem, not_found, validation_failed
from govern.identity import assignees
from govern.identity.actor import Actor
from govern.identity.permissions import Permission
from govern.policy import Policy
from govern.refusals import Refusal
from govern.retention.models import Hold, HoldRecord, Plan, PlanItem, Run
from govern.retention.policy import RetentionPolicy, RetentionRule
from govern.subjects import facts as subjects
from govern.subjects.models import ProfileField, Record, Subject
from govern.timeutil import as_utc, utcnow
from govern.validators import free_text_errors

FIELD, RECORD, SHRED = 0, 1, 2
KIND_NAMES = {FIELD: "field", RECORD: "record", SHRED: "subject"}
CLOSED_ACCOUNTS = "closed_accounts"
CONSENT_WITHDRAWN = "consent_withdrawn"
LEFT_EMPTY = "left_with_nothing"
SAMPLE_SIZE = 5


# --- legal holds ----------------------------------------------------------------------------------


def active_hold(now: datetime) -> ColumnElement[bool]:
    """A hold counts until it is lifted or its end passes."""
    return and_(Hold.lifted_at.is_(None), or_(Hold.until.is_(None), Hold.until > now))


def is_active(hold: Hold, now: datetime) -> bool:
    return hold.lifted_at is None and (hold.until is None or as_utc(hold.until) > now)


def place_hold(
    *, session: Session, policy: Policy, actor: Actor, subject_id: uuid.UUID, reason: str, record_type: str | None = None,
    record_ids: Iterable[uuid.UUID] | None = None, until: datetime | None = None, owner: str | None = None, note: str | None = None,
    now: datetime | None = None,
) -> Hold:
    """Places a legal hold on a subject, one record type of it, or some of its records; held data is never purged."""
    now = now or utcnow()
    rp = policy.retention
    record_ids = sorted(set(record_ids or ()))
    errors: dict[str, list[str]] = {}
    if reason not in rp.hold_reasons:
        errors["reason"] = [f"must be one of {', '.join(rp.hold_reasons)} (policies/retention.yaml hold_reasons)"]
    if record_type is not None and record_ids:
        errors["record_ids"] = ["give record_type or record_ids, not both"]
    if record_type is not None and record_type not in policy.catalog.record_types:
        errors["record_type"] = [f"must be one of {', '.join(sorted(policy.catalog.record_types))}"]
    if until is not None and (until.tzinfo is None or as_utc(until) <= now):
        errors["until"] = ["must be a future time with a time zone offset"]
    errors.update(free_text_errors({"note": note, "owner": owner}))  # the console and the CLI reach here without the API's schema
    if errors:
        raise validation_failed(errors)
    subject = subjects.get_or_raise(session=session, subject_id=subject_id)
    if record_ids:
        found = set(session.scalars(select(Record.id).where(Record.subject_id == subject.id, Record.id.in_(record_ids))))
        unknown = [r for r in record_ids if r not in found]
        if unknown:
            raise validation_failed({"record_ids": [f"{len(unknown)} id(s) are not records of this subject"]})
    scope = "records" if record_ids else "record_type" if record_type else "subject"
    hold = Hold(
        id=uuid.uuid4(), subject_id=subject.id, scope=scope, record_type=record_type, reason=reason, note=note,
        owner=owner or actor.name, until=as_utc(until) if until else None, created_by=actor.name, created_at=now,
    )
    session.add(hold)
    session.flush()  # the hold row must exist before its record rows reference it
    for rid in record_ids:
        session.add(HoldRecord(hold_id=hold.id, record_id=rid))
    audit.append(
        session=session, actor=actor, action=RetentionAction.HOLD_PLACE, subject_id=subject.id, resource=f"hold:{hold.id}", reason=reason,
        field_names=[f"record:{record_type}"] if record_type else [],
    )
    return hold


def get_hold(*, session: Session, hold_id: uuid.UUID) -> Hold:
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise not_found("hold")
    return hold


def hold_record_ids(*, session: Session, hold_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(HoldRecord.record_id).where(HoldRecord.hold_id == hold_id).order_by(HoldRecord.record_id)))


def lift_hold(*, session: Session, actor: Actor, hold_id: uuid.UUID, reason: str | None = None, now: datetime | None = None) -> Hold:
    """Lifts a hold (audited); what it protected becomes purgeable by the next plan."""
    hold = get_hold(session=session, hold_id=hold_id)
    if hold.lifted_at is not None:
        raise Conflict("hold_already_lifted", "Hold already lifted", "This hold was lifted before.")
    if errors := free_text_errors({"reason": reason}):
        raise validation_failed(errors)
    hold.lifted_at, hold.lifted_by, hold.lift_reason = now or utcnow(), actor.name, reason
    audit.append(session=session, actor=actor, action=RetentionAction.HOLD_LIFT, subject_id=hold.subject_id, resource=f"hold:{hold.id}", reason=hold.reason)
    return hold


def list_holds(*, session: Session, subject_id: uuid.UUID | None = None, active_only: bool = False, now: datetime | None = None, limit: int = 500) -> list[Hold]:
    query = select(Hold).order_by(Hold.created_at.desc(), Hold.id).limit(limit)
    if subject_id is not None:
        query = query.where(Hold.subject_id == subject_id)
    if active_only:
        query = query.where(active_hold(now or utcnow()))
    return list(session.scalars(query))


# --- plans ----------------------------------------------------------------------------------------


@dataclass
class PlanResult:
    summary: dict[str, Any]
    plan: Plan | None  # None for a dry run that was not saved


def _subject_held(now: datetime) -> ColumnElement[bool]:
    return exists().where(Hold.subject_id == Subject.id, Hold.scope == "subject", active_hold(now))


def _record_held(now: datetime) -> ColumnElement[bool]:
    by_type = exists().where(Hold.subject_id == Record.subject_id, Hold.scope == "record_type", Hold.record_type == Record.type, active_hold(now))
    by_id = exists().where(HoldRecord.record_id == Record.id, Hold.id == HoldRecord.hold_id, active_hold(now))
    return or_(_subject_held(now), by_type, by_id)


def _closure_time() -> ColumnElement:
    """When a closed account was closed (closed_at; the last change for rows closed before the column existed)."""
    return case((Subject.status == "closed", func.coalesce(Subject.closed_at, Subject.updated_at)), else_=null())


def _uncovered_after_withdrawal(policy: Policy, target: str, name: str, cutoff: datetime) -> ColumnElement[bool] | None:
    """The condition under which one field or record type of a subject (`Subject` in the query) has no basis left
    since a consent was withdrawn at or before `cutoff`: a consent purpose using it was withdrawn, none using it is in
    force (read through the consent registry), and no purpose on another basis covers it for that subject (one of
    its `other_bases` records is held). Per jurisdiction, as each purpose's basis may differ by jurisdiction. None
    when no consent purpose uses it anywhere."""
    rule = policy.retention.consent_withdrawn
    assert rule is not None
    groups: dict[tuple[frozenset[str], frozenset[str]], list[str]] = {}
    for jurisdiction in sorted(policy.jurisdictions):
        users = [p for p in policy.purposes.values() if name in (p.fields if target == "fields" else p.record_types)]
        by_consent = frozenset(p.name for p in users if p.basis_for(jurisdiction) == "consent")
        if not by_consent:
            continue
        evidence = frozenset(t for p in users if p.basis_for(jurisdiction) != "consent" for t in rule.other_bases.get(p.name, ()))
        groups.setdefault((by_consent, evidence), []).append(jurisdiction)
    if not groups:
        return None
    evidence_record = aliased(Record)
    alternatives = []
    for (by_consent, evidence), jurisdictions in sorted(groups.items(), key=lambda kv: kv[1]):
        cond = [Subject.jurisdiction.in_(jurisdictions), withdrawals.withdrawn_and_none_in_force(Subject.id, by_consent, cutoff)]
        if evidence:
            cond.append(~exists().where(evidence_record.subject_id == Subject.id, evidence_record.type.in_(sorted(evidence))))
        alternatives.append(and_(*cond))
    return or_(*alternatives)


def _kept_by_obligation(rp: RetentionPolicy, rule: RetentionRule, now: datetime) -> ColumnElement[bool] | None:
    """The items of the rule's query (`ProfileField` or `Record`, joined to `Subject`) that a legal obligation of the
    subject's jurisdiction (and member state) still keeps (retention.yaml `obligations`); None when none covers them."""
    column = ProfileField.name if rule.target == "fields" else Record.type
    kept = []
    for o in rp.obligations:
        names = o.names & rule.names
        if o.target != rule.target or not names:
            continue
        cutoff = o.keep.cutoff(now)
        if o.counted_from == "end_of_year":
            # Counted from the end of the calendar year it occurred in: running while that year-end is after the
            # cutoff, i.e. while it occurred on or after 1 January of the cutoff's year.
            running = Record.occurred_at >= datetime(cutoff.year, 1, 1, tzinfo=cutoff.tzinfo)
        elif rule.target == "fields":
            running = ProfileField.collected_at > cutoff
        else:
            running = (Record.created_at if o.counted_from == "collection" else Record.occurred_at) > cutoff
        where = [column.in_(sorted(names)), Subject.jurisdiction.in_(sorted(o.jurisdictions)), running]
        if o.member_states is not None:
            where.append(func.coalesce(Subject.member_state, "").in_(sorted(o.member_states)))
        kept.append(and_(*where))
    return or_(*kept) if kept else None


def _branches(rp: RetentionPolicy, now: datetime, policy: Policy | None = None) -> list:
    """One SELECT per rule: (subject_id, kind, field_name, record_id, record_type, rule, held) for each item due."""
    last_record = (
        select(Record.subject_id.label("sid"), func.max(Record.occurred_at).label("at")).group_by(Record.subject_id).subquery("last_record")
    )
    last_interaction = case((last_record.c.at > Subject.updated_at, last_record.c.at), else_=Subject.updated_at)
    closed_expired = and_(Subject.status == "closed", _closure_time() <= rp.closed_accounts_keep.cutoff(now))
    branches = []
    for rule in rp.rules.values():
        cutoff = rule.keep.cutoff(now)
        if rule.target == "fields":
            anchor = {"collection": ProfileField.updated_at, "last_interaction": last_interaction, "account_closure": _closure_time()}[rule.counted_from]
            base = select().select_from(ProfileField).join(Subject, Subject.id == ProfileField.subject_id)
            member = ProfileField.name.in_(sorted(rule.names))
            cols = [
                ProfileField.subject_id.label("subject_id"), literal(FIELD, BigInteger).label("kind"), ProfileField.name.label("field_name"),
                cast(null(), Uuid).label("record_id"), cast(null(), String(64)).label("record_type"),
            ]
            held = _subject_held(now)
        else:
            anchor = {
                "collection": Record.created_at, "occurred_at": Record.occurred_at, "last_interaction": last_interaction,
                "account_closure": _closure_time(),
            }[rule.counted_from]
            base = select().select_from(Record).join(Subject, Subject.id == Record.subject_id)
            member = Record.type.in_(sorted(rule.names))
            cols = [
                Record.subject_id.label("subject_id"), literal(RECORD, BigInteger).label("kind"), cast(null(), String(64)).label("field_name"),
                Record.id.label("record_id"), Record.type.label("record_type"),
            ]
            held = _record_held(now)
        if rule.counted_from == "last_interaction":
            base = base.outerjoin(last_record, last_record.c.sid == Subject.id)
        due_own = anchor <= cutoff
        due = or_(due_own, closed_expired) if rule.on_account_closure == "purge" else due_own
        kept = _kept_by_obligation(rp, rule, now)
        if kept is not None:
            due = and_(due, case((kept, 1), else_=0) == 0)
        which = case((due_own, literal(rule.name, String(64))), else_=literal(CLOSED_ACCOUNTS, String(64))) if rule.on_account_closure == "purge" else literal(rule.name, String(64))
        branches.append(
            base.add_columns(*cols, which.label("rule"), case((held, 1), else_=0).label("held")).where(member, due)
        )
        if policy is None or rp.consent_withdrawn is None or rule.on_account_closure == "keep":
            continue  # a law obliges keeping it while its own period runs: a withdrawal does not end that
        withdrawn_cutoff = rp.consent_withdrawn.keep.cutoff(now)
        name_col = ProfileField.name if rule.target == "fields" else Record.type
        uncovered = [(n, c) for n in sorted(rule.names) if (c := _uncovered_after_withdrawal(policy, rule.target, n, withdrawn_cutoff)) is not None]
        if uncovered:
            # One pass over the rule's items (not one per name): each name with its own condition.
            branches.append(
                base.add_columns(*cols, literal(CONSENT_WITHDRAWN, String(64)).label("rule"), case((held, 1), else_=0).label("held")).where(
                    name_col.in_([n for n, _ in uncovered]), case((due, 1), else_=0) == 0,
                    *([case((kept, 1), else_=0) == 0] if kept is not None else []),
                    or_(*[and_(name_col == n, c) for n, c in uncovered]),
                )
            )
    return branches


def _next_seq(session: Session, plan_id: uuid.UUID) -> int:
    return session.scalar(select(func.coalesce(func.max(PlanItem.seq), 0)).where(PlanItem.plan_id == plan_id)) or 0


def _materialise(session: Session, plan_id: uuid.UUID, rp: RetentionPolicy, now: datetime, policy: Policy | None = None) -> dict[tuple[str, int, int], int]:
    """Writes the plan's items in two INSERT … SELECTs (all in the database, whatever the size); returns the counts
    per (rule, kind, held)."""
    due = union_all(*_branches(rp, now, policy)).subquery("due")
    counts = {
        (rule, int(kind), int(held)): int(n)
        for rule, kind, held, n in session.execute(select(due.c.rule, due.c.kind, due.c.held, func.count()).group_by(due.c.rule, due.c.kind, due.c.held))
    }
    order = func.row_number().over(order_by=(due.c.subject_id, due.c.kind, due.c.field_name, due.c.record_id))
    session.execute(
        insert(PlanItem).from_select(
            ["plan_id", "seq", "kind", "subject_id", "field_name", "record_id", "record_type", "rule"],
            select(literal(plan_id, Uuid), order, due.c.kind, due.c.subject_id, due.c.field_name, due.c.record_id, due.c.record_type, due.c.rule)
            .where(due.c.held == 0),
        )
    )
    # A subject all of whose data is due (and nothing of it held) is shredded once its items are gone.
    planned = select(PlanItem.subject_id.label("sid"), func.count().label("n")).where(PlanItem.plan_id == plan_id).group_by(PlanItem.subject_id).subquery()
    n_fields = select(ProfileField.subject_id.label("sid"), func.count().label("n")).group_by(ProfileField.subject_id).subquery()
    n_records = select(Record.subject_id.label("sid"), func.count().label("n")).group_by(Record.subject_id).subquery()
    any_hold = exists().where(Hold.subject_id == Subject.id, active_hold(now))
    closed_expired = and_(Subject.status == "closed", _closure_time() <= rp.closed_accounts_keep.cutoff(now))
    offset = _next_seq(session, plan_id)
    shred_rule = case((closed_expired, literal(CLOSED_ACCOUNTS, String(64))), else_=literal(LEFT_EMPTY, String(64)))
    session.execute(
        insert(PlanItem).from_select(
            ["plan_id", "seq", "kind", "subject_id", "rule"],
            select(literal(plan_id, Uuid), literal(offset, BigInteger) + func.row_number().over(order_by=Subject.id), literal(SHRED, BigInteger), Subject.id, shred_rule)
            .select_from(Subject)
            .outerjoin(planned, planned.c.sid == Subject.id)
            .outerjoin(n_fields, n_fields.c.sid == Subject.id)
            .outerjoin(n_records, n_records.c.sid == Subject.id)
            .where(
                func.coalesce(planned.c.n, 0) == func.coalesce(n_fields.c.n, 0) + func.coalesce(n_records.c.n, 0),
                ~any_hold,
            ),
        )
    )
    held_subjects = session.scalar(
        select(func.count()).select_from(Subject).where(closed_expired, any_hold)
    )
    counts[(CLOSED_ACCOUNTS, SHRED, 1)] = int(held_subjects or 0)
    for rule, n in session.execute(select(PlanItem.rule, func.count()).where(PlanItem.plan_id == plan_id, PlanItem.kind == SHRED).group_by(PlanItem.rule)):
        counts[(rule, SHRED, 0)] = int(n)
    return counts


def _samples(session: Session, plan_id: uuid.UUID, rules: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule in rules:
        seen: list[str] = []
        for sid in session.scalars(select(PlanItem.subject_id).where(PlanItem.plan_id == plan_id, PlanItem.rule == rule).order_by(PlanItem.seq).limit(200)):
            if str(sid) not in seen:
                seen.append(str(sid))
            if len(seen) == SAMPLE_SIZE:
                break
        out[rule] = seen
    return out


def _rule_entry(rule: RetentionRule | None, name: str, rp: RetentionPolicy) -> dict[str, Any]:
    if rule is None:
        if name == CLOSED_ACCOUNTS:
            return {
                "rule": name, "target": "closed_accounts", "covers": [], "keep": str(rp.closed_accounts_keep), "counted_from": "account_closure",
                "legal_basis": {"code": rp.closed_accounts_code, "text": rp.closed_accounts_text},
            }
        if name == CONSENT_WITHDRAWN and rp.consent_withdrawn is not None:
            w = rp.consent_withdrawn
            return {
                "rule": name, "target": "consent_withdrawn", "covers": [], "keep": str(w.keep), "counted_from": "consent_withdrawn",
                "legal_basis": {"code": w.legal_basis_code, "text": w.legal_basis_text},
            }
        return {"rule": name, "target": "subjects", "covers": [], "keep": None, "counted_from": None,
                "legal_basis": {"code": "PIPL-47", "text": "PIPL Art. 47: a subject with no data left is erased entirely"}}
    return {
        "rule": rule.name, "target": rule.target, "covers": sorted(rule.names), "keep": str(rule.keep), "counted_from": rule.counted_from,
        "on_account_closure": rule.on_account_closure, "legal_basis": {"code": rule.legal_basis_code, "text": rule.legal_basis_text},
    }


def _summary(rp: RetentionPolicy, now: datetime, counts: dict[tuple[str, int, int], int], samples: dict[str, list[str]]) -> dict[str, Any]:
    names = [*rp.rules, CLOSED_ACCOUNTS, *([CONSENT_WITHDRAWN] if rp.consent_withdrawn is not None else []), LEFT_EMPTY]
    rules = []
    totals = {"fields": 0, "records": 0, "subjects": 0, "held_fields": 0, "held_records": 0, "held_subjects": 0}
    for name in names:
        entry = _rule_entry(rp.rules.get(name), name, rp)
        due = {"fields": counts.get((name, FIELD, 0), 0), "records": counts.get((name, RECORD, 0), 0), "subjects": counts.get((name, SHRED, 0), 0)}
        held = {"fields": counts.get((name, FIELD, 1), 0), "records": counts.get((name, RECORD, 1), 0), "subjects": counts.get((name, SHRED, 1), 0)}
        entry.update(due=due, held=held, sample_subject_ids=samples.get(name, []))
        for k in ("fields", "records", "subjects"):
            totals[k] += due[k]
            totals[f"held_{k}"] += held[k]
        rules.append(entry)
    return {"as_of": now.isoformat(), "policy_digest": rp.digest, "rules": rules, "totals": totals}


def make_plan(
    *, session: Session, policy: Policy, actor: Actor, save: bool, now: datetime | None = None, note: str | None = None, unattended: bool = False,
) -> PlanResult:
    """Per rule: how many fields, records and subjects are due and how many are held back, with sample subject ids.

    With save=False it is a dry run: computed inside a savepoint that is rolled back, so it changes nothing.
    With save=True the plan and its exact items are kept for review and approval (and audited).
    """
    rp = policy.retention
    if save and not unattended and not is_authenticated_person(actor):
        raise _not_a_person(RetentionAction.PLAN_CREATE, "The maker of a plan")
    now = now or utcnow()
    if note is not None and len(note) > 500:
        raise validation_failed({"note": ["at most 500 characters"]})
    if errors := free_text_errors({"note": note}):  # `govern retention plan --note` reaches here without the API's schema
        raise validation_failed(errors)
    plan = Plan(
        id=uuid.uuid4(), status="draft", as_of=now, policy_digest=rp.digest, summary={}, items=0, unattended=unattended,
        created_by=actor.name, created_by_id=actor.principal_id, created_at=utcnow(), note=note,
    )
    if session.get_bind().dialect.name == "postgresql":
        # The plan is one large UNION; JIT-compiling it costs seconds and saves nothing on a single pass.
        session.execute(text("SET LOCAL jit = off"))
    nested = session.begin_nested()
    try:
        if save:
            _expire_stale_plans(session, rp, now)
        session.add(plan)
        session.flush()  # the plan row must exist before its items reference it
        counts = _materialise(session, plan.id, rp, now, policy)
        summary = _summary(rp, now, counts, _samples(session, plan.id, [*rp.rules, CLOSED_ACCOUNTS, CONSENT_WITHDRAWN, LEFT_EMPTY]))
        if not save:
            nested.rollback()
            return PlanResult(summary=summary, plan=None)
        plan.summary = summary
        plan.items = session.scalar(select(func.count()).select_from(PlanItem).where(PlanItem.plan_id == plan.id)) or 0
        nested.commit()
    except BaseException:
        if nested.is_active:
            nested.rollback()
        raise
    totals = summary["totals"]
    audit.append(
        session=session, actor=actor, action=RetentionAction.PLAN_CREATE, resource=f"retention_plan:{plan.id}",
        reason=f"f={totals['fields']} r={totals['records']} s={totals['subjects']}"[:64],
    )
    return PlanResult(summary=summary, plan=plan)


def _expire_stale_plans(session: Session, rp: RetentionPolicy, now: datetime) -> None:
    """Plans never executed within plan_valid_for are expired and their items dropped (they only describe the past)."""
    limit = rp.plan_valid_for.cutoff(now)
    stale = list(session.scalars(
        select(Plan.id).where(Plan.status.in_(("draft", "approved")), Plan.as_of < limit, ~exists().where(Run.plan_id == Plan.id))
    ))
    if stale:
        session.execute(delete(PlanItem).where(PlanItem.plan_id.in_(stale)))
        session.execute(update(Plan).where(Plan.id.in_(stale)).values(status="expired"))


def plan_status(plan: Plan, rp: RetentionPolicy, now: datetime | None = None) -> str:
    """The stored status, or `expired` for a draft or approved plan past plan_valid_for."""
    if plan.status in ("draft", "approved") and as_utc(plan.as_of) < rp.plan_valid_for.cutoff(now or utcnow()):
        return "expired"
    return plan.status


def get_plan(*, session: Session, plan_id: uuid.UUID) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise not_found("retention plan")
    return plan


def list_plans(*, session: Session, limit: int = 100) -> list[Plan]:
    return list(session.scalars(select(Plan).order_by(Plan.created_at.desc()).limit(limit)))


# --- the queue of purge plans a DPO works from (issue 19 item 1) -----------------------------------------------------

PLAN_STATUSES = ("draft", "approved", "executed", "expired")
PLAN_GROUPS = {"awaiting": ("draft", "approved"), "all": PLAN_STATUSES}
# Whom a plan may be assigned to, and who may assign it: the staff who approve and run plans in the console.
WORKS_THE_PLANS = Permission.CONSOLE_RETENTION_APPROVE


@dataclass(frozen=True)
class PlanFilters:
    state: str = "awaiting"  # a plan status, or awaiting (approval or a run) / all
    created_from: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None  # a plan id
    assignee: str | None = None  # "me", "none" or a principal id


@dataclass(frozen=True)
class PlanRow:
    plan: Plan
    status: str  # as plan_status tells it: a stale draft reads expired
    expires_at: datetime | None  # when a draft or approved plan can no longer run (plan_valid_for after as_of)
    seconds_left: int | None
    assignee: assignees.Assignee | None = None  # who works it, found whether or not the account is still active


def plan_queue(
    *, session: Session, policy: Policy, filters: PlanFilters, cursor: str | None = None, limit: int = 50, now: datetime | None = None,
    actor: Actor | None = None,
) -> tuple[list[PlanRow], str | None]:
    """One page of purge plans, newest first (ties by id), each with the time left before it expires unrun and its
    assignee, and the cursor of the next page (None on the last). A draft or approved plan past plan_valid_for counts
    as expired here as everywhere (plan_status), whether or not the sweep has stored it yet. The assignee filter's
    "me" is `actor`."""
    now = as_utc(now) if now else utcnow()
    rp = policy.retention
    errors: dict[str, list[str]] = {}
    if filters.state not in PLAN_GROUPS and filters.state not in PLAN_STATUSES:
        errors["state"] = [f"one of {', '.join((*PLAN_GROUPS, *PLAN_STATUSES))}"]
    if assignee_errors := assignees.filter_errors(filters.assignee):
        errors["assignee"] = assignee_errors
    elif filters.assignee == "me" and actor is None:
        errors["assignee"] = ["'me' needs a signed-in staff member"]
    plan_id: uuid.UUID | None = None
    if filters.search:
        try:
            plan_id = uuid.UUID(filters.search.strip())
        except ValueError:
            errors["search"] = ["a plan id"]
    if errors:
        raise validation_failed(errors)
    cutoff = rp.plan_valid_for.cutoff(now)
    live, stale = Plan.as_of >= cutoff, Plan.as_of < cutoff
    wanted = PLAN_GROUPS.get(filters.state, (filters.state,))
    conditions = [and_(Plan.status.in_([s for s in wanted if s in ("draft", "approved")]), live)]
    if "executed" in wanted:
        conditions.append(Plan.status == "executed")
    if "expired" in wanted:
        conditions.append(or_(Plan.status == "expired", and_(Plan.status.in_(("draft", "approved")), stale)))
    query = select(Plan).where(or_(*conditions))
    query = paging.within(query, Plan.created_at, filters.created_from, filters.created_before)
    if plan_id is not None:
        query = query.where(Plan.id == plan_id)
    if filters.assignee is not None:
        # Only "me" reads the actor, and "me" without one was refused above.
        query = assignees.where_assigned(query, Plan.assignee_id, filters.assignee, actor or Actor(name="nobody", kind="system"))
    found, next_cursor = paging.latest_first(session, query, Plan.created_at, Plan.id, cursor, limit)
    rows = []
    for plan in found:
        status = plan_status(plan, rp, now)
        expires = rp.plan_valid_for.end(as_utc(plan.as_of)) if status in ("draft", "approved") else None
        rows.append(PlanRow(plan, status, expires, int((expires - now).total_seconds()) if expires else None,
                            assignees.assignee_of(session=session, principal_id=plan.assignee_id)))
    return rows, next_cursor


def plan_is_open(*, session: Session, plan: Plan, rp: RetentionPolicy, now: datetime | None = None) -> bool:
    """Whether a plan still has work: a draft to approve, an approved plan to run, or a run to resume. One that has
    run, or expired without a run to resume, is finished."""
    if plan_status(plan, rp, now) in ("draft", "approved"):
        return True
    return any(run.status != "completed" for run in runs_of(session=session, plan_id=plan.id))


def assign_plan(
    *, session: Session, policy: Policy, actor: Actor, plan_id: uuid.UUID, assignee_id: uuid.UUID | None, now: datetime | None = None,
) -> Plan:
    """Sets (or clears, None) the staff member working a plan: an active staff account whose roles approve and run
    plans; refused (409) once the plan is finished. Audited."""
    now = as_utc(now) if now else utcnow()
    plan = session.get(Plan, plan_id, with_for_update=True)
    if plan is None:
        raise not_found("retention plan")
    if not plan_is_open(session=session, plan=plan, rp=policy.retention, now=now):
        status = plan_status(plan, policy.retention, now)
        raise Conflict("plan_finished", "Plan finished", f"The plan is {status}: nobody works it any more.")
    assignees.staff_to_assign(session=session, principal_id=assignee_id, policy=policy, permission=WORKS_THE_PLANS)
    plan.assignee_id = assignee_id
    audit.append(session=session, actor=actor, action=RetentionAction.PLAN_ASSIGN, resource=f"retention_plan:{plan.id}",
                 reason=str(assignee_id) if assignee_id else "unassigned")
    return plan


def is_authenticated_person(actor: Actor) -> bool:
    """A staff principal, authenticated by the console, the API or a staff credential at the command line. Not the
    OS account of `govern` (Actor.operator()): a name anyone at the shell sets through $USER."""
    return actor.kind == "staff" and actor.principal_id is not None


def same_person(actor: Actor, principal_id: uuid.UUID | None) -> bool:
    """Compared by principal id, never by name: two accounts may not share a name, but a name is not who signed."""
    return principal_id is None or actor.principal_id == principal_id


def _not_a_person(action: str, what: str) -> Problem:
    return Forbidden(
        "staff_identity_required", "Authenticated staff member required",
        f"{what} is one of two people and must be an authenticated staff member (the console, a staff API key, or "
        "`--as NAME` with that person's password at the command line), not an operating-system account.",
        extra={"reason": "staff_identity_required"}, audit=Refusal(action=action, reason="staff_identity_required"),
    )


def approve_plan(*, session: Session, policy: Policy, actor: Actor, plan_id: uuid.UUID, now: datetime | None = None) -> Plan:
    """A second person approves a saved plan; the one who made it cannot. Only then may it be executed. Both are
    authenticated staff principals, told apart by principal id."""
    rp = policy.retention
    if not is_authenticated_person(actor):
        raise _not_a_person(RetentionAction.PLAN_APPROVE, "The approver")
    plan = get_plan(session=session, plan_id=plan_id)
    status = plan_status(plan, rp, now)
    if plan.created_by_id is None:
        # Made before plans required a staff identity (or by an OS account): nobody can vouch it was another person.
        raise Conflict(
            "plan_maker_unauthenticated", "Plan cannot be approved",
            "This plan was not made by an authenticated staff member, so a second person cannot be told apart from its maker; make a new plan.",
            extra={"reason": "plan_maker_unauthenticated"},
            audit=Refusal(action=RetentionAction.PLAN_APPROVE, reason="plan_maker_unauthenticated"),
        )
    if same_person(actor, plan.created_by_id):
        raise Forbidden(
            "approver_is_creator", "Approval refused", "A plan must be approved by someone other than the person who made it.",
            extra={"reason": "approver_is_creator"},
            audit=Refusal(action=RetentionAction.PLAN_APPROVE, reason="approver_is_creator"),
        )
    if status != "draft":
        raise Conflict("plan_not_draft", "Plan cannot be approved", f"The plan is {status}; only a draft plan can be approved.")
    if plan.policy_digest != rp.digest:
        raise Conflict("policy_changed", "Retention policy changed", "policies/retention.yaml changed since this plan was made; make a new plan.")
    plan.status, plan.approved_by, plan.approved_by_id, plan.approved_at = "approved", actor.name, actor.principal_id, now or utcnow()
    # Both people in the hashed event: the approver as its actor, the maker by principal id.
    audit.append(session=session, actor=actor, action=RetentionAction.PLAN_APPROVE, resource=f"retention_plan:{plan.id}", reason=f"maker={plan.created_by_id}")
    return plan


def record_refusal(*, session: Session, actor: Actor, refusal: Refusal) -> None:
    """For the command line: keep a refused act in the audit log (the API does this in app.py)."""
    audit.append(session=session, actor=actor, action=refusal.action, outcome=Outcome(refusal.outcome), reason=refusal.reason)


# --- runs -----------------------------------------------------------------------------------------


def list_runs(*, session: Session, limit: int = 100) -> list[Run]:
    return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def purge_volumes(*, session: Session, since: date, until: date, zone: tzinfo = timezone.utc) -> dict[date, dict[str, int]]:
    """Fields, records and subjects purged per week (Monday first, days in `zone`: the console passes the policy's time
    zone) by the runs that finished in [since, until]: counts only, for the console's charts (issue 19 item 5)."""
    start, end = figures.span(since, until, zone)
    out = {w: {"fields": 0, "records": 0, "subjects": 0} for w in figures.weeks(since, until)}
    for finished_at, counts in session.execute(select(Run.finished_at, Run.counts).where(Run.finished_at >= start, Run.finished_at < end)):
        week = out[figures.week_of(as_utc(finished_at), zone)]
        for kind in week:
            week[kind] += int((counts or {}).get(kind, 0))
    return out


def runs_of(*, session: Session, plan_id: uuid.UUID) -> list[Run]:
    """The runs of one plan (at most one: a plan is executed once, an interrupted run resumed), newest first."""
    return list(session.scalars(select(Run).where(Run.plan_id == plan_id).order_by(Run.started_at.desc())))


def get_run(*, session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise not_found("purge run")
    return run
