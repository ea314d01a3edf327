"""The `govern` command line for operators: init, migrate, principals, keys, serve."""

from __future__ import annotations

import sys
from typing import Any

import click

from govern.alerts import cli as alerts_cli
from govern.audit import cli as audit_cli
from govern.breach import cli as breach_cli
from govern.cli_support import emit, initialise, runtime
from govern.config import Settings
from govern.consent import cli as consent_cli
from govern.console import cli as console_cli
from govern.deidentified import cli as deidentified_cli
from govern.processing import cli as processing_cli
from govern.retention import cli as retention_cli
from govern.scheduler import cli as scheduler_cli
from govern.subject_requests import cli as subject_requests_cli
from govern.webhooks import cli as webhooks_cli


def _settings() -> Settings:
    return Settings.from_env()


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class _Commands(click.Group):
    """A keyring that is missing or not the data's stops every command with the operator's sentence, no traceback; so
    does a batch whose change lost a race for a versioned row (edit_conflict: nothing was changed, run it again)."""

    def invoke(self, ctx: click.Context) -> Any:
        from govern.crypto.keyring import KeyringError
        from govern.errors import EditConflict, is_edit_conflict

        try:
            return super().invoke(ctx)
        except KeyringError as exc:
            _fail(str(exc), code=2)
        except Exception as exc:
            if not is_edit_conflict(exc):
                raise
            _fail(f"{EditConflict().detail} (edit_conflict)")


@click.group(cls=_Commands)
def main() -> None:
    """govern: the system of record for a CRM's customer personal data."""
    from govern.files import private_files

    private_files()  # before any command writes anything: exports, packages, backups, the SQLite files


# --- init and database -----------------------------------------------------------------------------


def _where_master_keys(described: dict) -> str:
    if described["provider"] == "pkcs11":
        return f"master keys in PKCS#11 token {described['token']!r}, key label {described['label']!r}; state {described['path']}"
    return f"keyring {described['path']}"


def _say_modes_fixed(result: dict) -> str:
    return "".join(f"\ntightened {f['path']}: {f['old_mode']} -> {f['new_mode']}" for f in result["modes_fixed"])


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def init(as_json: bool) -> None:
    """Create the home folder and keyring (if missing) and migrate the database. Safe to run twice."""
    from govern.logging import STDERR, configure_logging
    from govern.policy import PolicyError

    settings = _settings()
    configure_logging(settings.log_level, stream=STDERR)  # stdout is the command's answer (--json)
    try:
        result = initialise(settings)
    except PolicyError as exc:
        _fail(f"policy: {exc}")
    emit(
        as_json, result,
        f"home {result['home']}\n{_where_master_keys(result['master_keys'])}{' (created)' if result['keyring_created'] else ''}\ndatabase at {result['migrated_to']}"
        + _say_modes_fixed(result)
        + (f"\nledgers started empty: {', '.join(result['ledgers_created'])}" if result["ledgers_created"] else ""),
    )


@main.group()
def db() -> None:
    """Database schema (Alembic migrations in migrations/)."""


@db.command("upgrade")
@click.option("--revision", default="heads")
@click.option("--json", "as_json", is_flag=True)
def db_upgrade(revision: str, as_json: bool) -> None:
    """Apply migrations up to REVISION (default: every head)."""
    from govern.db import Database
    from govern.migrate import upgrade

    database = Database(_settings().migration_url)  # the owner role's, when GOVERN_MIGRATION_DATABASE_URL is set
    before, after = upgrade(database.engine, revision)
    emit(as_json, {"from": before, "to": after}, f"database: {before or 'empty'} -> {after}")


@db.command("current")
@click.option("--json", "as_json", is_flag=True)
def db_current(as_json: bool) -> None:
    """Show the applied and the latest migration."""
    from govern.db import Database
    from govern.migrate import current_revision, head_revision

    database = Database(_settings().database_url)
    with database.engine.connect() as conn:
        current = current_revision(conn)
    head = head_revision()
    emit(as_json, {"current": current, "head": head}, f"current {current}  head {head}{'' if current == head else '  (run govern db upgrade)'}")


