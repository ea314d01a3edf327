"""The jobs the scheduler can run: one line each, name -> the function its CLI command calls (given the runtime,
returning the counts to record). Adding a job: one entry in policies/schedules.yaml and one line in JOBS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from govern.alerts import service as alerts
from govern.audit import archive, integrity, partitions, sealing
from govern.breach import board
from govern.identity.actor import Actor
from govern.logging import get_logger
from govern.processing import duties
from govern.retention import purge as retention_purge
from govern.subject_requests import service as requests_service
from govern.subjects import erasure
from govern.webhooks import delivery
from govern.webhooks.egress import Guard

if TYPE_CHECKING:
    from govern.runtime import Runtime

log = get_logger("govern.scheduler")
Job = Callable[["Runtime"], dict[str, Any]]


def audit_seal(rt: Runtime) -> dict[str, Any]:
    done = sealing.tick(database=rt.database, settings=rt.settings, policy=rt.policy.audit)
    return {"sealed": done.sealed, "checkpoint": done.checkpoint}


def webhooks_deliver(rt: Runtime) -> dict[str, Any]:
    run = delivery.deliver_due(database=rt.database, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), worker=delivery.worker_name(),
                               guard=Guard.of(rt))
    return {k: v for k, v in run.__dict__.items() if k != "worker"}


def erasures_sweep(rt: Runtime) -> dict[str, Any]:
    result = erasure.sweep(database=rt.database, actor=Actor.operator())
    return {"subjects": result.subjects, "records": result.records}


def requests_close_unverified(rt: Runtime) -> dict[str, Any]:
    with rt.database.unit_of_work() as session:
        return {"closed": requests_service.close_unverified(session=session, policy=rt.policy, actor=Actor.operator())}


def requests_purge_log(rt: Runtime) -> dict[str, Any]:
    with rt.database.unit_of_work() as session:
        return {"purged": requests_service.purge_log(session=session, policy=rt.policy, actor=Actor.operator())}


def retention_purge_due(rt: Runtime) -> dict[str, Any]:
    if not rt.policy.retention.unattended_purge:
        return {"skipped": 1}  # retention.yaml: purges need a plan approved by a second person (govern retention approve)
    try:
        results = retention_purge.purge_all_due(database=rt.database, envelope=rt.envelope, policy=rt.policy, actor=Actor.operator(), ledgers=rt.ledgers)
    except retention_purge.PurgeBusy:
        return {"busy": 1}  # a purge started by hand holds the purge lock: it does the work
    return {"runs": len(results), "items": sum(r.total for r in results)}


def audit_partitions(rt: Runtime) -> dict[str, Any]:
    policy = rt.policy.audit
    ahead = partitions.ensure_ahead(database=rt.database, period=policy.partition_period, create_ahead=policy.partition_create_ahead)
    if ahead.default_holds_events:
        log.warning("audit_default_partition_used", detail="events landed in audit_events_default: no partition covered their time")
    return {"created": len(ahead.created), "partitions": ahead.partitions, "default_holds_events": int(ahead.default_holds_events)}


def audit_purge(rt: Runtime) -> dict[str, Any]:
    if rt.policy.audit.archive:  # audit.yaml archive.enabled: events leave through a verified archive, never deleted alone
        try:
            run = archive.run(database=rt.database, settings=rt.settings, policy=rt.policy.audit, actor=Actor.operator())
        except archive.ArchiveBusy:
            return {"busy": 1}  # a run started by hand holds the lock: it does the work
        if run.refused:
            raise RuntimeError(f"audit archive stopped: {run.refused}")  # a failed run: job_runs and the alerts say so
        return {"periods": len(run.archived), "events": sum(a.events for a in run.archived), "empty_partitions": len(run.empty_partitions_dropped)}
    result = integrity.purge(database=rt.database, settings=rt.settings, actor=Actor.operator(), keep_days=rt.policy.audit.retention_days, dry_run=False)
    return {"events": result.events, "through_seq": result.through_seq}


def breach_clocks(rt: Runtime) -> dict[str, Any]:
    with rt.database.unit_of_work() as session:
        rows = board.open_clocks(session=session, policy=rt.policy)
    overdue = [r for r in rows if r["overdue"]]
    for r in overdue:
        log.warning("breach_notification_overdue", notification=r["key"], jurisdiction=r["jurisdiction"], reference=r["reference"])
    return {"open": len(rows), "overdue": len(overdue)}


def processing_duties(rt: Runtime) -> dict[str, Any]:
    with rt.database.unit_of_work() as session:
        result = duties.tasks(session=session, policy=rt.policy, actor=Actor.operator())
    late = [t for t in result["tasks"] if t["status"] in ("overdue", "not_met")]
    for t in late:
        log.warning("compliance_duty_late", duty=t["key"], status=t["status"], next_due=str(t["next_due"]))
    return {"duties": len(result["tasks"]), "late": len(late)}


def alerts_check(rt: Runtime) -> dict[str, Any]:
    done = alerts.check_and_notify(rt)
    return {"raised": len(done.raised), "cleared": len(done.cleared), "sent": done.sent, "failed": done.failed, "retrying": done.retrying}


JOBS: dict[str, Job] = {
    "audit_seal": audit_seal,  # govern audit seal / checkpoint
    "webhooks_deliver": webhooks_deliver,  # govern webhooks deliver
    "erasures_sweep": erasures_sweep,  # govern requests sweep-erasures
    "requests_close_unverified": requests_close_unverified,  # govern requests close-unverified
    "requests_purge_log": requests_purge_log,  # govern requests purge-log
    "retention_purge": retention_purge_due,  # govern retention purge --all-due
    "audit_partitions": audit_partitions,  # govern audit partitions
    "audit_purge": audit_purge,  # govern audit archive --execute (audit.yaml archive.enabled), else govern audit purge --execute
    "breach_clocks": breach_clocks,  # govern breach clocks
    "processing_duties": processing_duties,  # govern compliance duties
    "alerts_check": alerts_check,  # govern alerts check
    # job_runs_prune is the scheduler's own (service.py)
}
