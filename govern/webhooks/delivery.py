"""The delivery worker: claims due deliveries from the outbox with a lease, POSTs each signed body, and records the
attempt — delivered on a 2xx, otherwise retried with exponential backoff and jitter until the policy's last attempt,
then `failed`. Safe to run on many hosts at once and resumable after a kill: a claimed row is leased (PostgreSQL
`FOR UPDATE SKIP LOCKED`, then a conditional UPDATE that only one worker can win), no transaction stays open during
a POST, and a row whose worker died is taken over when its lease ends. Delivery is at least once; receivers keep
`Govern-Event-Id` to ignore a repeat."""

from __future__ import annotations

import http.client
import os
import random
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, or_, select, update

from govern import __version__
from govern.crypto.envelope import CiphertextRejected, Envelope
from govern.crypto.keyring import KeyringError
from govern.db import Database
from govern.errors import Invalid
from govern.identity.actor import Actor
from govern.jobs import Progress, rate_since
from govern.policy import Policy
from govern.timeutil import as_utc, utcnow
from govern.webhooks import egress, service, signatures
from govern.webhooks.egress import Guard, Refused, Target
from govern.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    endpoint_id: uuid.UUID
    url: str
    body: str
    secrets: tuple[str, ...] | None = field(repr=False)  # None: the sealed secret could not be opened (never sent unsigned)
    attempt: int  # this attempt's number in the current series (1 … max_attempts)


@dataclass(frozen=True)
class Answer:
    status: int | None  # the HTTP status, or None when no answer came (refused, timed out, unreachable)
    error: str | None  # the kind of failure, never a response body
    duration_ms: int
    final: bool = False  # no retry: the target was refused (an internal address), not merely unreachable


@dataclass
class DeliveryRun:
    worker: str
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    lease_lost: int = 0


Sender = Callable[[Target, bytes, dict[str, str], float], Answer]


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _due(now: datetime):
    return (
        (WebhookDelivery.state == "pending") & (WebhookDelivery.next_attempt_at <= now)
        & or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now)
        & (WebhookEndpoint.enabled.is_(True))
    )


def count_due(*, database: Database, now: datetime | None = None) -> int:
    now = as_utc(now) if now else utcnow()
    with database.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                              .where(_due(now))) or 0


def claim(*, database: Database, policy: Policy, envelope: Envelope, worker: str, batch_size: int, now: datetime) -> list[Claimed]:
    """Leases up to `batch_size` due deliveries of enabled endpoints to `worker`, in one short transaction."""
    lease_until = now + timedelta(seconds=service._settings(policy).lease_seconds)
    with database.unit_of_work() as session:
        query = (
            select(WebhookDelivery.id).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(_due(now))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(batch_size)
        )
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)  # rows another worker is claiming are passed over
        won = []
        for delivery_id in session.scalars(query).all():
            # The conditional UPDATE is the claim itself: of two workers that saw the row free, one changes it.
            result = session.execute(
                update(WebhookDelivery).where(
                    WebhookDelivery.id == delivery_id, WebhookDelivery.state == "pending",
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
                ).values(lease_owner=worker, lease_until=lease_until).execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                won.append(delivery_id)
        if not won:
            return []
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(won)).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        ).all()
        return [
            Claimed(
                delivery_id=d.id, event_id=d.event_id, event_type=d.event_type, endpoint_id=e.id, url=e.url, body=d.body,
                secrets=_secrets(envelope, e, now), attempt=d.attempts + 1,
            )
            for d, e in rows
        ]


def _secrets(envelope: Envelope, endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...] | None:
    """An endpoint whose secret cannot be opened (a master key missing from the keyring, an altered row) fails its own
    deliveries, one attempt at a time, instead of stopping the worker for every other endpoint."""
    try:
        return tuple(service.signing_secrets(envelope=envelope, endpoint=endpoint, now=now))
    except (CiphertextRejected, KeyringError):
        return None


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POSTs once to the address that was checked (egress.connection: the name in Host and TLS SNI, no proxy) and
    follows no redirect — a 3xx is an answer like any other, since following it could carry the signed body to a host
    nobody registered. The answer's status, or the kind of failure (the response body is read a little and dropped)."""
    started = time.monotonic()
    status, error = None, None
    conn = egress.connection(target, timeout)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        status = response.status
        response.read(1024)
    except (TimeoutError, socket.timeout):
        error = "timeout"
    except ssl.SSLError as exc:
        error = f"tls: {type(exc).__name__}"
    except (ConnectionError, socket.gaierror) as exc:
        error = f"unreachable: {type(exc).__name__}"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"error: {type(exc).__name__}"
    finally:
        conn.close()
    return Answer(status=status, error=error, duration_ms=int((time.monotonic() - started) * 1000))


