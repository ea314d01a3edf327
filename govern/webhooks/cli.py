"""`govern webhooks …`: register endpoints (the secret is printed once), run the delivery worker (from cron, or
`--follow`), list deliveries and re-queue failed ones."""

from __future__ import annotations

import time
import uuid

import click

from govern.cli_support import emit, runtime
from govern.jobs import ProgressLine


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a {what} id (UUID)") from None


def _problem(exc) -> click.ClickException:
    return click.ClickException(exc.detail or exc.title)


def _row(e, counts=None) -> dict:
    out = {"id": str(e.id), "name": e.name, "url": e.url, "owner": {"kind": e.owner_kind, "id": str(e.owner_id)}, "event_types": list(e.event_types),
           "enabled": e.enabled, "secret_generation": e.secret_generation}
    if counts is not None:
        out["deliveries"] = counts
    return out


@click.group("webhooks")
def webhooks_group() -> None:
    """Propagation webhooks: endpoints, the delivery worker, failed deliveries."""


@webhooks_group.group("endpoints")
def endpoints_group() -> None:
    """Webhook endpoints of CRM components and recipients."""


@endpoints_group.command("add")
@click.option("--url", required=True, help="https:// (http:// only for loopback hosts)")
@click.option("--principal", "principal", help="the CRM component (service principal) name or id")
@click.option("--recipient", "recipient", help="the recipient id")
@click.option("--events", required=True, help="comma-separated: subject.erased,subject.rectified,…")
@click.option("--name", default=None)
@click.option("--disabled", is_flag=True, help="register it disabled")
@click.option("--json", "as_json", is_flag=True)
def add_cmd(url: str, principal: str | None, recipient: str | None, events: str, name: str | None, disabled: bool, as_json: bool) -> None:
    """Register an endpoint; its signing secret is printed this once."""
    from govern.errors import Problem
    from govern.identity import service as identity
    from govern.identity.actor import Actor
    from govern.webhooks import service
    from govern.webhooks.egress import Guard

    if (principal is None) == (recipient is None):
        raise click.UsageError("name exactly one owner: --principal or --recipient")
    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            if principal is not None:
                owner = {"kind": "principal", "id": str(identity.get_by_name_or_id(session=session, ref=principal).id)}
            else:
                owner = {"kind": "recipient", "id": str(_uuid(recipient or "", "recipient"))}
            issued = service.create_endpoint(
                session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(),
                data={"url": url, "owner": owner, "event_types": [e.strip() for e in events.split(",") if e.strip()], "name": name, "enabled": not disabled},
                guard=Guard.of(rt),
            )
            row = _row(issued.endpoint)
    except Problem as exc:
        raise _problem(exc) from None
    emit(as_json, {**row, "secret": issued.secret},
          f"endpoint {row['id']} ({row['owner']['kind']} {row['owner']['id']}) → {row['url']}\n"
          f"secret (shown once, store it in the receiver): {issued.secret}")


@endpoints_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json: bool) -> None:
    """Every endpoint, with its deliveries per state."""
    from govern.webhooks import service

    rt = runtime()
    with rt.database.unit_of_work() as session:
        endpoints = service.list_endpoints(session=session)
        counts = service.delivery_counts(session=session, endpoint_ids=[e.id for e in endpoints])
        rows = [_row(e, counts[e.id]) for e in endpoints]
    lines = [f"{'id':36} {'on':3} {'owner':10} {'pending':>7} {'failed':>6} {'done':>6} url"]
    for r in rows:
        d = r["deliveries"]
        lines.append(f"{r['id']:36} {'yes' if r['enabled'] else 'no':3} {r['owner']['kind']:10} {d['pending']:>7} {d['failed']:>6} {d['delivered']:>6} {r['url']}")
    emit(as_json, rows, "\n".join(lines))


def _set_enabled(endpoint_id: str, enabled: bool, as_json: bool) -> None:
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.webhooks import service

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            current = service.get_endpoint(session=session, endpoint_id=_uuid(endpoint_id, "endpoint"))
            e = service.update_endpoint(session=session, policy=rt.policy, actor=Actor.operator(), endpoint_id=current.id,
                                        expected_version=current.version, changes={"enabled": enabled})
            row = _row(e)
    except Problem as exc:
        raise _problem(exc) from None
    emit(as_json, row, f"endpoint {row['id']} {'enabled' if enabled else 'disabled'}")


@endpoints_group.command("disable")
@click.argument("endpoint_id")
@click.option("--json", "as_json", is_flag=True)
def disable_cmd(endpoint_id: str, as_json: bool) -> None:
    """Stop sending to an endpoint: no new deliveries are queued for it and queued ones wait until it is enabled."""
    _set_enabled(endpoint_id, False, as_json)


@endpoints_group.command("enable")
@click.argument("endpoint_id")
@click.option("--json", "as_json", is_flag=True)
def enable_cmd(endpoint_id: str, as_json: bool) -> None:
    """Resume sending to an endpoint."""
    _set_enabled(endpoint_id, True, as_json)


