"""Retention test helpers: subjects with records of a chosen age, account closure, plans against a moved clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from govern.identity.actor import Actor
from govern.timeutil import utcnow

CREATOR = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))
APPROVER = Actor(name="bob", kind="staff", roles=("dpo",), principal_id=uuid.UUID(int=2))
SYSTEM = Actor(name="cli:cron", kind="operator", roles=("operator",))


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def add_records(runtime):
    """add_records(subject_id, "purchase", [age_in_days, …]) → record ids, each occurred that many days ago."""
    from govern.subjects import service

    def add(subject_id: uuid.UUID, type_: str, ages: list[float]) -> list[uuid.UUID]:
        now = utcnow()
        with runtime.database.unit_of_work() as session:
            return [
                service.add_record(
                    session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=subject_id, type=type_,
                    occurred_at=now - days(age), payload={"n": i},
                ).id
                for i, age in enumerate(ages)
            ]

    return add


@pytest.fixture
def close_account(runtime):
    """Marks an account closed at `at` (what the requests workflow does on an account-closure request)."""
    from govern.subjects.models import Subject

    def close(subject_id: uuid.UUID, at: datetime | None = None) -> None:
        with runtime.database.unit_of_work() as session:
            session.execute(update(Subject).where(Subject.id == subject_id).values(status="closed", closed_at=at or utcnow()))

    return close


@pytest.fixture
def plan(runtime):
    """plan(now=…, save=True) → (summary, plan id or None), made by CREATOR."""
    from govern.retention import service

    def make(now: datetime | None = None, save: bool = True, actor: Actor = CREATOR, policy=None):
        with runtime.database.unit_of_work() as session:
            made = service.make_plan(session=session, policy=policy or runtime.policy, actor=actor, save=save, now=now)
            return made.summary, (made.plan.id if made.plan else None)

    return make


@pytest.fixture
def approve(runtime):
    from govern.retention import service

    def run(plan_id: uuid.UUID, actor: Actor = APPROVER, now: datetime | None = None):
        with runtime.database.unit_of_work() as session:
            return service.approve_plan(session=session, policy=runtime.policy, actor=actor, plan_id=plan_id, now=now).status

    return run


@pytest.fixture
def purge(runtime):
    """purge(plan_id) → RunResult, executed in-process with small batches."""
    from govern.retention import purge as purge_mod

    def run(plan_id: uuid.UUID, batch_size: int = 7, now: datetime | None = None, policy=None, **kw):
        return purge_mod.purge_plan(
            database=runtime.database, envelope=runtime.envelope, policy=policy or runtime.policy, actor=SYSTEM, plan_id=plan_id,
            ledgers=runtime.ledgers, batch_size=batch_size, now=now, **kw,
        )

    return run


@pytest.fixture
def inventory(runtime):
    """inventory(subject_id) → (field names, {record id: type}) still stored, or None when the subject is gone."""
    from govern.subjects.models import ProfileField, Record, Subject

    def look(subject_id: uuid.UUID):
        with runtime.database.unit_of_work() as session:
            if session.get(Subject, subject_id) is None:
                return None
            names = set(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == subject_id)))
            records = dict(session.execute(select(Record.id, Record.type).where(Record.subject_id == subject_id)).all())
            return names, records

    return look


@pytest.fixture
def count_rows(runtime):
    from govern.subjects.models import ProfileField, Record, Subject

    def count() -> tuple[int, int, int]:
        with runtime.database.unit_of_work() as session:
            return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Subject, ProfileField, Record))

    return count


def rule(summary: dict, name: str) -> dict:
    return next(r for r in summary["rules"] if r["rule"] == name)


@pytest.fixture
def staff_client(app, runtime):
    """staff_client("dpo") → an ApiClient holding the API key of a new *staff* principal: a person, as the two of a
    plan's approval must be (a service key holding a staff role is not a person)."""
    from govern.identity import service
    from tests.conftest import ApiClient

    counter = iter(range(10_000))

    def make(*roles: str) -> ApiClient:
        with runtime.database.unit_of_work() as session:
            issued = service.create(
                session=session, policy=runtime.policy, actor=Actor.operator(), name=f"staff-{'-'.join(roles)}-{next(counter)}".replace("_", "-"),
                roles=list(roles), kind="staff",
            )
        return ApiClient(app.test_client(), issued.api_key, issued.principal.id, issued.principal.name)

    return make
