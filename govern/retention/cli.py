"""`govern retention …`: dry-run plans, approval by a second person, the resumable purge, runs and holds.

Exit codes of `purge`: 0 done, 1 refused (plan not approved, expired, policy changed, unattended purges not
allowed), 3 another purge is running, 4 interrupted or connection lost (rerun the same command to resume).
"""

from __future__ import annotations

import signal
import sys
import uuid
from datetime import datetime

import click


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _uuid(value: str, what: str = "plan id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        _fail(f"not a {what}: {value}")
        raise  # unreachable


def staff_options(command):
    """--as NAME (that person's password, prompted or --password-stdin) or --staff-key-stdin: who is acting, as an
    authenticated staff member. The OS account and $USER are never asked."""
    command = click.option("--staff-key-stdin", is_flag=True, help="Read a staff principal's API key from standard input instead.")(command)
    command = click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input instead of prompting.")(command)
    return click.option("--as", "as_staff", default=None, metavar="NAME", help="The staff member acting (their password is asked).")(command)


def _staff_credential(as_staff: str | None, password_stdin: bool, staff_key_stdin: bool, what: str):
    from govern.identity.credentials import StaffCredential

    if staff_key_stdin:
        return StaffCredential(api_key=sys.stdin.readline().strip())
    if not as_staff:
        _fail(f"{what} must be an authenticated staff member: add --as NAME (their password is asked) or --staff-key-stdin", code=2)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else click.prompt(f"password of {as_staff}", hide_input=True, err=True)
    return StaffCredential(name=as_staff, password=password)


def _authenticated(rt, credential, action: str, permission):
    """The staff Actor holding `permission`, or exit 1 with the refusal audited (a failed password is audited by
    staff.sign_in as well, and counts towards its lockout)."""
    from govern.access.service import has_permission
    from govern.identity.actor import Actor
    from govern.identity.credentials import StaffCredentialRefused, authenticate_staff
    from govern.refusals import Refusal
    from govern.retention import service

    try:
        actor = authenticate_staff(database=rt.database, policy=rt.policy, credential=credential)
    except StaffCredentialRefused as exc:
        # The name typed is not recorded: people type passwords into the name field.
        claimed = Actor(name="cli-credential", kind="anonymous", client_addr="cli")
        with rt.database.unit_of_work() as session:
            service.record_refusal(session=session, actor=claimed, refusal=Refusal(action=action, reason=f"credential_refused:{exc.reason}"[:64]))
        _fail(f"staff credential refused ({exc.reason}); nothing was done")
    if not has_permission(rt.policy, actor, permission):
        with rt.database.unit_of_work() as session:
            service.record_refusal(session=session, actor=actor, refusal=Refusal(action=action, reason="permission_denied"))
        _fail(f"{actor.name} lacks the permission {permission}; nothing was done")
    return actor


@click.group("retention")
def retention() -> None:
    """Retention purges: dry-run plans, approval, resumable batched purges, legal holds."""


from govern.cli_support import emit, runtime  # noqa: E402
from govern.jobs import ProgressLine  # noqa: E402
from govern.retention.api import plan_dict, run_dict  # noqa: E402  (shared with the API)


def plan_text(summary: dict, plan=None) -> str:
    lines = []
    if plan is not None:
        lines.append(f"plan {plan.id}  status {plan.status}  as of {summary['as_of']}  items {plan.items}")
    else:
        lines.append(f"dry run as of {summary['as_of']} (nothing saved, nothing changed)")
    lines.append(f"{'rule':22} {'keep':>5} {'from':17} {'basis':13} {'fields':>8} {'records':>9} {'subjects':>9} {'held':>7}  sample subjects")
    for r in summary["rules"]:
        due, held = r["due"], r["held"]
        if not any(due.values()) and not any(held.values()) and r["target"] in ("closed_accounts", "consent_withdrawn", "subjects"):
            continue
        lines.append(
            f"{r['rule']:22} {r['keep'] or '-':>5} {r['counted_from'] or '-':17} {r['legal_basis']['code']:13} {due['fields']:>8} {due['records']:>9} "
            f"{due['subjects']:>9} {sum(held.values()):>7}  {', '.join(s[:8] for s in r['sample_subject_ids']) or '-'}"
        )
    t = summary["totals"]
    lines.append(
        f"total due: {t['fields']} field(s), {t['records']} record(s), {t['subjects']} subject(s) to shred; "
        f"held back: {t['held_fields']} field(s), {t['held_records']} record(s), {t['held_subjects']} subject(s)"
    )
    return "\n".join(lines)


@retention.command("plan")
@click.option("--save", is_flag=True, help="Keep the plan (with its exact items) for review and approval.")
@click.option("--note", default=None, help="Why this plan was made (no personal data).")
@click.option("--as-of", "as_of", default=None, hidden=True, help="Plan as of another time (drills and tests): ISO 8601 with offset.")
@staff_options
@click.option("--json", "as_json", is_flag=True)
def plan_cmd(save: bool, note: str | None, as_of: str | None, as_staff: str | None, password_stdin: bool, staff_key_stdin: bool, as_json: bool) -> None:
    """Dry run: per rule, the fields, records and subjects due, those held back, and sample subject ids. A saved plan
    is made by an authenticated staff member (--as NAME), the first of the two people."""
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.identity.permissions import Permission
    from govern.retention import service

    now = None
    if as_of:
        now = datetime.fromisoformat(as_of)
        if now.tzinfo is None:
            _fail("--as-of needs a time zone offset")
    credential = _staff_credential(as_staff, password_stdin, staff_key_stdin, "the maker of a saved plan") if save else None
    rt = runtime()
    actor = _authenticated(rt, credential, service.RetentionAction.PLAN_CREATE, Permission.RETENTION_PLAN_CREATE) if credential else Actor.operator()
    try:
        with rt.database.unit_of_work() as session:
            made = service.make_plan(session=session, policy=rt.policy, actor=actor, save=save, now=now, note=note)
            payload = plan_dict(made.plan, made.summary)
            text = plan_text(made.summary, made.plan)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    if save and not as_json:
        text += f"\nsaved. Another person approves it with: govern retention approve {payload['id']} --as THEIR_NAME"
    emit(as_json, payload, text)


@retention.command("plans")
@click.option("--json", "as_json", is_flag=True)
def plans_cmd(as_json: bool) -> None:
    """Saved plans, newest first."""
    from govern.retention import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        rp = rt.policy.retention
        rows = [plan_dict(p, status=service.plan_status(p, rp)) for p in service.list_plans(session=session)]
    lines = [f"{'id':36} {'status':9} {'items':>9} {'created by':20} {'approved by':28} as of"]
    for r in rows:
        lines.append(f"{str(r['id']):36} {r['status']:9} {r['items']:>9} {r['created_by']:20} {r['approved_by'] or '-':28} {r['as_of']:%Y-%m-%d %H:%M}")
    emit(as_json, rows, "\n".join(lines))


@retention.command("show")
@click.argument("plan_id")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(plan_id: str, as_json: bool) -> None:
    """One saved plan: its rules, counts and samples, for review."""
    from govern.errors import Problem
    from govern.retention import service

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            plan = service.get_plan(session=session, plan_id=_uuid(plan_id))
            status = service.plan_status(plan, rt.policy.retention)
            payload, text = plan_dict(plan, status=status), plan_text(plan.summary, plan)
    except Problem as exc:
        _fail(exc.detail or exc.title)
    emit(as_json, payload, text + (f"\ncreated by {payload['created_by']}; approved by {payload['approved_by'] or 'nobody yet'}"))


@retention.command("approve")
@click.argument("plan_id")
@staff_options
@click.option("--json", "as_json", is_flag=True)
def approve_cmd(plan_id: str, as_staff: str | None, password_stdin: bool, staff_key_stdin: bool, as_json: bool) -> None:
    """Approve a saved plan made by someone else, as an authenticated staff member holding retention:plan:approve:
    --as NAME (that person's password is asked) or --staff-key-stdin. The OS account is never the second person."""
    from govern.errors import Problem
    from govern.identity.permissions import Permission
    from govern.retention import service

    credential = _staff_credential(as_staff, password_stdin, staff_key_stdin, "the approver")
    rt = runtime()
    actor = _authenticated(rt, credential, service.RetentionAction.PLAN_APPROVE, Permission.RETENTION_PLAN_APPROVE)
    try:
        with rt.database.unit_of_work() as session:
            plan = service.approve_plan(session=session, policy=rt.policy, actor=actor, plan_id=_uuid(plan_id))
            payload = plan_dict(plan)
    except Problem as exc:
        if exc.audit is not None:
            with rt.database.unit_of_work() as session:
                service.record_refusal(session=session, actor=actor, refusal=exc.audit)
        _fail(exc.detail or exc.title)
    emit(as_json, payload, f"approved plan {payload['id']} ({payload['items']} items); run: govern retention purge --plan {payload['id']}")


@retention.command("purge")
@click.option("--plan", "plan_id", default=None, help="Execute this approved plan (or resume its interrupted run).")
@click.option("--all-due", is_flag=True, help="Plan and purge everything due now (schedules; only if retention.yaml allows unattended purges).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--pause", default=0.0, show_default=True, type=click.FloatRange(0, 60), help="Seconds between batches, to spare a busy primary.")
@click.option("--json", "as_json", is_flag=True)
def purge_cmd(plan_id: str | None, all_due: bool, batch_size: int, pause: float, as_json: bool) -> None:
    """Execute an approved plan in batches; interrupted (Ctrl-C, SIGTERM, kill -9), the same command resumes it."""
    from sqlalchemy.exc import DBAPIError

    from govern.identity.actor import Actor
    from govern.retention import purge

    if bool(plan_id) == all_due:
        _fail("give --plan PLAN_ID or --all-due", code=2)
    rt = runtime()
    stop = {"asked": False}

    def graceful(signum, _frame):
        # First signal: finish the batch in hand, then stop. A second Ctrl-C stops at once (the batch rolls back).
        if stop["asked"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop["asked"] = True
        click.echo("\nstopping after the current batch (Ctrl-C again to stop now)…", err=True)

    signal.signal(signal.SIGINT, graceful)
    signal.signal(signal.SIGTERM, graceful)
    progress = ProgressLine("purged", "items")
    common = dict(
        database=rt.database, envelope=rt.envelope, policy=rt.policy, actor=Actor.operator(), ledgers=rt.ledgers,
        batch_size=batch_size, pause_seconds=pause, on_progress=progress, should_stop=lambda: stop["asked"],
    )
    try:
        if all_due:
            results = purge.purge_all_due(**common)
        else:
            results = [purge.purge_plan(plan_id=_uuid(plan_id), **common)]
    except purge.PurgeBusy as exc:
        _fail(f"{exc}; not started", code=3)
    except purge.PurgeRefused as exc:
        _fail(str(exc), code=1)
    except purge.PurgeInterrupted as exc:
        progress.end()
        _fail(f"{exc}. Nothing is lost: run the same command again to resume.", code=4)
    except DBAPIError as exc:
        progress.end()
        _fail(f"database error ({type(exc.orig).__name__ if exc.orig else type(exc).__name__}); every committed batch stands. Run the same command again to resume.", code=4)
    progress.end()
    payload = [r.__dict__ for r in results]
    lines = []
    for r in results:
        lines.append(
            f"run {r.run_id} ({'resumed' if r.resumed else 'plan ' + str(r.plan_id)}) {r.status} in {r.seconds:.1f}s: {purge.describe_counts(r.counts)}"
        )
    emit(as_json, payload, "\n".join(lines))


@retention.command("restart-ledger")
@click.option("--ledger", "which", type=click.Choice(["purges", "tombstones", "request-erasures"]), default="purges", show_default=True)
@click.option("--reason", required=True, help="Why the ledger is lost (≤ 64 characters, no personal data); audited.")
@click.option("--json", "as_json", is_flag=True)
def restart_ledger_cmd(which: str, reason: str, as_json: bool) -> None:
    """Start an empty ledger (purges.jsonl, tombstones.jsonl or request-erasures.jsonl) after the old one was lost,
    audited with REASON. What the lost one recorded cannot be replayed after a restore of a backup older than now:
    take a fresh database backup."""
    from govern.identity.actor import Actor
    from govern.retention import ledger

    if problem := ledger.override_reason_problem(reason):
        _fail(f"--reason: {problem}", code=2)
    rt = runtime()
    lost = rt.ledgers.by_name(which)
    if lost.exists():
        _fail(f"{lost.path} is there; nothing to restart", code=2)
    ledger.accept_missing(database=rt.database, actor=Actor.operator(), missing=[lost], reason=reason)
    emit(as_json, {"restarted": str(lost.path)}, f"started an empty {lost.path} (audited). Take a fresh database backup: older ones cannot have purges replayed.")


@retention.command("runs")
@click.option("--json", "as_json", is_flag=True)
def runs_cmd(as_json: bool) -> None:
    """Purge runs, newest first: outcome, counts, who approved."""
    from govern.retention import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        rows = [run_dict(r) for r in service.list_runs(session=session)]
    lines = [f"{'run':>5} {'status':11} {'mode':7} {'fields':>8} {'records':>9} {'subjects':>8} {'held':>6} {'approved by':28} started"]
    for r in rows:
        c = r["counts"]
        lines.append(
            f"{r['id']:>5} {r['status']:11} {r['mode']:7} {c['fields']:>8} {c['records']:>9} {c['subjects']:>8} {c['held']:>6} {r['approved_by'] or '-':28} {r['started_at']:%Y-%m-%d %H:%M}"
        )
    emit(as_json, rows, "\n".join(lines))


@retention.command("obligations")
@click.option("--json", "as_json", is_flag=True)
def obligations_cmd(as_json: bool) -> None:
    """What a law obliges keeping, per jurisdiction and record type (policies/retention.yaml `obligations`): the longest
    that applies to a subject keeps an item from an erasure, a closure, a withdrawal and a purge."""
    rp = runtime().policy.retention
    rows = [
        {"obligation": o.name, "jurisdictions": sorted(o.jurisdictions), "member_states": sorted(o.member_states) if o.member_states else None,
         "target": o.target, "covers": sorted(o.names), "keep": str(o.keep), "counted_from": o.counted_from,
         "legal_basis": {"code": o.code, "text": o.text}, "source": o.source}
        for o in rp.obligations
    ]
    lines = [f"{'obligation':28} {'where':14} {'covers':22} {'keep':>5} {'from':12} basis"]
    for r in rows:
        where = ",".join(r["jurisdictions"]) + (f"/{','.join(r['member_states'])}" if r["member_states"] else "")
        lines.append(f"{r['obligation']:28} {where:14} {','.join(r['covers']):22} {r['keep']:>5} {r['counted_from']:12} {r['legal_basis']['code']}")
    emit(as_json, rows, "\n".join(lines))


@retention.command("holds")
@click.option("--subject", "subject_id", default=None)
@click.option("--all", "show_all", is_flag=True, help="Include lifted and ended holds.")
@click.option("--json", "as_json", is_flag=True)
def holds_cmd(subject_id: str | None, show_all: bool, as_json: bool) -> None:
    """Legal holds (active ones unless --all)."""
    from govern.retention import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        rows = [
            {"id": h.id, "subject_id": h.subject_id, "scope": h.scope, "record_type": h.record_type, "reason": h.reason, "owner": h.owner,
             "until": h.until, "created_at": h.created_at, "lifted_at": h.lifted_at}
            for h in service.list_holds(session=session, subject_id=_uuid(subject_id, "subject id") if subject_id else None, active_only=not show_all)
        ]
    lines = [f"{'hold':36} {'subject':36} {'scope':11} {'reason':22} {'owner':20} until"]
    for r in rows:
        lines.append(f"{str(r['id']):36} {str(r['subject_id']):36} {r['scope']:11} {r['reason']:22} {r['owner']:20} {r['until'] or '-'}{'  (lifted)' if r['lifted_at'] else ''}")
    emit(as_json, rows, "\n".join(lines))


commands = [retention]