def send(item: Claimed, *, policy: Policy, now: datetime, sender: Sender = post, guard: Guard | None = None) -> Answer:
    """Checks the URL again (its host may have been re-pointed since registration, or the policy changed), signs the
    stored body at `now` and sends it to the address checked. A refused target is not contacted: the delivery fails at
    once with the reason, for privacy staff to see; a name that does not resolve now is retried like a refused connection."""
    settings = service._settings(policy)
    guard = guard or Guard.from_policy(policy)
    try:
        target = guard.check(service.check_url(item.url))
    except Invalid:  # check_url refused it (validation_failed)
        return Answer(status=None, error="url_refused_by_policy", duration_ms=0)
    except Refused as exc:
        return Answer(status=None, error=f"refused: {exc.reason}", duration_ms=0, final=exc.reason != "unresolvable")
    if item.secrets is None:
        return Answer(status=None, error="secret_unreadable", duration_ms=0)
    body = item.body.encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"govern-webhooks/{__version__}",
        "Govern-Event-Id": str(item.event_id),
        "Govern-Event-Type": item.event_type,
        "Govern-Delivery-Id": str(item.delivery_id),
        "Govern-Delivery-Attempt": str(item.attempt),
        # Deprecated, kept for one release: receivers move to the Standard Webhooks headers below.
        "Govern-Signature": service.signature_header(secrets_=item.secrets, body=body, timestamp=timestamp),
        **signatures.headers(message_id=f"msg_{item.delivery_id}", secrets_=item.secrets, body=body, timestamp=timestamp),
    }
    return sender(target, body, headers, settings.timeout_seconds)


def record(
    *, database: Database, policy: Policy, actor: Actor, worker: str, item: Claimed, answer: Answer, started_at: datetime, now: datetime,
    draw: Callable[[], float] = random.random,
) -> str:
    """Records the attempt and what follows it: delivered, retry (with backoff) or failed. Returns that outcome."""
    settings = service._settings(policy)
    ok = answer.status is not None and 200 <= answer.status < 300
    with database.unit_of_work() as session:
        delivery = session.get(WebhookDelivery, item.delivery_id, with_for_update=True)
        if delivery is None:
            return "lease_lost"
        number = (session.scalar(select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)) or 0) + 1
        mine = delivery.state == "pending" and delivery.lease_owner == worker
        if ok and delivery.state == "pending":
            # Delivered is a fact even if the lease ran out meanwhile: the receiver has it (and dedupes a repeat).
            outcome = "delivered"
            delivery.state, delivery.delivered_at = "delivered", now
        elif not mine:
            outcome = "lease_lost"  # another worker took the row over (or staff changed it): its schedule is not ours to set
        elif delivery.attempts + 1 >= settings.max_attempts or answer.final:
            outcome = "failed"
            delivery.state, delivery.failed_at = "failed", now
        else:
            outcome = "retry"
            delivery.next_attempt_at = now + settings.backoff(delivery.attempts + 1, draw())
        if outcome != "lease_lost":
            delivery.attempts += 1
            delivery.last_status, delivery.last_error = answer.status, answer.error
            delivery.lease_owner = delivery.lease_until = None
            delivery.updated_at = now
        session.add(WebhookAttempt(
            delivery_id=delivery.id, endpoint_id=item.endpoint_id, number=number, worker=worker, started_at=started_at, duration_ms=answer.duration_ms,
            status_code=answer.status, error=answer.error, outcome=outcome,
        ))
        if outcome in ("delivered", "failed"):
            detail = f"status={answer.status}" if answer.status is not None else f"error={(answer.error or '')[:40]}"
            service.audit_outcome(session=session, actor=actor, delivery=delivery, delivered=outcome == "delivered", detail=f"{detail} attempts={delivery.attempts}")
    return outcome


def deliver_due(
    *, database: Database, policy: Policy, envelope: Envelope, actor: Actor, batch_size: int = 50, now: datetime | None = None,
    worker: str | None = None, max_batches: int | None = None, sender: Sender = post, on_progress: Callable[[Progress], None] | None = None,
    guard: Guard | None = None,
) -> DeliveryRun:
    """Sends every due delivery this worker can claim, batch by batch, until none is left. `now` fixes the clock (tests);
    otherwise each batch reads it afresh. `guard` decides where a URL may lead (default: the policy's, https required,
    the system's resolver)."""
    guard = guard or Guard.from_policy(policy)
    run = DeliveryRun(worker=worker or worker_name())
    fixed = as_utc(now) if now else None
    total = count_due(database=database, now=fixed)
    started, batches = time.monotonic(), 0
    while max_batches is None or batches < max_batches:
        batch_now = fixed or utcnow()
        items = claim(database=database, policy=policy, envelope=envelope, worker=run.worker, batch_size=batch_size, now=batch_now)
        if not items:
            break
        batches += 1
        run.claimed += len(items)
        for item in items:
            at = fixed or utcnow()
            answer = send(item, policy=policy, now=at, sender=sender, guard=guard)
            outcome = record(database=database, policy=policy, actor=actor, worker=run.worker, item=item, answer=answer, started_at=at,
                             now=fixed or utcnow())
            counter = "retried" if outcome == "retry" else outcome
            setattr(run, counter, getattr(run, counter) + 1)
        if on_progress:
            total = max(total, run.claimed)
            on_progress(Progress(run.claimed, total, rate_since(started, run.claimed)))
    return run