# --- principals ------------------------------------------------------------------------------------


@main.group()
def principals() -> None:
    """API clients (CRM services) and staff accounts."""


@principals.command("create")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, help="A role from policies/roles.yaml; repeat for several.")
@click.option("--kind", type=click.Choice(["service", "staff"]), default="service")
@click.option("--json", "as_json", is_flag=True)
def principals_create(name: str, roles: tuple[str, ...], kind: str, as_json: bool) -> None:
    """Create a principal and print its API key once (only a hash is stored)."""
    from govern.errors import Problem
    from govern.identity import service
    from govern.identity.actor import Actor

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            issued = service.create(session=session, policy=rt.policy, actor=Actor.operator(), name=name, roles=list(roles), kind=kind)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    p = issued.principal
    emit(
        as_json,
        {"id": p.id, "name": p.name, "kind": p.kind, "roles": p.roles, "api_key": issued.api_key},
        f"created {p.name} ({', '.join(p.roles)}) id {p.id}\nAPI key (shown once, store it now):\n{issued.api_key}",
    )


@principals.command("list")
@click.option("--json", "as_json", is_flag=True)
def principals_list(as_json: bool) -> None:
    """List principals, their roles, last use and state (never keys)."""
    from govern.identity import service
    from govern.identity.actor import Actor
    from govern.identity.api import as_dict

    rt = runtime()
    with rt.database.unit_of_work() as session:
        rows = [as_dict(p) for p in service.list_principals(session=session, actor=Actor.operator())]
    lines = [f"{'name':24} {'kind':8} {'roles':32} {'last used':26} state"]
    for r in rows:
        lines.append(f"{r['name']:24} {r['kind']:8} {','.join(r['roles']):32} {str(r['last_used_at'] or '-'):26} {'disabled' if r['disabled'] else 'active'}")
    emit(as_json, rows, "\n".join(lines))


@principals.command("disable")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
def principals_disable(ref: str, as_json: bool) -> None:
    """Disable a principal (by name or id); its key stops working at once."""
    from govern.errors import Problem
    from govern.identity import service
    from govern.identity.actor import Actor

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            p = service.disable(session=session, actor=Actor.operator(), ref=ref)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    emit(as_json, {"id": p.id, "name": p.name, "disabled_at": p.disabled_at}, f"disabled {p.name}")


# --- keys ------------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """The master keys (a keyring file, or a PKCS#11 token named by GOVERN_KEK) and data keys."""


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--pause", default=0.0, show_default=True, type=click.FloatRange(0, 60), help="Seconds between batches, to spare a busy primary.")
@click.option("--json", "as_json", is_flag=True)
def keys_rotate(batch_size: int, pause: float, as_json: bool) -> None:
    """New master-key version and a resumable rewrap of every data key (reruns resume)."""
    from govern.crypto import service
    from govern.identity.actor import Actor
    from govern.jobs import ProgressLine

    rt = runtime()
    show = ProgressLine("rewrapped", "keys")
    try:
        result = service.rotate(database=rt.database, envelope=rt.envelope, actor=Actor.operator(), batch_size=batch_size, pause_seconds=pause, on_progress=show)
    except service.RotationBusy as exc:
        _fail(str(exc), code=3)
    show.end()
    emit(
        as_json, result.__dict__,
        f"{'resumed' if result.resumed else 'started'} rotation to master key v{result.version}: {result.rewrapped} of {result.total} data keys"
        f" and {result.endpoint_keys} webhook endpoint keys rewrapped; verified",
    )


