"""What an erasure, an account closure or a purge must leave in place, until when and under which law: retention.yaml
rules that a law obliges the company to keep for their full period (`on_account_closure: keep`) while that period
runs, and active legal holds. Every period is counted by `RetentionPeriod` (the one arithmetic, as the purge's own
query counts it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from govern.policy import Policy
from govern.retention import service as retention
from govern.retention.policy import RetentionRule
from govern.subjects import erasure
from govern.subjects import service as subjects
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


def what_must_be_kept(*, session: Session, policy: Policy, subject_id: uuid.UUID, now: datetime) -> tuple[dict[str, Kept], dict[uuid.UUID, Kept]]:
    """Fields (by name) and records (by id) an erasure of the subject must leave, each with why and until when."""
    inv = subjects.inventory(session=session, subject_id=subject_id)
    fields: dict[str, Kept] = {}
    records: dict[uuid.UUID, Kept] = {}
    rp = policy.retention
    if rp is not None:
        for name, collected in inv.fields:
            rule = rp.field_rules.get(name)
            kept = _kept_by_law(rule, collected if rule is not None and rule.counted_from == "collection" else now, now)
            if kept is not None:
                fields[name] = Kept(f"field:{name}", kept.reason, kept.legal_basis, kept.until)
        for rid, rtype, occurred, created in inv.records:
            rule = rp.record_rules.get(rtype)
            start = now if rule is None else occurred if rule.counted_from == "occurred_at" else created if rule.counted_from == "collection" else now
            kept = _kept_by_law(rule, start, now)
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
        for name, collected in fields:
            rule = rp.field_rules.get(name)
            if rule is not None and _kept_by_law(rule, collected if rule.counted_from == "collection" else now, now) is not None:
                return None
        for rtype, occurred in newest.items():
            rule = rp.record_rules.get(rtype)
            if rule is None or rule.on_account_closure != "keep":
                continue
            if rule.counted_from == "collection" or _kept_by_law(rule, occurred if rule.counted_from == "occurred_at" else now, now) is not None:
                return None  # kept, or (counted from collection) only every record's own date can tell
    return NothingKept(fields=sorted(n for n, _ in fields), record_types=sorted(newest))
