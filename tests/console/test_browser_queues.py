"""The queues of incidents, purge plans and failed webhook deliveries in a real browser (Debian's chromium through
Playwright, live server, test database), in Chinese then English: search, filter, the coloured time left, the CSV of
the view (issue 19 item 1)."""

import re
from pathlib import Path

import pytest

from .test_browser_flows import _sign_in, _submit
from .test_queues import incidents, plans  # noqa: F401  (fixtures)
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def test_a_dpo_searches_the_incident_queue_exports_it_and_reads_it_in_english(page, make_staff, incidents):  # noqa: F811
    late_id, late_ref = incidents["late"]
    _sign_in(page, make_staff("dpo").name, "/console/incidents")
    page.fill("#q", late_ref)
    _submit(page, "#apply-filters")
    rows = page.locator("#board tbody tr")
    assert rows.count() == 1 and rows.locator("code.copyable").first.inner_text() == late_id
    badge = rows.locator("td.days .badge")
    assert badge.get_attribute("data-urgency") == "bad" and badge.inner_text() == "已逾期 8 小时"
    with page.expect_download() as info:
        page.click("#export-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("个人信息安全事件,") and len(text.splitlines()) == 2 and late_id in text
    _submit(page, "#switch-language")
    assert page.locator("#board tbody td.days .badge").inner_text() == "8 h overdue"
    assert page.locator("label[for=aware_from]").inner_text() == "Became aware from"


def test_a_dpo_filters_expired_purge_plans_and_failed_deliveries_in_both_languages(page, make_staff, plans, failed_delivery):  # noqa: F811
    _sign_in(page, make_staff("dpo").name, "/console/retention/plans")
    assert page.locator(f'tr[data-plan="{plans["expiring"]}"] .badge').get_attribute("data-urgency") == "warn"
    page.select_option("#state", "expired")
    _submit(page, "#apply-filters")
    assert plans["expired"] in page.locator("#queue tbody code.copyable").all_inner_texts()
    assert "已过期（未执行）" in page.locator(f'tr[data-plan="{plans["expired"]}"]').inner_text()
    _submit(page, "#switch-language")
    assert "Expired unrun" in page.locator(f'tr[data-plan="{plans["expired"]}"]').inner_text()
    delivery_id, subject_id, _ = failed_delivery
    page.goto("/console/webhooks")
    page.fill("#q", str(subject_id))
    _submit(page, "#apply-filters")
    row = page.locator(f"#delivery-{delivery_id}")
    assert row.count() == 1 and re.search(r"overdue|left", row.locator("td.days").inner_text())