@keys.command("migrate-suite")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
def keys_migrate_suite(batch_size: int, as_json: bool) -> None:
    """Converts the data to the suite policies/crypto.yaml names (data keys, values, blind indexes); reruns resume."""
    from govern.crypto import migration
    from govern.crypto.cli import normaliser, runtime_for
    from govern.identity.actor import Actor
    from govern.jobs import ProgressLine

    settings = _settings()
    rt = runtime_for(settings)  # the policy may name the target before the data is under it: that is the point
    show = ProgressLine("converted", "subjects")
    try:
        result = migration.migrate(database=rt.database, envelope=rt.envelope, settings=settings, actor=Actor.operator(),
                                   normalise=normaliser(rt.policy), batch_size=batch_size, on_progress=show)
    except (migration.MigrationRefused, migration.RotationBusy) as exc:
        _fail(str(exc), code=3)
    finally:
        rt.database.dispose()
    show.end()
    emit(as_json, result.__dict__, f"the data is under {result.suite} already" if result.already else (
        f"{'resumed' if result.resumed else 'started'} migration from {result.source} to {result.suite}: {result.converted} of {result.total} subjects"
        f" ({result.values} values) and {result.endpoints} webhook endpoints converted; verified; {result.suite} is the recorded suite"))


@keys.command("accept-audit-key")
@click.option("--reason", required=True, help="Why the key changed (audited).")
@click.option("--json", "as_json", is_flag=True)
def keys_accept_audit_key(reason: str, as_json: bool) -> None:
    """After changing GOVERN_AUDIT_SIGNING_KEY on purpose: make its key the one govern expects (audited)."""
    from govern.crypto import checks

    key_id = checks.accept_audit_key(settings=_settings(), reason=reason)
    emit(as_json, {"key_id": key_id}, f"audit signing key {key_id} accepted and published")


@keys.command("status")
@click.option("--json", "as_json", is_flag=True)
def keys_status(as_json: bool) -> None:
    """Master-key versions, any rotation in progress, and data keys per version."""
    from govern.crypto import service

    rt = runtime()
    st = service.status(database=rt.database, keyring=rt.keyring)
    where = f"token {st['token']!r}, key label {st['label']!r}" if st["provider"] == "pkcs11" else st["path"]
    text = f"master keys in {where}\n"
    text += f"active master key v{st['active']}; versions {', '.join(str(v['version']) for v in st['versions'])}\n"
    text += f"rotation in progress to v{st['rotation']['target']}\n" if st["rotation"] else ""
    text += "data keys by version: " + (", ".join(f"v{k}: {n}" for k, n in sorted(st["data_keys_by_version"].items())) or "none")
    emit(as_json, st, text)


# --- tombstones ------------------------------------------------------------------------------------


def reapply_tombstones(settings: Settings, *, at_start: bool = False) -> dict:
    """Re-applies every recorded erasure, full (tombstones) and partial (erasures that kept legally retained data),
    after a restore from backup. Returns what was done."""
    from govern.subject_requests.cli import reapply_all

    rt = runtime()
    try:
        return reapply_all(rt, at_start=at_start)
    finally:
        rt.database.dispose()


@main.group()
def tombstones() -> None:
    """Erasure tombstones (no personal data): what must stay erased after a restore."""


@tombstones.command("reapply")
@click.option("--json", "as_json", is_flag=True)
def tombstones_reapply(as_json: bool) -> None:
    """Shred again any erased subject that a restored backup brought back. Safe to run any time."""
    result = reapply_tombstones(_settings())
    emit(as_json, result, f"{result['shredded_again']} erased subject(s) shredded again, {result['partial_erasures_reapplied']} partial erasure(s) re-applied")


