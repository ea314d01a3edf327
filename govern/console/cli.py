"""`govern staff`: console accounts for the DPO, privacy staff, auditors and security (Argon2id passwords)."""

from __future__ import annotations

import sys

import click

from govern.cli_support import runtime


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def staff() -> None:
    """Console accounts (staff principals who sign in with a password)."""


@staff.command("create")
@click.option("--name", required=True, help="The user name they sign in with (lower-case).")
@click.option("--role", "roles", multiple=True, required=True, help="dpo, privacy_staff, auditor or security; repeat for several.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input instead of prompting.")
def staff_create(name: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create a staff account; the password is stored only as an Argon2id hash."""
    from govern.errors import Problem
    from govern.identity import staff as service
    from govern.identity.actor import Actor

    password = _password(password_stdin)
    try:
        with runtime() as rt, rt.database.unit_of_work() as session:
            p = service.create(session=session, policy=rt.policy, actor=Actor.operator(), name=name, roles=list(roles), password=password)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    click.echo(f"created staff account {p.name} ({', '.join(p.roles)}) id {p.id}")


@staff.command("password")
@click.argument("ref")
@click.option("--password-stdin", is_flag=True)
def staff_password(ref: str, password_stdin: bool) -> None:
    """Set a new password (ends the account's sessions and clears a lockout)."""
    from govern.errors import Problem
    from govern.identity import staff as service
    from govern.identity.actor import Actor

    password = _password(password_stdin)
    try:
        with runtime() as rt, rt.database.unit_of_work() as session:
            p = service.set_password(session=session, policy=rt.policy, actor=Actor.operator(), ref=ref, password=password)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    click.echo(f"password of {p.name} replaced; their sessions ended")


@staff.command("list")
def staff_list() -> None:
    """Staff accounts, roles, last sign-in and state (never hashes)."""
    from govern.identity import staff as service
    from govern.timeutil import as_utc, utcnow

    with runtime() as rt, rt.database.unit_of_work() as session:
        rows = service.list_staff(session=session)
        now = utcnow()
        click.echo(f"{'name':24} {'roles':32} {'last sign-in':26} state")
        for p in rows:
            state = "disabled" if p.disabled_at else service.lock_state(session=session, principal=p, now=now)
            last = as_utc(p.last_sign_in_at).isoformat(timespec="seconds") if p.last_sign_in_at else "-"
            click.echo(f"{p.name:24} {','.join(p.roles):32} {last:26} {state}")


@staff.command("disable")
@click.argument("ref")
def staff_disable(ref: str) -> None:
    """Disable a staff account (by name or id): its sessions end at once."""
    from govern.errors import Problem
    from govern.identity import staff as service
    from govern.identity.actor import Actor

    try:
        with runtime() as rt, rt.database.unit_of_work() as session:
            p = service.disable(session=session, actor=Actor.operator(), ref=ref)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    click.echo(f"disabled {p.name}")


@staff.command("unlock")
@click.argument("ref")
def staff_unlock(ref: str) -> None:
    """Clear a sign-in lockout before it runs out: the account's and every address's."""
    from govern.errors import Problem
    from govern.identity import staff as service
    from govern.identity.actor import Actor

    try:
        with runtime() as rt, rt.database.unit_of_work() as session:
            p = service.unlock(session=session, actor=Actor.operator(), ref=ref)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    click.echo(f"unlocked {p.name}")


commands = [staff]
