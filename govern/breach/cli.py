"""`govern breach …`: the board, the clocks and the register from the command line, and containment actions that run
on an operator host (rotating the master key)."""

from __future__ import annotations

import sys
import uuid

import click

from govern.cli_support import emit, local_time, runtime


@click.group("breach")
def breach_group() -> None:
    """Security incidents: board, clocks, register, containment."""


@breach_group.command("list")
@click.option("--closed", is_flag=True, help="Include closed incidents.")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(closed: bool, as_json: bool) -> None:
    """Open incidents, overdue first, with their next clock."""
    from govern.breach import board

    with runtime() as rt:
        with rt.database.unit_of_work() as session:
            rows = board.board(session=session, policy=rt.policy, include_closed=closed)
            figures = board.figures(session=session)
        lines = [f"{'reference':24} {'state':10} {'overdue':7} {'next due':26} title"]
        for r in rows:
            nd = r["next_due"]
            lines.append(f"{r['reference']:24} {r['state']:10} {r['overdue']:<7} {local_time(nd['due_at'] if nd else None):26} {r['title']}")
        lines.append(f"real incidents: {figures['incidents']} (open {figures['open']}), overdue notifications: {figures['overdue_notifications']}, drills: {figures['drills']}")
        emit(as_json, {"incidents": rows, "figures": figures}, "\n".join(lines))


@breach_group.command("clocks")
@click.option("--json", "as_json", is_flag=True)
def clocks_cmd(as_json: bool) -> None:
    """Every required notification not yet sent (real incidents): OVERDUE first. Exit status 2 when any is overdue."""
    from govern.breach import board

    with runtime() as rt:
        with rt.database.unit_of_work() as session:
            rows = board.open_clocks(session=session, policy=rt.policy)
        lines = [f"{'due':26} {'flag':8} {'notification':24} {'jur':6} reference"]
        for r in rows:
            due = local_time(r["due_at"]) if r["due_at"] else r["due_rule"]["en"]
            lines.append(f"{due:26} {'OVERDUE' if r['overdue'] else '':8} {r['key']:24} {r['jurisdiction']:6} {r['reference']}")
        emit(as_json, rows, "\n".join(lines))
        if any(r["overdue"] for r in rows):
            sys.exit(2)


@breach_group.command("register")
@click.option("--drills", is_flag=True, help="Include drills (marked as such).")
def register_cmd(drills: bool) -> None:
    """The register of every breach (GDPR Art. 33(5)) as JSON."""
    from govern.breach import board
    from govern.identity.actor import Actor

    with runtime() as rt:
        with rt.database.unit_of_work() as session:
            rows = board.register(session=session, policy=rt.policy, actor=Actor.operator(), include_drills=drills)
        emit(True, rows, "")


@breach_group.command("contain")
@click.argument("incident_id", type=click.UUID)
@click.option("--disable-principal", "principal", default=None, help="Disable this principal (name or id).")
@click.option("--rotate-master-key", is_flag=True, help="Rotate the master key now, then record it on the incident.")
@click.option("--json", "as_json", is_flag=True)
def contain_cmd(incident_id: uuid.UUID, principal: str | None, rotate_master_key: bool, as_json: bool) -> None:
    """Execute a containment action from an operator host and record it on the incident."""
    from govern.errors import Problem

    if not principal and not rotate_master_key:
        raise click.UsageError("give --disable-principal and/or --rotate-master-key")
    try:
        _contain(incident_id, principal, rotate_master_key, as_json)
    except Problem as problem:
        raise click.ClickException(str(problem)) from None


def _contain(incident_id: uuid.UUID, principal: str | None, rotate_master_key: bool, as_json: bool) -> None:
    from govern.breach import flows
    from govern.crypto import service as crypto
    from govern.identity.actor import Actor

    with runtime() as rt:
        actor = Actor.operator()
        done = []
        if principal:
            with rt.database.unit_of_work() as session:
                done.append(flows.contain(session=session, policy=rt.policy, actor=actor, incident_id=incident_id, action="disable_principal", principal=principal))
        if rotate_master_key:
            with rt.database.unit_of_work() as session:
                from govern.breach import service

                service.get_or_raise(session=session, incident_id=incident_id)  # refuse before rotating for an unknown incident
            result = crypto.rotate(database=rt.database, envelope=rt.envelope, actor=actor)
            with rt.database.unit_of_work() as session:
                done.append(flows.contain(
                    session=session, policy=rt.policy, actor=actor, incident_id=incident_id, action="rotate_master_key",
                    executed_elsewhere={"key_version": result.version, "rewrapped": result.rewrapped},
                ))
        emit(as_json, done, "\n".join(f"{d['action']}: {'done' if d.get('executed') else 'recorded'}" for d in done))


commands = [breach_group]
