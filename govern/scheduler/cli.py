"""`govern jobs status|run` and `govern worker`: the built-in scheduler seen and run from the command line."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from govern.cli_support import emit, local_time, runtime
from govern.scheduler import service as _service  # noqa: F401 — its failed jobs are a source of govern alerts check


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs (policies/schedules.yaml): what ran, when, how late, what failed; run one now."""


def _when(moment) -> str:
    return local_time(moment) if moment else "-"


@jobs_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(as_json: bool) -> None:
    """Every job: schedule, last run and its outcome, last success, lag, last error. Exit status 2 when one is overdue."""
    from govern.scheduler import service

    with runtime() as rt:
        with rt.database.unit_of_work() as session:
            rows = service.status(session=session, schedules=rt.policy.schedules)
        lines = [f"{'job':26} {'schedule':24} {'last run':26} {'outcome':9} {'lag':>8}  last error"]
        for r in rows:
            lines.append(f"{r.name:26} {(r.schedule if r.enabled else 'off'):24} {_when(r.last_started):26} {r.last_outcome or 'never':9} "
                         f"{r.lag_seconds:>7.0f}s  {(r.last_error or '')[:60]}{'  OVERDUE' if r.overdue else ''}")
        emit(as_json, [r.as_dict() for r in rows], "\n".join(lines))
        if any(r.overdue for r in rows):
            sys.exit(2)


@jobs_group.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def run_cmd(name: str, as_json: bool) -> None:
    """Run one job now, whatever its schedule (recorded like a scheduled run; for cron: `govern jobs run NAME`).
    Exit status 1 when it failed, 3 when another host is running it."""
    from govern.scheduler import service

    with runtime() as rt:
        try:
            run = service.run_job(rt, name, manual=True)
        except service.UnknownJob as exc:
            raise click.BadParameter(str(exc), param_hint="NAME") from None
        except service.JobBusy:
            click.echo(f"{name} is running on another host now; not started", err=True)
            sys.exit(3)
        assert run is not None
        payload = {"job": run.job, "outcome": run.outcome, "counts": run.counts, "error": run.error_class and f"{run.error_class}: {run.error_message}"}
        emit(as_json, payload, f"{name}: {run.outcome} {run.counts or ''}" + (f" ({payload['error']})" if run.error_class else ""))
        if run.outcome != "ok":
            sys.exit(1)


@click.command("worker")
@click.option("--disable", multiple=True, help="A job not to run here (repeatable), e.g. audit_seal.")
def worker_cmd(disable: tuple[str, ...]) -> None:
    """Run the scheduler alone in the foreground (a separate pool of workers; `govern serve` starts one by itself).
    Any number may run: each job runs once across them. Stops on SIGTERM/SIGINT."""
    from govern.scheduler import service

    rt = runtime()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = int(os.environ.get(service.PARENT_ENV, "0")) or None
    try:
        service.run_forever(rt, disabled=frozenset(disable), stop=stop, parent_pid=parent)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        rt.database.dispose()


commands = [jobs_group, worker_cmd]
