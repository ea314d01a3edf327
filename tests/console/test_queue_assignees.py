"""Who works a purge plan or follows a failed webhook delivery up, in the console (issue 19 item 1): assign to me, to a
colleague who may work that queue, or to nobody, on the item's page; the assignee in the queue, its filter (me, nobody,
someone) and the CSV of the filtered view; a finished item (a plan run or expired unrun, a delivery since delivered)
refused with 409; the roles that may not work the queue refused with 403; a disabled assignee named as a former staff
member, never by a bare id; zh and en."""

from __future__ import annotations

import csv
import io
import re
import uuid

from govern.identity.actor import Actor
from govern.retention.models import Plan
from govern.webhooks.models import WebhookDelivery

from .test_queues import NOW, plans  # noqa: F401  (a fixture)
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)


def _ids(html: str) -> list[str]:
    return re.findall(r'<code class="copyable" title="[^"]*">([0-9a-f-]{36})</code>', html)


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True)[1:])))


def _disable(runtime, name: str) -> None:
    from govern.identity import staff

    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=name)


# --- purge plans ----------------------------------------------------------------------------------------------------


def test_a_dpo_takes_a_plan_sees_it_in_the_queue_filters_by_me_and_exports_it(console_as, plans, make_staff, runtime, audit_events):  # noqa: F811
    plan_id = plans["fresh"]
    c = console_as("dpo")
    colleague = make_staff("dpo", name="wang-li")
    page = c.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="plan-assignee">—<' in page and 'id="assign-me"' in page and str(colleague.id) in page
    r = c.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": "me"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/retention/plans/{plan_id}?done=assign")
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert f'id="plan-assignee">{c.name}<' in page and 'id="done">经办人已更新。' in page
    queue = c.get("/console/retention/plans").get_data(as_text=True)
    assert re.search(rf'data-plan="{plan_id}">.*?<td class="assignee">{c.name}</td>', queue, re.S)
    assert set(_ids(c.get("/console/retention/plans?assignee=me").get_data(as_text=True))) == {plan_id}
    assert plan_id not in _ids(c.get("/console/retention/plans?assignee=none").get_data(as_text=True))
    rows = _csv(c.get("/console/retention/plans/export.csv?assignee=me"))
    assert rows[0][-1] == "经办人" and [(r[0], r[-1]) for r in rows[1:]] == [(plan_id, c.name)]
    assert c.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": str(colleague.id)}).status_code == 302
    assert set(_ids(c.get(f"/console/retention/plans?assignee={colleague.id}").get_data(as_text=True))) == {plan_id}
    assert c.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": ""}).status_code == 302
    with runtime.database.unit_of_work() as session:
        assert session.get(Plan, uuid.UUID(plan_id)).assignee_id is None
    assert len(audit_events(action="retention:plan:assign", actor_name=c.name)) == 3
    c.post("/console/preferences", {"language": "en"})
    assert _csv(c.get("/console/retention/plans/export.csv"))[0][-1] == "Assignee"
    en = c.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert ">Assign to me</button>" in en


def test_a_plan_is_assigned_only_by_and_to_those_who_approve_plans(console_as, plans, make_staff, runtime):  # noqa: F811
    plan_id = plans["fresh"]
    privacy = console_as("privacy_staff")  # reads the plan queue, does not approve or run plans
    page = privacy.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="assign-me"' not in page and 'id="plan-assignee"' in page
    assert privacy.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": "me"}).status_code == 403
    assert console_as("auditor").post(f"/console/retention/plans/{plan_id}/assign", {"assignee": "me"}).status_code == 403
    dpo = console_as("dpo")
    assert dpo.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": "me"}, csrf=False).status_code == 403
    other = make_staff("privacy_staff", name="li-na")
    assert str(other.id) not in dpo.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)  # not offered
    refused = dpo.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": str(other.id)})  # nor taken
    assert refused.status_code == 400 and 'id="action-error"' in refused.get_data(as_text=True)
    assert dpo.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": "not-an-id"}).status_code == 400
    with runtime.database.unit_of_work() as session:
        assert session.get(Plan, uuid.UUID(plan_id)).assignee_id is None


def test_an_expired_plan_offers_no_assignment_and_refuses_one_with_409(console_as, plans):  # noqa: F811
    c = console_as("dpo")
    page = c.get(f"/console/retention/plans/{plans['expired']}").get_data(as_text=True)
    assert 'id="assign-me"' not in page
    refused = c.post(f"/console/retention/plans/{plans['expired']}/assign", {"assignee": "me"})
    assert refused.status_code == 409 and 'id="action-error"' in refused.get_data(as_text=True)


def test_a_plan_whose_assignee_was_disabled_names_them_as_former_staff_in_the_page_the_queue_and_the_csv(console_as, plans, make_staff, runtime):  # noqa: F811
    plan_id = plans["approved"]
    leaver = make_staff("dpo", name="zhao-min")
    c = console_as("dpo")
    assert c.post(f"/console/retention/plans/{plan_id}/assign", {"assignee": str(leaver.id)}).status_code == 302
    _disable(runtime, leaver.name)
    page = c.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="plan-assignee">zhao-min（前员工，账户已停用）<' in page
    queue = c.get(f"/console/retention/plans?assignee={leaver.id}").get_data(as_text=True)
    assert _ids(queue) == [plan_id] and '<td class="assignee">zhao-min（前员工，账户已停用）</td>' in queue
    assert _csv(c.get(f"/console/retention/plans/export.csv?assignee={leaver.id}"))[1][-1] == "zhao-min（前员工，账户已停用）"
    with runtime.database.unit_of_work() as session:  # an account that no longer exists at all: still words, no id
        gone = uuid.uuid4()
        session.get(Plan, uuid.UUID(plan_id)).assignee_id = gone
    page = c.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
    assert 'id="plan-assignee">前员工（账户已停用）<' in page and str(gone) not in page


