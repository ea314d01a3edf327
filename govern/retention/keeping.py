"""What an erasure, an account closure or a purge must leave in place, until when and under which law: the legal
obligations of retention.yaml (`obligations`) that apply to the subject's jurisdiction (and member state) — an EU
subject's invoices are never kept on a PRC statute — and rules that a law obliges the company to keep for their full
period (`on_account_closure: keep`), while their period runs; where several apply to one item, the one that runs
longest is cited. Active legal holds keep everything they cover. Every period is counted by `RetentionPeriod` (the
one arithmetic, as the purge's own query counts it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from govern.policy import Policy
from govern.retention import service as retention
from govern.retention.policy import RetentionPolicy, RetentionRule
from govern.subjects import erasure
from govern.subjects import facts as subjects
from govern.subjects import rights as subject_rights
from govern.timeutil import as_utc


@dataclass(frozen=True)
class Kept:
    what: str  # "field:<name>" or "record:<type>"
    reason: str
    legal_basis: str
    until: str | None  # ISO date (the last day kept), or None while a hold lasts


def _kept_by_law(rule: RetentionRule | None, start: datetime, now: datetime) -> Kept | None:
    """The rule's obligation to keep an item counted from `start`, while its period runs; None when there is none."""
    if rule is None or rule.on_account_closure != "keep" or rule.keep.end(start) <= now:
        return None
    return Kept("", rule.name, rule.legal_basis_text, rule.keep.last_day(start).isoformat())


def _kept(rp: RetentionPolicy, target: str, name: str, occurred: datetime, created: datetime, rule_start: datetime,
          jurisdiction: str, member_state: str | None, now: datetime) -> Kept | None:
    """The longest-running obligation to keep one item (a field collected, or a record that occurred, at `occurred`):
    the jurisdiction's obligations and the rule's own `keep`; None when none runs at `now`."""
    rules = rp.field_rules if target == "fields" else rp.record_rules
    found: list[tuple[datetime, Kept]] = []
    rule = rules.get(name)
    legacy = _kept_by_law(rule, rule_start, now)
    if legacy is not None and rule is not None:
        found.append((rule.keep.end(rule_start), legacy))
    for obligation in rp.obligations_for(target, name):
        if not obligation.applies(jurisdiction, member_state):
            continue
        start = obligation.start(occurred, created)
        end = obligation.keep.end(start)
        if end > now:
            found.append((end, Kept("", obligation.name, obligation.citation(), (end - timedelta(microseconds=1)).date().isoformat())))
    return max(found, key=lambda f: f[0])[1] if found else None


def what_must_be_kept(*, session: Session, policy: Policy, subject_id: uuid.UUID, now: datetime) -> tuple[dict[str, Kept], dict[uuid.UUID, Kept]]:
    """Fields (by name) and records (by id) an erasure of the subject must leave, each with why and until when."""
    inv = subject_rights.inventory(session=session, subject_id=subject_id)
    fields: dict[str, Kept] = {}
    records: dict[uuid.UUID, Kept] = {}
    rp = policy.retention
    if rp is not None:
        subject = subjects.get_or_raise(session=session, subject_id=subject_id)
        where = (subject.jurisdiction, subject.member_state)
        for name, collected in inv.fields:
            rule = rp.field_rules.get(name)
            start = collected if rule is not None and rule.counted_from == "collection" else now
            kept = _kept(rp, "fields", name, collected, collected, start, *where, now)
            if kept is not None:
                fields[name] = Kept(f"field:{name}", kept.reason, kept.legal_basis, kept.until)
        for rid, rtype, occurred, created in inv.records:
            rule = rp.record_rules.get(rtype)
            start = now if rule is None else occurred if rule.counted_from == "occurred_at" else created if rule.counted_from == "collection" else now
            kept = _kept(rp, "record_types", rtype, occurred, created, start, *where, now)
            if kept is not None:
                records[rid] = Kept(f"record:{rtype}", kept.reason, kept.legal_basis, kept.until)
    for hold in retention.list_holds(session=session, subject_id=subject_id, active_only=True, now=now):
        why = Kept("", f"legal_hold:{hold.reason}", f"legal hold {hold.id} ({hold.reason})", as_utc(hold.until).date().isoformat() if hold.until else None)
        if hold.scope == "subject":
            for name, _ in inv.fields:
                fields[name] = Kept(f"field:{name}", why.reason, why.legal_basis, why.until)
            held = {rid for rid, *_ in inv.records}
        elif hold.scope == "record_type":
            held = {rid for rid, rtype, *_ in inv.records if rtype == hold.record_type}
        else:
            held = set(retention.hold_record_ids(session=session, hold_id=hold.id))
        types = {rid: rtype for rid, rtype, *_ in inv.records}
        for rid in held & set(types):
            records[rid] = Kept(f"record:{types[rid]}", why.reason, why.legal_basis, why.until)
    return fields, records


@dataclass(frozen=True)
class NothingKept:
    """What a subject holds when nothing of it must be kept: its field names and the record types it holds."""

    fields: list[str]
    record_types: list[str]


def nothing_to_keep(*, session: Session, policy: Policy, subject_id: uuid.UUID, now: datetime) -> NothingKept | None:
    """Decides in a fixed number of statements whatever the subject holds (a hold, a kept field, one index probe per
    record type) that nothing of it must be kept, so that its key can go as fast for 100,000 records as for 10; None
    when something may have to be kept (then `what_must_be_kept` weighs every record)."""
    if retention.list_holds(session=session, subject_id=subject_id, active_only=True, now=now, limit=1):
        return None
    fields = erasure.fields_held(session=session, subject_id=subject_id)
    newest = erasure.newest_records(session=session, subject_id=subject_id, types=policy.catalog.record_types)
    rp = policy.retention
    if rp is not None:
        subject = subjects.get_or_raise(session=session, subject_id=subject_id)
        where = (subject.jurisdiction, subject.member_state)
        for name, collected in fields:
            rule = rp.field_rules.get(name)
            if rule is not None and _kept_by_law(rule, collected if rule.counted_from == "collection" else now, now) is not None:
                return None
            if _kept(rp, "fields", name, collected, collected, now, *where, now) is not None:
                return None
        for rtype, occurred in newest.items():
            for obligation in rp.obligations_for("record_types", rtype):
                if obligation.applies(*where) and (
                    obligation.counted_from == "collection" or obligation.keep.end(obligation.start(occurred, occurred)) > now
                ):
                    return None  # kept, or (counted from collection) only every record's own date can tell
            rule = rp.record_rules.get(rtype)
            if rule is None or rule.on_account_closure != "keep":
                continue
            if rule.counted_from == "collection" or _kept_by_law(rule, occurred if rule.counted_from == "occurred_at" else now, now) is not None:
                return None  # kept, or (counted from collection) only every record's own date can tell
    return NothingKept(fields=sorted(n for n, _ in fields), record_types=sorted(newest))
