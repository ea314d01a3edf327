"""Taking an incident in a real browser (Debian's chromium through Playwright, live server, test database), in Chinese
and in English (issue 19 item 1): a DPO opens an incident from the queue, assigns it to themselves, sees their name in
the queue's assignee column, filters the queue to their own incidents and exports that view as CSV with their name."""

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from govern.breach import service as breach
from govern.identity.actor import Actor

from .test_browser_flows import _sign_in, _submit

pytestmark = pytest.mark.browser

SOC = Actor(name="soc", kind="staff", roles=("security",))
WORDS = {  # as the catalogs say them: the column, the notice after assigning, the timeline's verb
    "zh": {"assignee": "经办人", "done": "经办人已更新。", "assigned": "指派处理人"},
    "en": {"assignee": "Assignee", "done": "The assignee was updated.", "assigned": "assigned"},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_dpo_takes_an_incident_sees_it_in_the_queue_filters_by_me_and_exports_it_with_their_name(lang, page, runtime, make_staff):
    aware = datetime.now(timezone.utc) - timedelta(hours=3)
    with runtime.database.unit_of_work() as session:
        mine, other = (breach.create(session=session, policy=runtime.policy, actor=SOC, data={"title": title, "detected_at": aware, "aware_at": aware}).id
                       for title in ("Backup tape lost", "Phishing mail"))
    person = make_staff("dpo")
    words = WORDS[lang]
    _sign_in(page, person.name, "/console/incidents")
    if lang == "en":
        _submit(page, "#switch-language")
    assert page.locator("#board thead th").nth(4).inner_text() == words["assignee"]
    row = page.locator(f'#board tr[data-incident="{mine}"]')
    assert row.locator("td.assignee").inner_text() == "—"
    _submit(page, f'#board a[href="/console/incidents/{mine}"]')
    _submit(page, "#assign-me")
    assert page.locator("#done").inner_text() == words["done"]
    assert page.locator("#incident-assignee").inner_text() == person.name
    assert words["assigned"] in page.locator("#timeline").inner_text() and person.name in page.locator("#timeline").inner_text()
    page.goto("/console/incidents")
    assert page.locator(f'#board tr[data-incident="{mine}"] td.assignee').inner_text() == person.name
    assert page.locator(f'#board tr[data-incident="{other}"] td.assignee').inner_text() == "—"
    page.select_option("#assignee", "me")
    _submit(page, "#apply-filters")
    rows = page.locator("#board tbody tr")
    assert rows.count() == 1 and rows.locator("code.copyable").first.inner_text() == str(mine)
    with page.expect_download() as info:
        page.click("#export-csv")
    with Path(info.value.path()).open(encoding="utf-8-sig", newline="") as f:
        header, *body = list(csv.reader(f))
    assert [(r[0], r[header.index(words["assignee"])]) for r in body] == [(str(mine), person.name)]