@endpoints_group.command("rotate-secret")
@click.argument("endpoint_id")
@click.option("--json", "as_json", is_flag=True)
def rotate_cmd(endpoint_id: str, as_json: bool) -> None:
    """A new signing secret, printed this once; the previous one keeps signing for the policy's grace period."""
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.webhooks import service

    rt = runtime()
    try:
        with rt.database.unit_of_work() as session:
            issued = service.rotate_secret(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(),
                                           endpoint_id=_uuid(endpoint_id, "endpoint"))
            row = _row(issued.endpoint)
    except Problem as exc:
        raise _problem(exc) from None
    emit(as_json, {**row, "secret": issued.secret}, f"endpoint {row['id']}: new secret (shown once): {issued.secret}")


@webhooks_group.command("deliver")
@click.option("--batch", "batch", default=50, show_default=True, type=click.IntRange(1, 1000), help="deliveries claimed per transaction")
@click.option("--follow", type=click.FloatRange(0.1, 3600), help="keep delivering, looking for due deliveries every N seconds")
@click.option("--json", "as_json", is_flag=True)
def deliver_cmd(batch: int, follow: float | None, as_json: bool) -> None:
    """Send due deliveries (safe to run on several hosts at once, and from cron; a killed run's rows are taken over)."""
    from govern.identity.actor import Actor
    from govern.webhooks import delivery
    from govern.webhooks.egress import Guard

    rt = runtime()
    worker = delivery.worker_name()
    while True:
        line = ProgressLine("delivered", "deliveries")
        run = delivery.deliver_due(database=rt.database, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), batch_size=batch,
                                   worker=worker, on_progress=None if as_json else line, guard=Guard.of(rt))
        line.end()
        summary = {k: v for k, v in run.__dict__.items()}
        if run.claimed or follow is None:
            emit(as_json, summary, f"{run.claimed} sent: {run.delivered} delivered, {run.retried} to retry, {run.failed} failed"
                  + (f", {run.lease_lost} taken over by another worker" if run.lease_lost else ""))
        if follow is None:
            return
        time.sleep(follow)


@webhooks_group.command("deliveries")
@click.option("--state", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--endpoint", "endpoint_id")
@click.option("--subject", "subject_id")
@click.option("--request", "request_id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def deliveries_cmd(state, endpoint_id, subject_id, request_id, limit, as_json) -> None:
    """Deliveries newest first (the listing is audited)."""
    from govern.identity.actor import Actor
    from govern.webhooks import service

    filters = service.DeliveryFilters(
        endpoint_id=_uuid(endpoint_id, "endpoint") if endpoint_id else None, state=state,
        subject_id=_uuid(subject_id, "subject") if subject_id else None, request_id=_uuid(request_id, "request") if request_id else None,
    )
    rt = runtime()
    with rt.database.unit_of_work() as session:
        rows, _ = service.list_deliveries(session=session, actor=Actor.operator(), filters=filters, limit=limit)
        out = [{"id": str(d.id), "event_type": d.event_type, "endpoint_id": str(d.endpoint_id), "subject_id": str(d.subject_id),
                "state": d.state, "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error} for d in rows]
    lines = [f"{'id':36} {'state':9} {'tries':>5} {'last':>5} {'event':28} endpoint"]
    lines += [f"{r['id']:36} {r['state']:9} {r['attempts']:>5} {r['last_status'] or r['last_error'] or '-'!s:>5} {r['event_type']:28} {r['endpoint_id']}" for r in out]
    emit(as_json, out, "\n".join(lines))


@webhooks_group.command("retry")
@click.argument("delivery_ids", nargs=-1)
@click.option("--all-failed", is_flag=True, help="every failed delivery (of --endpoint, if given)")
@click.option("--endpoint", "endpoint_id")
@click.option("--json", "as_json", is_flag=True)
def retry_cmd(delivery_ids: tuple[str, ...], all_failed: bool, endpoint_id: str | None, as_json: bool) -> None:
    """Re-queue failed deliveries for the next worker run."""
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.webhooks import service

    if bool(delivery_ids) == all_failed:
        raise click.UsageError("give delivery ids or --all-failed")
    rt = runtime()
    actor = Actor.operator()
    try:
        with rt.database.unit_of_work() as session:
            ids = [_uuid(d, "delivery") for d in delivery_ids]
            if all_failed:
                filters = service.DeliveryFilters(state="failed", endpoint_id=_uuid(endpoint_id, "endpoint") if endpoint_id else None)
                ids = []
                cursor = None
                while True:
                    rows, cursor = service.list_deliveries(session=session, actor=actor, filters=filters, limit=1000, cursor=cursor)
                    ids += [d.id for d in rows]
                    if cursor is None:
                        break
            for delivery_id in ids:
                service.retry(session=session, actor=actor, delivery_id=delivery_id)
    except Problem as exc:
        raise _problem(exc) from None
    emit(as_json, {"requeued": [str(i) for i in ids]}, f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} re-queued")


commands = [webhooks_group]
