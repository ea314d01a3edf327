"""Deliveries carry Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`), so a receiver
in any language checks them with that specification's own library; here the Python one, `standardwebhooks`, checks
real deliveries: the same id on every retry, both secrets during a rotation's grace, nothing once a byte changes."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from govern.identity.actor import Actor
from govern.webhooks import service as webhooks
from govern.webhooks import signatures
from tests.conftest import repo_path


def _queue_one(runtime) -> None:
    with runtime.database.unit_of_work() as session:
        webhooks.enqueue(session=session, actor=Actor.operator(), event_type=webhooks.ERASED, subject_id=uuid.uuid4(), request_id=None,
                         now=datetime.now(timezone.utc))


def test_the_standard_library_verifies_a_real_delivery_and_refuses_a_changed_byte(receiver, make_endpoint, crm_component, runtime, deliver):
    _, secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    _queue_one(runtime)
    deliver()
    [got] = receiver.got()
    event = Webhook(secret).verify(got.body, got.headers)
    assert event["type"] == "subject.erased"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"erased", b"erasee"), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks._new_secret()).verify(got.body, got.headers)  # another endpoint's secret


def test_every_retry_of_one_message_keeps_its_webhook_id_so_receivers_can_drop_repeats(receiver, make_endpoint, crm_component, runtime, deliver):
    _, secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    receiver.statuses = [503]
    _queue_one(runtime)
    deliver()
    deliver(now=datetime.now(timezone.utc).replace(year=2100))  # past any backoff
    first, second = receiver.got()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["Govern-Delivery-Attempt"] != second.headers["Govern-Delivery-Attempt"]
    Webhook(secret).verify(first.body, first.headers)


def test_during_a_rotation_grace_both_secrets_verify(receiver, make_endpoint, crm_component, admin, runtime, deliver):
    endpoint_id, old = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    new = admin.post(f"/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret").json["secret"]
    _queue_one(runtime)
    deliver()
    [got] = receiver.got()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(got.body, got.headers)
    Webhook(old).verify(got.body, got.headers)


def test_issued_secrets_are_whole_base64_that_the_libraries_decode_without_dropping_a_character(make_endpoint, crm_component, receiver):
    _, secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert signatures.standard_key(secret) == Webhook(secret)._whsecret and len(signatures.standard_key(secret)) == 32


def test_the_readme_receiver_built_on_standardwebhooks_accepts_a_real_delivery(receiver, make_endpoint, crm_component, runtime, deliver):
    readme = repo_path("README.md").read_text()
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "standardwebhooks" in block]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102  (the README's own code, as a receiver would paste it)
    _, secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    _queue_one(runtime)
    deliver()
    [got] = receiver.got()
    assert namespace["receive"](secret, got.body, got.headers) == json.loads(got.body)
    assert namespace["receive"](secret, got.body + b" ", got.headers) is None
