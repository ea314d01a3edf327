"""The schedules part of the policy (policies/schedules.yaml): which job runs how often (seconds or a crontab line in
UTC), whether it runs at all, how long one run may take, and how long run records are kept; validated at start-up by
govern.policies.load_policy. Whether every job named here exists is checked against the registry when a scheduler
starts (govern/scheduler/service.py: check)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from apscheduler.triggers.cron import CronTrigger
from marshmallow import fields as ma
from marshmallow import validate

from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # interval jobs fire on one grid on every host


@dataclass(frozen=True)
class Schedule:
    name: str
    every_seconds: int | None
    cron: str | None
    enabled: bool
    max_run_seconds: int
    source: str
    why: str

    def trigger(self) -> CronTrigger | None:
        return CronTrigger.from_crontab(self.cron, timezone=timezone.utc) if self.cron else None

    def next_due(self, last_started: datetime | None, now: datetime) -> datetime:
        """When the job is next due after a run that started at `last_started` (now when it never ran)."""
        if last_started is None:
            return now
        if self.every_seconds is not None:
            return last_started + timedelta(seconds=self.every_seconds)
        fire = self.trigger().get_next_fire_time(None, last_started + timedelta(microseconds=1))  # type: ignore[union-attr]
        return fire

    @property
    def period_seconds(self) -> float:
        """The time between two runs (for a crontab line, between its next two firings)."""
        if self.every_seconds is not None:
            return float(self.every_seconds)
        trigger = self.trigger()
        first = trigger.get_next_fire_time(None, EPOCH)  # type: ignore[union-attr]
        second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1))  # type: ignore[union-attr]
        return (second - first).total_seconds()

    @property
    def overdue_after_seconds(self) -> float:
        """Lag beyond which the job counts as overdue: a takeover waits at most one period for the next firing, and a
        leader that hangs holds the job for at most its lease; one minute covers a dead host's connection (TCP
        keepalive) and clock skew between hosts."""
        return self.period_seconds + self.max_run_seconds + 60

    def describe(self) -> str:
        return f"every {self.every_seconds}s" if self.every_seconds is not None else f"cron {self.cron} (UTC)"


@dataclass(frozen=True)
class SchedulePolicy:
    jobs: Mapping[str, Schedule]
    keep_days: int

    def enabled(self) -> list[Schedule]:
        return [s for s in self.jobs.values() if s.enabled]


class _Job(StrictSchema):
    every = ma.Int(load_default=None, validate=validate.Range(min=1, max=7 * 86400))
    cron = ma.Str(load_default=None, validate=validate.Length(min=9, max=100))
    enabled = ma.Bool(required=True)
    max_run_seconds = ma.Int(required=True, validate=validate.Range(min=1, max=86400))
    source = ma.Str(required=True, validate=validate.Length(min=3))
    why = ma.Str(required=True, validate=validate.Length(min=3))


class _History(StrictSchema):
    keep_days = ma.Int(required=True, validate=validate.Range(min=1, max=3650))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _SchedulesFile(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    history = ma.Nested(_History, required=True)
    jobs = ma.Dict(keys=ma.Str(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,62}$")), values=ma.Nested(_Job), required=True)


def load_schedule_policy(directory: Path) -> dict[str, Any]:
    """policies/schedules.yaml; refuses a job with both or neither of `every` and `cron`, or a crontab line that does not
    parse, naming the key."""
    doc = validate_file("schedules", read_yaml(directory / "schedules.yaml"), _SchedulesFile())
    jobs: dict[str, Schedule] = {}
    for name, j in doc["jobs"].items():
        if (j["every"] is None) == (j["cron"] is None):
            raise PolicyError(f"schedules.yaml: jobs.{name}: give exactly one of every (seconds) and cron (a crontab line)")
        if j["cron"] is not None:
            try:
                CronTrigger.from_crontab(j["cron"], timezone=timezone.utc)
            except ValueError as exc:
                raise PolicyError(f"schedules.yaml: jobs.{name}.cron: {exc}") from None
        jobs[name] = Schedule(name=name, every_seconds=j["every"], cron=j["cron"], enabled=j["enabled"], max_run_seconds=j["max_run_seconds"],
                              source=j["source"], why=j["why"])
    return {"schedules": SchedulePolicy(jobs=jobs, keep_days=doc["history"]["keep_days"])}
