"""Who follows a failed delivery up (issue 19 item 1): a delivery is assigned to a staff member who may re-queue
deliveries, or to nobody; the deliveries' listing filters by assignee (me, nobody, someone); a delivery delivered after
a re-queue is finished and is no longer (re)assigned. Every assignment is audited with the delivery's subject."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from govern.errors import Problem
from govern.identity.actor import Actor
from govern.webhooks import service as webhooks
from govern.webhooks.models import WebhookDelivery
from tests.console.test_webhooks import T0, failed_delivery  # noqa: F401  (a fixture)


def _assign(runtime, actor, delivery_id, assignee_id):
    with runtime.database.unit_of_work() as session:
        return webhooks.assign(session=session, policy=runtime.policy, actor=actor, delivery_id=delivery_id, assignee_id=assignee_id).assignee_id


def _listed(runtime, actor, **filters) -> set[uuid.UUID]:
    with runtime.database.unit_of_work() as session:
        rows, _ = webhooks.list_deliveries(session=session, actor=actor, filters=webhooks.DeliveryFilters(**filters))
        return {d.id for d in rows}


def _assignee(runtime, delivery_id):
    with runtime.database.unit_of_work() as session:
        return session.get(WebhookDelivery, delivery_id).assignee_id


def test_a_failed_delivery_is_assigned_to_me_or_a_colleague_and_the_listing_filters_by_assignee(runtime, failed_delivery, person, audit_events):  # noqa: F811
    delivery_id, subject_id, _ = failed_delivery
    (me, me_actor), (colleague, _) = person("privacy_staff"), person("dpo")
    assert _assign(runtime, me_actor, delivery_id, me.id) == me.id
    assert delivery_id in _listed(runtime, me_actor, state="failed", assignee="me")
    assert delivery_id not in _listed(runtime, me_actor, assignee="none") and delivery_id not in _listed(runtime, me_actor, assignee=str(colleague.id))
    _assign(runtime, me_actor, delivery_id, colleague.id)
    assert _listed(runtime, me_actor, assignee=str(colleague.id)) == {delivery_id} and delivery_id not in _listed(runtime, me_actor, assignee="me")
    _assign(runtime, me_actor, delivery_id, None)
    assert _assignee(runtime, delivery_id) is None and delivery_id in _listed(runtime, me_actor, assignee="none")
    events = audit_events(action="webhooks:delivery:assign")
    assert [(e.actor_name, e.subject_id, e.reason) for e in events] == [
        (me.name, subject_id, str(me.id)), (me.name, subject_id, str(colleague.id)), (me.name, subject_id, "unassigned")]
    assert {e.resource for e in events} == {f"webhook-endpoint:{_endpoint(runtime, delivery_id)}/delivery:{delivery_id}"}
    with pytest.raises(Problem) as refused:
        _listed(runtime, me_actor, assignee="wang")
    assert refused.value.status == 400


def _endpoint(runtime, delivery_id):
    with runtime.database.unit_of_work() as session:
        return session.get(WebhookDelivery, delivery_id).endpoint_id


def test_a_delivery_is_not_assigned_to_staff_who_cannot_requeue_it(runtime, failed_delivery, person):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    (_, dpo), (auditor, _), (security, _) = person("dpo"), person("auditor"), person("security")
    for who in (auditor.id, security.id, uuid.uuid4()):
        with pytest.raises(Problem) as refused:
            _assign(runtime, dpo, delivery_id, who)
        assert refused.value.status == 400
    assert _assignee(runtime, delivery_id) is None


def test_a_delivery_delivered_after_its_requeue_is_finished_and_not_reassigned(runtime, failed_delivery, person, audit_events):  # noqa: F811
    from govern.webhooks import delivery
    from govern.webhooks.egress import AllowList, Guard

    delivery_id, _, _ = failed_delivery
    (me, actor) = person("privacy_staff")
    _assign(runtime, actor, delivery_id, me.id)
    with runtime.database.unit_of_work() as session:
        webhooks.retry(session=session, actor=actor, delivery_id=delivery_id, now=T0 + timedelta(days=10))
    assert _assign(runtime, actor, delivery_id, me.id) == me.id  # pending again: still somebody's to watch
    guard = replace(Guard.of(runtime), allow=AllowList.parse(["127.0.0.0/8"]), require_https=False)
    accepted = lambda url, body, headers, timeout: delivery.Answer(status=200, error=None, duration_ms=1)  # noqa: E731
    delivery.deliver_due(database=runtime.database, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(),
                         now=T0 + timedelta(days=10, minutes=1), sender=accepted, guard=guard)
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookDelivery, delivery_id).state == "delivered"
    for who in (None, me.id):
        with pytest.raises(Problem) as refused:
            _assign(runtime, actor, delivery_id, who)
        assert refused.value.status == 409 and refused.value.code == "delivery_delivered"
    assert _assignee(runtime, delivery_id) == me.id  # kept: who followed it up until it went through
    assert len(audit_events(action="webhooks:delivery:assign")) == 2


def test_the_api_answers_who_follows_a_delivery_up(runtime, failed_delivery, person, client_as):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    me, actor = person("privacy_staff")
    _assign(runtime, actor, delivery_id, me.id)
    privacy = client_as("privacy_staff")
    assert privacy.get(f"/api/v1/webhooks/deliveries/{delivery_id}").json["assignee_id"] == str(me.id)
    [listed] = [d for d in privacy.get("/api/v1/webhooks/deliveries?state=failed").json["deliveries"] if d["id"] == str(delivery_id)]
    assert listed["assignee_id"] == str(me.id)
