"""Two admins changing the same webhook endpoint at once (issue 19): each change reads the endpoint FOR UPDATE, so the
second waits for the first and builds on it — never a 500 or a 503 from the endpoint's version check."""

from __future__ import annotations

import uuid

from govern.identity.actor import Actor
from govern.webhooks import service
from govern.webhooks.models import WebhookEndpoint
from tests.races import race

ADMINS = [Actor(name=f"admin-{n}", kind="staff", roles=("admin",)) for n in ("li", "chen")]


def test_two_admins_rotating_a_secret_at_once_both_rotations_stand_one_after_the_other(runtime, make_endpoint, crm_component, audit_events):
    eid, _ = make_endpoint("principal", crm_component(), "https://crm.example.cn/hooks/govern", events=["subject.erased"])
    endpoint_id = uuid.UUID(eid)

    def rotate(actor):
        return lambda session: service.rotate_secret(
            session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, endpoint_id=endpoint_id,
        ).endpoint.secret_generation

    first, second = race(runtime, rotate(ADMINS[0]), rotate(ADMINS[1]))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second  # not StaleDataError (500) on PostgreSQL
    assert second == first + 1
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookEndpoint, endpoint_id).secret_generation == second
    assert [e.reason for e in audit_events(action="webhooks:endpoint:rotate-secret")][-2:] == [f"generation={first}", f"generation={second}"]
