"""The console's webhook page: endpoints with their deliveries per state and the failed deliveries, in Chinese and
English; re-queueing a failed delivery puts it back to pending and is audited, and only roles that may re-queue
through the API (webhooks:delivery:retry) get the button or may post it. The rules are the webhooks service's."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from govern.identity.actor import Actor
from govern.webhooks import service as webhooks

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def failed_delivery(runtime, make_principal):
    """An erasure delivery to a CRM component's endpoint that answered 503 to every attempt until the worker gave up:
    -> (delivery id, subject id, endpoint name)."""
    from govern.webhooks import delivery
    from govern.webhooks.egress import AllowList, Guard

    # The endpoint sits on loopback: a test policy allow-lists it, as `govern serve --dev` allows plain http.
    guard = replace(Guard.of(runtime), allow=AllowList.parse(["127.0.0.0/8"]), require_https=False)
    owner, _ = make_principal("sales_service")
    operator = Actor.operator()
    name = f"crm-orders-{uuid.uuid4().hex[:6]}"
    subject_id = uuid.uuid4()
    with runtime.database.unit_of_work() as session:
        webhooks.create_endpoint(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=operator, data={
            "name": name, "url": "http://127.0.0.1:9/hooks/govern", "owner": {"kind": "principal", "id": str(owner.id)},
            "event_types": [webhooks.ERASED],
        }, guard=guard)
    with runtime.database.unit_of_work() as session:
        [row] = webhooks.enqueue(session=session, actor=operator, event_type=webhooks.ERASED, subject_id=subject_id, request_id=None, now=T0)
        delivery_id = row.id
    refused = lambda url, body, headers, timeout: delivery.Answer(status=503, error=None, duration_ms=1)  # noqa: E731
    for day in range(runtime.policy.webhooks.max_attempts):  # the longest backoff (6 h) is shorter than a day
        delivery.deliver_due(database=runtime.database, policy=runtime.policy, envelope=runtime.envelope, actor=operator,
                             now=T0 + timedelta(days=day), sender=refused, guard=guard)
    assert _state(runtime, delivery_id) == "failed"
    return delivery_id, subject_id, name


def _state(runtime, delivery_id) -> str:
    from govern.webhooks.models import WebhookDelivery

    with runtime.database.unit_of_work() as session:
        return session.get(WebhookDelivery, delivery_id).state


def test_the_page_lists_endpoints_with_counts_and_the_failed_deliveries_in_chinese_and_english(console_as, failed_delivery, audit_events):
    delivery_id, subject_id, name = failed_delivery
    c = console_as("privacy_staff")
    assert 'href="/console/webhooks"' in c.get("/console/").get_data(as_text=True)
    zh = c.get("/console/webhooks")
    text = zh.get_data(as_text=True)
    assert zh.status_code == 200 and "<h1>Webhook 通知投递</h1>" in text and "投递失败的通知" in text
    assert name in text and "CRM 组件" in text and "删除" in text
    assert f'id="delivery-{delivery_id}"' in text and str(subject_id) in text and "HTTP 503" in text and "已停止重试" in text
    assert f'id="requeue-{delivery_id}"' in text
    [listed] = audit_events(action="webhooks:delivery:list", actor_name=c.name)
    assert listed.resource == "webhook-deliveries?state=failed"

    c.post("/console/preferences", {"language": "en"})
    en = c.get("/console/webhooks").get_data(as_text=True)
    assert "<h1>Webhook deliveries</h1>" in en and "Failed deliveries" in en and "CRM component" in en and ">Re-queue<" in en
    delivered = c.get("/console/webhooks?state=delivered").get_data(as_text=True)
    assert f'id="delivery-{delivery_id}"' not in delivered and "No matching deliveries." in delivered


def test_requeue_moves_a_failed_delivery_back_to_pending_and_is_audited(console_as, failed_delivery, runtime, audit_events):
    delivery_id, subject_id, _ = failed_delivery
    c = console_as("privacy_staff")
    r = c.post(f"/console/webhooks/deliveries/{delivery_id}/retry")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/webhooks?done=requeue")
    assert _state(runtime, delivery_id) == "pending"
    [event] = audit_events(action="webhooks:delivery:requeue")
    assert (event.actor_name, event.subject_id, event.outcome) == (c.name, subject_id, "allowed")
    page = c.get("/console/webhooks?done=requeue").get_data(as_text=True)
    assert 'id="done"' in page and f'id="delivery-{delivery_id}"' not in page  # no longer among the failed
    pending = c.get("/console/webhooks?state=pending").get_data(as_text=True)
    assert f'id="delivery-{delivery_id}"' in pending and f'id="requeue-{delivery_id}"' not in pending
    # A second click: only a failed delivery can be re-queued; said on the page, nothing changes.
    again = c.post(f"/console/webhooks/deliveries/{delivery_id}/retry")
    assert again.status_code == 302 and "refused=not_failed" in again.headers["Location"]
    assert 'id="action-error"' in c.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audit_events(action="webhooks:delivery:requeue")) == 1


def test_a_role_that_may_only_read_gets_no_button_and_its_requeue_is_refused(console_as, failed_delivery, runtime, audit_events):
    delivery_id, subject_id, _ = failed_delivery
    auditor = console_as("auditor")
    text = auditor.get("/console/webhooks").get_data(as_text=True)
    assert str(subject_id) in text and 'id="requeue-' not in text and "/retry" not in text
    assert auditor.post(f"/console/webhooks/deliveries/{delivery_id}/retry").status_code == 403
    # Security staff do not see the page at all; privacy staff without the session's CSRF token are refused too.
    assert console_as("security").get("/console/webhooks").status_code == 403
    assert console_as("privacy_staff").post(f"/console/webhooks/deliveries/{delivery_id}/retry", csrf=False).status_code == 403
    assert _state(runtime, delivery_id) == "failed" and audit_events(action="webhooks:delivery:requeue") == []


def test_the_console_permissions_follow_the_api_permissions_of_the_webhooks(runtime):
    """The page for the staff roles that may read deliveries; the button for those that may re-queue through the API."""
    staff = {name: role.permissions for name, role in runtime.policy.roles.items() if role.kind == "staff"}
    for console, api in (("console:webhook:read", "webhooks:delivery:read"), ("console:webhook:retry", "webhooks:delivery:retry")):
        assert {n for n, p in staff.items() if console in p} == {n for n, p in staff.items() if api in p}, console


@pytest.mark.browser
def test_privacy_staff_requeue_a_failed_delivery_in_the_browser(page, failed_delivery, make_staff, runtime):
    from .conftest import PASSWORD

    delivery_id, _, name = failed_delivery
    person = make_staff("privacy_staff")
    page.goto("/console/webhooks")
    page.fill("#name", person.name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in")
    page.wait_for_url("**/console/webhooks")
    assert name in page.locator("#endpoints").inner_text()
    with page.expect_navigation():
        page.click(f"#requeue-{delivery_id}")
    assert page.locator("#done").inner_text() == "已重新排队，下次投递任务将重新发送。"
    assert page.locator(f"#delivery-{delivery_id}").count() == 0
    assert _state(runtime, delivery_id) == "pending"


def test_every_state_event_type_and_owner_kind_of_the_webhooks_has_words_in_both_languages():
    from govern.console.i18n import MESSAGES

    keys = [*(f"delivery_state.{s}" for s in webhooks.STATES), *(f"webhook_event.{e}" for e in webhooks.EVENT_TYPES),
            *(f"owner.{k}" for k in webhooks.OWNER_KINDS), "done.requeue", "done.lift_objection"]
    assert [k for k in keys if k not in MESSAGES] == []