# --- failed webhook deliveries --------------------------------------------------------------------------------------


def test_privacy_staff_take_a_failed_delivery_see_it_in_the_list_filter_by_me_and_export_it(console_as, failed_delivery, make_staff, runtime, audit_events):  # noqa: F811
    delivery_id, subject_id, name = failed_delivery
    c = console_as("privacy_staff")
    colleague = make_staff("dpo", name="wang-li")
    listing = c.get("/console/webhooks").get_data(as_text=True)
    assert f'href="/console/webhooks/deliveries/{delivery_id}"' in listing
    page = c.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    assert name in page and str(subject_id) in page and "HTTP 503" in page and 'id="delivery-assignee">—<' in page
    assert f'id="requeue-{delivery_id}"' in page and str(colleague.id) in page
    assert [e.subject_id for e in audit_events(action="webhooks:delivery:read", actor_name=c.name)] == [subject_id]  # the read, audited
    r = c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": "me"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/webhooks/deliveries/{delivery_id}?done=assign")
    assert f'id="delivery-assignee">{c.name}<' in c.get(r.headers["Location"]).get_data(as_text=True)
    row = re.search(rf'id="delivery-{delivery_id}">(.*?)</tr>', c.get("/console/webhooks").get_data(as_text=True), re.S).group(1)
    assert f'<td class="assignee">{c.name}</td>' in row
    assert f'id="delivery-{delivery_id}"' in c.get("/console/webhooks?assignee=me").get_data(as_text=True)
    assert f'id="delivery-{delivery_id}"' not in c.get("/console/webhooks?assignee=none").get_data(as_text=True)
    rows = _csv(c.get("/console/webhooks/export.csv?assignee=me"))
    assert rows[0][-1] == "经办人" and [(r[0], r[-1]) for r in rows[1:]] == [(str(delivery_id), c.name)]
    assert c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": str(colleague.id)}).status_code == 302
    assert f'id="delivery-{delivery_id}"' in c.get(f"/console/webhooks?assignee={colleague.id}").get_data(as_text=True)
    assert c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": ""}).status_code == 302
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookDelivery, delivery_id).assignee_id is None
    assert len(audit_events(action="webhooks:delivery:assign", actor_name=c.name)) == 3
    bad = c.get("/console/webhooks?assignee=wang-li")
    assert bad.status_code == 400 and 'role="alert"' in bad.get_data(as_text=True)
    c.post("/console/preferences", {"language": "en"})
    assert _csv(c.get("/console/webhooks/export.csv"))[0][-1] == "Assignee"
    assert ">Assign to me</button>" in c.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)


def test_a_delivery_is_assigned_only_by_and_to_those_who_may_requeue_it(console_as, failed_delivery, make_staff, runtime):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    auditor = console_as("auditor")  # reads deliveries, does not re-queue them
    page = auditor.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    assert 'id="assign-me"' not in page and 'id="requeue-' not in page and 'id="delivery-assignee"' in page
    assert auditor.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": "me"}).status_code == 403
    assert console_as("security").get(f"/console/webhooks/deliveries/{delivery_id}").status_code == 403
    c = console_as("privacy_staff")
    assert c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": "me"}, csrf=False).status_code == 403
    reader = make_staff("auditor", name="audit-li")
    assert str(reader.id) not in c.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    refused = c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": str(reader.id)})
    assert refused.status_code == 400 and 'id="action-error"' in refused.get_data(as_text=True)
    assert 'id="delivery-state"' in refused.get_data(as_text=True)  # said over the delivery as it stands (test_refused_reads.py)
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookDelivery, delivery_id).assignee_id is None


def test_a_delivered_delivery_offers_no_assignment_and_refuses_one_with_409(console_as, failed_delivery, runtime):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    with runtime.database.unit_of_work() as session:  # re-queued and since delivered
        row = session.get(WebhookDelivery, delivery_id)
        row.state, row.delivered_at, row.failed_at = "delivered", NOW, None
    c = console_as("privacy_staff")
    page = c.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    assert 'id="assign-me"' not in page and 'id="requeue-' not in page
    refused = c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": "me"})
    assert refused.status_code == 409 and 'id="action-error"' in refused.get_data(as_text=True)


def test_a_delivery_whose_assignee_was_disabled_names_them_as_former_staff_in_the_page_the_list_and_the_csv(console_as, failed_delivery, make_staff, runtime):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    leaver = make_staff("privacy_staff", name="zhao-min")
    c = console_as("dpo")
    assert c.post(f"/console/webhooks/deliveries/{delivery_id}/assign", {"assignee": str(leaver.id)}).status_code == 302
    _disable(runtime, leaver.name)
    page = c.get(f"/console/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    assert 'id="delivery-assignee">zhao-min（前员工，账户已停用）<' in page and str(leaver.id) not in page
    listing = c.get(f"/console/webhooks?assignee={leaver.id}").get_data(as_text=True)
    assert '<td class="assignee">zhao-min（前员工，账户已停用）</td>' in listing
    assert _csv(c.get(f"/console/webhooks/export.csv?assignee={leaver.id}"))[1][-1] == "zhao-min（前员工，账户已停用）"
