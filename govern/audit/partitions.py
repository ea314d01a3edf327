"""The partitions of audit_events on PostgreSQL (migration 0030): one per period (policies/audit.yaml `partitions`,
monthly by default) in the schema audit_partitions, and a default partition for any event no period partition covers.

`ensure_ahead` creates the partitions of the current period and the next `create_ahead` ones through the database
function govern_audit_add_partition (SECURITY DEFINER: the serving role owns nothing, yet the scheduled job running as it
keeps the partitions coming); `drop` detaches and drops one through govern_audit_drop_partition, which refuses anything
less than six months old. SQLite keeps one plain table: `listing` is empty there and `ensure_ahead` does nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from govern.db import Database

SCHEMA = "audit_partitions"
DEFAULT = "audit_events_default"
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None for the default partition
    upper: datetime | None

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def is_default(self) -> bool:
        return self.lower is None


def period_start(when: datetime, period: str) -> datetime:
    """The first instant (UTC) of the period holding `when`, as PostgreSQL's date_trunc counts it (weeks from Monday)."""
    day = when.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "day":
        return day
    raise ValueError(f"an audit partition period is month, week or day, not {period!r}")


def next_start(start: datetime, period: str) -> datetime:
    if period == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start + timedelta(days=7 if period == "week" else 1)


def is_partitioned(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(session.scalar(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('public.audit_events')")))


def listing(session: Session) -> list[Partition]:
    """The partitions of audit_events, oldest range first, the default last; [] on SQLite."""
    if not is_partitioned(session):
        return []
    rows = session.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.audit_events'::regclass"
    )).all()
    out = []
    for name, bound in rows:
        found = _BOUND.search(bound or "")
        if found:
            out.append(Partition(name, _parse(found[1]), _parse(found[2])))
        else:
            out.append(Partition(name, None, None))
    return sorted(out, key=lambda p: (p.lower is None, p.lower or datetime.min.replace(tzinfo=timezone.utc)))


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class Ahead:
    created: list[str]
    partitions: int
    default_holds_events: bool


def ensure_ahead(*, database: Database, period: str, create_ahead: int, now: datetime | None = None) -> Ahead:
    """Creates the partitions of the current period and the `create_ahead` next ones that do not exist yet; says whether
    the default partition holds events (a sign the job did not run in time: those stay there until archived)."""
    created: list[str] = []
    with database.unit_of_work() as session:
        if not is_partitioned(session):
            return Ahead(created=[], partitions=0, default_holds_events=False)
        start = period_start(now or datetime.now(timezone.utc), period)
        for _ in range(create_ahead + 1):
            name = session.scalar(text("SELECT govern_audit_add_partition(:period, :at)"), {"period": period, "at": start})
            if name:
                created.append(name)
            start = next_start(start, period)
        parts = listing(session)
        holds = _outside_ranges(session, parts)
    return Ahead(created=created, partitions=len(parts), default_holds_events=holds)


def _outside_ranges(session: Session, parts: list[Partition]) -> bool:
    """Does an event lie before the first or after the last ranged partition (so in the default one)? Asked through
    audit_events, which prunes it to the default partition: the serving role may read no partition directly."""
    ranged = [p for p in parts if not p.is_default]
    if not ranged:
        return bool(session.scalar(text("SELECT EXISTS (SELECT 1 FROM audit_events)")))
    return bool(session.scalar(text("SELECT EXISTS (SELECT 1 FROM audit_events WHERE occurred_at < :lo OR occurred_at >= :hi)"),
                               {"lo": ranged[0].lower, "hi": max(p.upper for p in ranged if p.upper)}))


def covering(session: Session, start: datetime, end: datetime) -> Partition | None:
    """The partition whose range is exactly [start, end), if there is one."""
    return next((p for p in listing(session) if p.lower == start and p.upper == end), None)


def holds_events(session: Session, partition: Partition) -> bool:
    """Through audit_events with the partition's range (pruned to it): the serving role reads no partition directly."""
    return bool(session.scalar(text("SELECT EXISTS (SELECT 1 FROM audit_events WHERE occurred_at >= :lo AND occurred_at < :hi)"),
                               {"lo": partition.lower, "hi": partition.upper}))


def drop_before_restore(url: str) -> None:
    """Before `pg_restore --clean` (govern restore): drops the partitioned audit_events with its partitions, which the
    restore recreates from the backup. pg_restore's clean step would try to drop each partition's inherited primary key
    on its own, which PostgreSQL refuses, and the restore would end in errors."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('public.audit_events')")).scalar():
                conn.execute(text("DROP TABLE public.audit_events CASCADE"))
    finally:
        engine.dispose()


def drop(session: Session, partition: Partition) -> None:
    """Detaches and drops a ranged partition (the caller has set govern.audit_purge and checked what it holds; the
    database function refuses a partition with events less than six months old). Milliseconds, whatever its size."""
    session.execute(text("SELECT govern_audit_drop_partition(:name)"), {"name": partition.name})
