"""Taking a purge plan and a failed webhook delivery in a real browser (Debian's chromium through Playwright, live
server, test database), in Chinese and in English (issue 19 item 1): assign to me on the item's page, see the name in
the queue, filter the queue by "assigned to me", and find the name in the CSV of that view."""

from pathlib import Path

import pytest

from govern.console.i18n import translate

from .test_browser_flows import _sign_in, _submit
from .test_queues import plans  # noqa: F401  (a fixture)
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def _csv_lines(page) -> list[str]:
    with page.expect_download() as info:
        page.click("#export-csv")
    return Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_dpo_takes_a_purge_plan_and_finds_it_assigned_to_them_in_the_queue_and_its_csv(lang, page, make_staff, plans, audit_events):  # noqa: F811
    person = make_staff("dpo")
    plan_id = plans["fresh"]
    _sign_in(page, person.name, "/console/retention/plans")
    if lang == "en":
        _submit(page, "#switch-language")
    _submit(page, f'#queue a[href="/console/retention/plans/{plan_id}"]')
    assert page.locator("#assign-me").inner_text() == translate("assign_to_me", lang)
    _submit(page, "#assign-me")
    assert page.locator("#plan-assignee").inner_text() == person.name
    assert page.locator("#done").inner_text() == translate("done.assign", lang)
    page.goto("/console/retention/plans")
    assert page.locator(f'tr[data-plan="{plan_id}"] td.assignee').inner_text() == person.name
    page.select_option("#assignee", "me")
    assert page.locator("#assignee option:checked").inner_text() == translate("assigned_to_me", lang)
    _submit(page, "#apply-filters")
    assert page.locator("#queue tbody code.copyable").all_inner_texts() == [plan_id]
    lines = _csv_lines(page)
    assert lines[0].endswith("," + translate("assignee", lang)) and len(lines) == 2
    assert lines[1].startswith(plan_id) and lines[1].endswith("," + person.name)
    assert [e.resource for e in audit_events(action="retention:plan:assign", actor_name=person.name)] == [f"retention_plan:{plan_id}"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_privacy_staff_take_a_failed_delivery_and_find_it_assigned_to_them_in_the_list_and_its_csv(lang, page, make_staff, failed_delivery, audit_events):  # noqa: F811
    delivery_id, _, _ = failed_delivery
    person = make_staff("privacy_staff")
    _sign_in(page, person.name, "/console/webhooks")
    if lang == "en":
        _submit(page, "#switch-language")
    _submit(page, f'#delivery-{delivery_id} a[href="/console/webhooks/deliveries/{delivery_id}"]')
    assert page.locator("#delivery-state").inner_text().startswith(translate("delivery_state.failed", lang))
    _submit(page, "#assign-me")
    assert page.locator("#delivery-assignee").inner_text() == person.name
    page.goto("/console/webhooks")
    assert page.locator(f"#delivery-{delivery_id} td.assignee").inner_text() == person.name
    page.select_option("#assignee", "me")
    _submit(page, "#apply-filters")
    assert page.locator("#deliveries tbody tr").count() == 1 and page.locator(f"#delivery-{delivery_id}").count() == 1
    lines = _csv_lines(page)
    assert lines[0].endswith("," + translate("assignee", lang)) and len(lines) == 2
    assert lines[1].startswith(str(delivery_id)) and lines[1].endswith("," + person.name)
    assert len(audit_events(action="webhooks:delivery:assign", actor_name=person.name)) == 1
