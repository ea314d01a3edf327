"""`govern alerts check`: one check of the alert conditions, people told of each change (the built-in scheduler runs
the same function; from cron, every few minutes on any number of hosts: each change is told once)."""

from __future__ import annotations

import sys

import click

from govern.cli_support import emit, runtime


@click.group("alerts")
def alerts_group() -> None:
    """Alerts to the DPO/security rota (policies/alerts.yaml, GOVERN_SMTP_URL)."""


@alerts_group.command("check")
@click.option("--json", "as_json", is_flag=True)
def check_cmd(as_json: bool) -> None:
    """Raises what is newly wrong, clears what is back to normal, sends pending notices. Exit status 1 when a notice
    was given up on."""
    from govern.alerts.service import check_and_notify

    with runtime() as rt:
        done = check_and_notify(rt)
        lines = [f"raised  {x}" for x in done.as_dict()["raised"]] + [f"cleared {x}" for x in done.as_dict()["cleared"]]
        lines.append(f"notices sent: {done.sent}, failed for good: {done.failed}, to retry: {done.retrying}")
        if not rt.policy.alerts.recipients:
            lines.append("no recipients in policies/alerts.yaml: states are recorded and audited, nobody is told")
        emit(as_json, done.as_dict(), "\n".join(lines))
        if done.failed:
            sys.exit(1)


commands = [alerts_group]
