"""The delivery worker: a receiver that fails is retried with exponential backoff and jitter (policies/webhooks.yaml)
and the delivery is marked failed after the last attempt, visible to privacy staff, who can re-queue it; two workers at
once send each message exactly once; a worker killed mid-run leaves its rows to be taken over when the lease ends."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from govern.identity.actor import Actor
from govern.timeutil import as_utc
from govern.webhooks import delivery
from govern.webhooks import service as webhooks
from govern.webhooks.models import WebhookAttempt

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def _queue(runtime, n_events: int, now: datetime = T0) -> list[uuid.UUID]:
    """n erasure events queued through the service, as the request flow does (the subject ids are fresh)."""
    subjects = []
    with runtime.database.unit_of_work() as session:
        for _ in range(n_events):
            sid = uuid.uuid4()
            webhooks.enqueue(session=session, actor=Actor.operator(), event_type=webhooks.ERASED, subject_id=sid, request_id=None, now=now)
            subjects.append(sid)
    return subjects


def test_a_failing_receiver_is_retried_with_backoff_then_marked_failed_and_can_be_requeued(
    receiver, make_endpoint, crm_component, runtime, deliver, deliveries, client_as, audit_events,
):
    policy = runtime.policy.webhooks
    receiver.status = 500
    make_endpoint("principal", crm_component(), receiver.at("/down"))
    [sid] = _queue(runtime, 1)
    now = T0
    for attempt in range(1, policy.max_attempts + 1):
        run = deliver(now=now)
        assert run.claimed == 1, f"attempt {attempt} was due at {now}"
        [row] = deliveries()
        assert row.attempts == attempt and row.last_status == 500
        if attempt == policy.max_attempts:
            break
        assert row.state == "pending"
        wait = as_utc(row.next_attempt_at) - now
        backoff = min(policy.max_delay_seconds, policy.initial_delay_seconds * policy.factor ** (attempt - 1))
        assert backoff * (1 - policy.jitter) <= wait.total_seconds() <= backoff, (attempt, wait)
        assert deliver(now=now + wait - timedelta(seconds=1)).claimed == 0  # not before its time
        now += wait

    [failed] = deliveries()
    assert failed.state == "failed" and failed.attempts == policy.max_attempts and failed.failed_at is not None
    assert len(receiver.got("/down")) == policy.max_attempts
    with runtime.database.unit_of_work() as session:
        outcomes = [a.outcome for a in session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.number))]
    assert outcomes == ["retry"] * (policy.max_attempts - 1) + ["failed"]
    [event] = audit_events(action="webhooks:delivery:failed")
    assert event.outcome == "failed" and event.subject_id == sid
    assert deliver(now=now + timedelta(days=30)).claimed == 0  # failed stays failed until a person acts

    privacy = client_as("privacy_staff")
    listed = privacy.get("/api/v1/webhooks/deliveries?state=failed")
    assert [d["id"] for d in listed.json["deliveries"]] == [str(failed.id)] and listed.json["deliveries"][0]["last_status"] == 500
    assert client_as("admin").post(f"/api/v1/webhooks/deliveries/{failed.id}/retry").status_code == 403
    requeued = privacy.post(f"/api/v1/webhooks/deliveries/{failed.id}/retry")
    assert requeued.status_code == 200 and (requeued.json["state"], requeued.json["attempts"]) == ("pending", 0)
    assert privacy.post(f"/api/v1/webhooks/deliveries/{failed.id}/retry").status_code == 409  # only a failed one
    receiver.status = 204
    assert deliver().delivered == 1
    [done] = deliveries()
    assert done.state == "delivered" and done.last_status == 204
    detail = privacy.get(f"/api/v1/webhooks/deliveries/{failed.id}").json
    assert [a["number"] for a in detail["attempt_log"]] == list(range(1, policy.max_attempts + 2))
    assert audit_events(action="webhooks:delivery:requeue")


def test_a_redirect_or_an_unreachable_receiver_is_a_failed_attempt(receiver, make_endpoint, crm_component, runtime, deliver, deliveries):
    receiver.status = 302
    make_endpoint("principal", crm_component(), receiver.at("/moved"))
    make_endpoint("principal", crm_component(), "http://127.0.0.1:9/closed")  # the discard port: nobody listens
    _queue(runtime, 1)
    run = deliver(now=T0)
    assert (run.claimed, run.retried, run.delivered) == (2, 2, 0)
    by_url = {row.last_status: row for row in deliveries()}
    assert by_url[302].state == "pending"
    assert by_url[None].last_error.startswith("unreachable") and by_url[None].state == "pending"


def test_two_workers_at_once_deliver_each_message_exactly_once(receiver, make_endpoint, crm_component, runtime, deliver, deliveries):
    make_endpoint("principal", crm_component(), receiver.at("/a"))
    make_endpoint("principal", crm_component(), receiver.at("/b"))
    _queue(runtime, 15)
    original = delivery.post

    def slow_post(*args):
        time.sleep(0.01)  # a receiver that takes a moment, so the workers overlap
        return original(*args)

    start = threading.Barrier(2)
    runs, errors = [], []

    def work(name):
        try:
            start.wait()
            runs.append(deliver(now=T0, batch_size=3, worker=name, sender=slow_post))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    got = [(r.path, r.headers["Govern-Event-Id"]) for r in receiver.got()]
    assert len(got) == 30 and len(set(got)) == 30  # each (endpoint, event) once, none twice
    assert sum(r.claimed for r in runs) == 30 and sum(r.delivered for r in runs) == 30
    assert all(r.claimed > 0 for r in runs)  # both really worked, side by side
    assert {d.state for d in deliveries()} == {"delivered"}


def test_a_killed_worker_leaves_its_rows_to_be_taken_over_when_its_lease_ends(receiver, make_endpoint, crm_component, runtime, deliver, deliveries):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    _queue(runtime, 2)
    lease = timedelta(seconds=runtime.policy.webhooks.lease_seconds)
    claimed = delivery.claim(database=runtime.database, policy=runtime.policy, envelope=runtime.envelope, worker="killed", batch_size=10, now=T0)
    assert len(claimed) == 2  # … and the worker dies before sending anything
    assert deliver(now=T0 + lease - timedelta(seconds=1)).claimed == 0
    run = deliver(now=T0 + lease)
    assert run.delivered == 2 and {d.state for d in deliveries()} == {"delivered"}
    assert len(receiver.got()) == 2


def test_a_late_answer_from_a_worker_whose_lease_was_taken_over_does_not_reschedule(receiver, make_endpoint, crm_component, runtime, deliveries):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    _queue(runtime, 1)
    settings = dict(database=runtime.database, policy=runtime.policy, envelope=runtime.envelope, batch_size=1)
    [slow] = delivery.claim(worker="slow", now=T0, **settings)
    later = T0 + timedelta(seconds=runtime.policy.webhooks.lease_seconds)
    [fast] = delivery.claim(worker="fast", now=later, **settings)
    assert slow.delivery_id == fast.delivery_id
    failing = delivery.Answer(status=503, error=None, duration_ms=5)
    common = dict(database=runtime.database, policy=runtime.policy, actor=Actor.operator(), item=slow, answer=failing)
    assert delivery.record(worker="slow", started_at=T0, now=later, **common) == "lease_lost"
    [row] = deliveries()
    assert (row.attempts, row.lease_owner) == (0, "fast")
    assert delivery.record(worker="fast", started_at=later, now=later, **{**common, "answer": delivery.Answer(200, None, 3)}) == "delivered"


def test_deliveries_are_signed_with_the_previous_secret_too_during_the_rotation_grace(
    receiver, make_endpoint, crm_component, admin, runtime, deliver,
):
    endpoint_id, old = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    rotated = admin.post(f"/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json["secret"] != old and rotated.json["secret_generation"] == 2
    new = rotated.json["secret"]
    _queue(runtime, 1, now=datetime.now(timezone.utc))
    deliver()
    [got] = receiver.got()
    header = got.headers["Govern-Signature"]
    assert header.count("v1=") == 2
    assert webhooks.verify_signature(secret=new, body=got.body, header=header)
    assert webhooks.verify_signature(secret=old, body=got.body, header=header)
    # After the grace period only the new secret signs.
    grace = timedelta(hours=runtime.policy.webhooks.rotation_grace_hours, seconds=1)
    later = datetime.now(timezone.utc) + grace
    _queue(runtime, 1, now=later)
    deliver(now=later)
    latest = receiver.got()[-1]
    assert latest.headers["Govern-Signature"].count("v1=") == 1
    assert webhooks.verify_signature(secret=new, body=latest.body, header=latest.headers["Govern-Signature"], now=later)
    assert not webhooks.verify_signature(secret=old, body=latest.body, header=latest.headers["Govern-Signature"], now=later)
    # A signature older than the tolerance is refused (a replay).
    assert not webhooks.verify_signature(secret=new, body=latest.body, header=latest.headers["Govern-Signature"], now=later + timedelta(minutes=10))
    assert json.loads(latest.body)["type"] == "subject.erased"


def test_the_readme_verification_snippet_accepts_a_real_signature_and_refuses_a_forged_one():
    import re

    from tests.conftest import repo_path

    readme = repo_path("README.md").read_text()
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify(" in block]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102  (the README's own code, as a receiver would paste it)
    body = b'{"id":"e1","type":"subject.erased"}'
    now = int(time.time())
    header = webhooks.signature_header(secrets_=["whsec_test"], body=body, timestamp=now)
    assert namespace["verify"]("whsec_test", body, header)
    assert not namespace["verify"]("whsec_other", body, header)
    assert not namespace["verify"]("whsec_test", body + b" ", header)
    old = webhooks.signature_header(secrets_=["whsec_test"], body=body, timestamp=now - 3600)
    assert not namespace["verify"]("whsec_test", body, old)


def test_a_secret_copied_from_another_endpoint_does_not_open_and_stops_only_that_endpoint(
    receiver, make_endpoint, crm_component, runtime, deliver, deliveries,
):
    from sqlalchemy import update

    from govern.webhooks.models import WebhookEndpoint

    good, _ = make_endpoint("principal", crm_component(), receiver.at("/good"))
    bad, _ = make_endpoint("principal", crm_component(), receiver.at("/bad"))
    with runtime.database.unit_of_work() as session:
        donor = session.get(WebhookEndpoint, uuid.UUID(good))
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(bad)).values(sealed_secret=donor.sealed_secret))
    _queue(runtime, 1)
    run = deliver(now=T0)
    assert (run.delivered, run.retried) == (1, 1)
    assert len(receiver.got("/good")) == 1 and receiver.got("/bad") == []  # nothing is sent unsigned
    [stuck] = [d for d in deliveries() if str(d.endpoint_id) == bad]
    assert (stuck.state, stuck.last_error) == ("pending", "secret_unreadable")
