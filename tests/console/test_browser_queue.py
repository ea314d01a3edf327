"""The queue flow in a real browser (Debian's chromium through Playwright, live server, test database): a DPO finds an
erasure request by the subject's external reference, takes it, opens it, reads the erasure preview (what is destroyed,
what the law keeps and until when), confirms, and downloads the erasure certificate as JSON and PDF."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from govern.subject_requests import service as requests_domain
from tests.subject_requests.conftest import CRM

from .test_browser_flows import _sign_in, _submit

pytestmark = pytest.mark.browser


# The law a purchase record of a CN subject is kept under, as the preview reads it in each language.
ECOMMERCE_LAW = {"zh": "《中华人民共和国电子商务法》第三十一条", "en": "E-Commerce Law of the PRC Art. 31"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_dpo_finds_takes_previews_and_confirms_an_erasure_then_downloads_its_certificate(lang, page, runtime, make_subject, make_staff, audit_events):
    """In either language, the preview and the request it completes read in that language's words (issue 19 item 2)."""
    from govern.console.i18n import translate
    from govern.subjects import service as subjects

    sid = make_subject(external_ref="CRM-ERASE-77")
    with runtime.database.unit_of_work() as session:
        subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                            occurred_at=datetime.now(timezone.utc) - timedelta(days=100), payload={"label": "invoice", "amount": 1})
        rid = requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid,
                                   type="erasure", channel="app").request.id
    with runtime.database.unit_of_work() as session:
        requests_domain.verify(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, request_id=rid, method="crm_session", reference="sess-1")
    person = make_staff("dpo")
    _sign_in(page, person.name, "/console/requests")
    if lang == "en":
        _submit(page, "#switch-language")
    page.fill("#q", "CRM-ERASE-77")
    _submit(page, "#apply-filters")
    rows = page.locator("#queue tbody tr")
    assert rows.count() == 1 and rows.locator("code.copyable").first.inner_text() == str(rid)  # the full id
    assert rows.locator("td").nth(1).inner_text() == "CRM-ERASE-77"
    assert rows.locator("td.days .badge").get_attribute("data-urgency") == "ok"
    _submit(page, f'#queue a[href="/console/requests/{rid}"]')
    _submit(page, "#assign-me")
    assert page.locator("#request-assignee").inner_text() == person.name
    _submit(page, "#preview-erasure")
    purchase = runtime.policy.catalog.record_types["purchase"].label[lang]
    assert page.locator('#preview-kept td[data-code="record:purchase"]').inner_text() == purchase == {"zh": "购买记录", "en": "Purchase"}[lang]
    assert ECOMMERCE_LAW[lang] in page.locator("#preview-kept").inner_text()  # the law, in the page's language
    reason = page.locator("#preview-kept span[data-code]").first
    code = reason.get_attribute("data-code")
    named = runtime.policy.retention.obligation(code) or runtime.policy.retention.rules.get(code)  # its label in retention.yaml
    words = named.label[lang] if named is not None else translate(f"retention_rule.{code}", lang)
    assert reason.inner_text() == f"({words})" and code not in words  # why it is kept, in words
    assert page.locator("#request-state").count() == 0  # still the preview: nothing erased yet
    _submit(page, "#confirm")
    assert page.locator("#request-state").inner_text() == translate("request_state.completed", lang) == {"zh": "已完成", "en": "completed"}[lang]
    with page.expect_download() as info:
        page.click("#certificate-json")
    body = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert body["certificate"]["request_id"] == str(rid) and body["certificate"]["kept"][0]["what"] == "record:purchase"
    with page.expect_download() as info:
        page.click("#certificate-pdf-en")
    assert info.value.suggested_filename.endswith("-en.pdf") and Path(info.value.path()).read_bytes()[:4] == b"%PDF"
    # Back in the queue, the completed request is no longer open, and "assigned to me" finds it among all states.
    page.goto("/console/requests?assignee=me&state=all")
    assert page.locator("#queue tbody code.copyable").first.inner_text() == str(rid)
    assert {"requests:request:assign", "requests:erasure:preview", "requests:request:complete"} <= {e.action for e in audit_events(actor_name=person.name)}


def test_in_english_a_dpo_acknowledges_pauses_resumes_extends_hands_over_and_refuses_a_request(page, runtime, make_subject, make_staff, audit_events):
    """Every action of the request page, in a real browser and in English (issue 19 item 1): each one shows on the page
    in English words and is audited under the DPO's name."""
    from govern.console.i18n import translate

    sid = make_subject(external_ref="CRM-ACT-12", jurisdiction="EU", member_state="DE")  # GDPR Art. 12(3): a deadline that may be extended
    with runtime.database.unit_of_work() as session:
        rid = requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid,
                                   type="access", channel="app", acknowledge=False).request.id  # the receipt is acknowledged here
        requests_domain.verify(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, request_id=rid, method="crm_session", reference="sess-2")
    person, colleague = make_staff("dpo"), make_staff("privacy_staff")
    _sign_in(page, person.name, "/console/requests")
    _submit(page, "#switch-language")
    page.fill("#q", "CRM-ACT-12")
    _submit(page, "#apply-filters")
    _submit(page, f'#queue a[href="/console/requests/{rid}"]')
    _submit(page, "#acknowledge")
    assert page.locator("#request-acknowledged").inner_text() != translate("no", "en")
    page.fill("#pause-reason", "Waiting for the requester's proof of identity")
    _submit(page, "#pause")
    assert page.locator("#request-clock").inner_text() == translate("clock_paused", "en") == "Paused"
    _submit(page, "#resume")
    assert page.locator("#request-clock").inner_text() == "Running"
    page.fill("#extend-reason", "Many records across systems")
    _submit(page, "#extend")
    assert page.locator("#action-error").count() == 0
    page.select_option("#assign-to", label=colleague.name)
    _submit(page, "#assign-someone")
    assert page.locator("#request-assignee").inner_text() == colleague.name
    page.select_option("#refuse-reason", "excessive")
    page.fill("#legal-basis", "GDPR Art. 12(5)(b)")
    _submit(page, "#refuse")
    assert page.locator("#request-state").inner_text() == translate("request_state.refused", "en") == "refused"
    done = {e.action for e in audit_events(actor_name=person.name)}
    assert {"requests:request:acknowledge", "requests:deadline:pause", "requests:deadline:resume", "requests:deadline:extend",
            "requests:request:assign", "requests:request:refuse"} <= done, done