# --- serve -----------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker: a request spends most of its time waiting on the database.")
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn.")
@click.option("--demo", is_flag=True, help="Seed demo data and print a demo API key on first start.")
@click.option("--sealer/--no-sealer", default=True, show_default=True, help="Run the audit_seal job (sealing and checkpoints, policies/audit.yaml).")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True, help="Run the built-in scheduler beside the server (policies/schedules.yaml); off: use cron.")
def serve(host: str, port: int, workers: int, threads: int, dev: bool, demo: bool, sealer: bool, scheduler: bool) -> None:
    """Initialise if needed, then serve the API (gunicorn; Flask's dev server only with --dev)."""
    from govern.logging import STDERR, configure_logging, get_logger
    from govern.server import prepare_metrics_dir

    if not dev:
        prepare_metrics_dir()  # before anything imports prometheus_client: the workers fork from this process
    settings = _settings()
    # Before anything can refuse to start: a mode tightened is logged (file, old and new mode) even then.
    configure_logging(settings.log_level, stream=STDERR)
    initialise(settings)
    # A database restored from an older backup must not serve subjects that were erased since.
    reapplied = reapply_tombstones(settings, at_start=True)
    if any(reapplied.values()):
        # A JSON line like every other line serve writes (counts only): log pipelines parse one format.
        get_logger("govern.serve").warning("erasures_reapplied", hint="the database had lost them: restored from a backup?", counts=reapplied)
    from govern.processing.cli import keep_records

    keep_records()  # records of processing are kept: a version that took effect with this policy is stored now (PIPL Art. 56)
    if demo:
        _announce_demo(settings, host, port)
    if scheduler:
        # The scheduled jobs (policies/schedules.yaml: sealing, deliveries, sweeps, purges, checks) run beside the
        # workers, in a process of their own (`govern worker`), each once across hosts: no cron line needed.
        # --no-sealer keeps its old meaning: the audit_seal job is off here.
        import atexit

        from govern.scheduler import service as scheduler_service

        scheduler_service.check(runtime_policy(settings))
        background = scheduler_service.start_background(disabled=frozenset() if sealer else frozenset({"audit_seal"}))
        atexit.register(_stop_process, background)
    if dev:
        from dataclasses import replace

        from govern.app import create_app

        create_app(replace(settings, dev=True)).run(host=host, port=port, debug=False)  # dev: webhooks may use plain http
        return
    from govern.server import run_gunicorn

    run_gunicorn(host=host, port=port, workers=workers, threads=threads)


def runtime_policy(settings: Settings):
    from govern.policies import load_policy

    return load_policy(settings.policies_dir)


def _stop_process(process) -> None:
    """Ends a process `govern serve` started (TERM, then KILL after 10 s) when it exits."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _announce_demo(settings: Settings, host: str, port: int) -> None:
    from govern import demo

    rt = runtime()
    key = demo.seed(runtime=rt)
    key_file = settings.home / "demo-api-key"
    if key:
        # Kept beside the keyring (0600, never committed) so a newcomer who missed the banner can find it.
        key_file.touch(mode=0o600)
        key_file.write_text(key + "\n")
        click.echo(f"demo data created; demo API key (role sales_service), also in {key_file}:\n  {key}")
    elif key_file.exists():
        key = key_file.read_text().strip()
        click.echo(f"demo data present; demo API key in {key_file}")
    if key:
        with rt.database.unit_of_work() as session:
            from sqlalchemy import select

            from govern.subjects.models import Subject

            sid = session.scalar(select(Subject.id).where(Subject.external_ref == "demo-0000"))
        click.echo("try:")
        click.echo(f"  curl -s -H 'Authorization: Bearer {key}' -H 'X-Purpose: customer_service' http://{host}:{port}/api/v1/subjects/{sid}")
    rt.database.dispose()


# Each domain adds its command groups in govern/<domain>/cli.py, which exposes `commands` (a list of click commands).
# Every domain ships with govern: a cli module that fails to import stops the command line instead of hiding its commands.
DOMAIN_CLIS = (audit_cli, consent_cli, subject_requests_cli, retention_cli, breach_cli, console_cli, processing_cli, webhooks_cli,
               deidentified_cli, scheduler_cli, alerts_cli)

for _domain_cli in DOMAIN_CLIS:
    for _command in _domain_cli.commands:
        main.add_command(_command)

if __name__ == "__main__":
    main()
