"""Each main console page, signed in as a DPO with a little data behind it, rendered at a laptop's 1366x900: the test
asserts every page draws its heading in Chinese (and in English after the switch). With GOVERN_SCREENSHOTS=docs/screenshots
it also saves a PNG of each page there — the pictures docs/console.md shows:

    GOVERN_SCREENSHOTS=docs/screenshots .venv/bin/pytest -q tests/console/test_screenshots.py
"""

import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from govern.identity.actor import Actor
from govern.retention import service as retention
from govern.subject_requests import service as requests_domain
from govern.subjects import service as subjects_domain

from .conftest import PASSWORD

pytestmark = pytest.mark.browser

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",))
# (file name, path, heading in zh, heading in en); {request} and {incident} are filled in with the seeded ids.
PAGES = [
    ("home", "/console/", "首页", "Home"),
    ("requests", "/console/requests", "个人信息主体权利请求", "Data-subject requests"),
    ("request", "/console/requests/{request}", "请求 · 查阅、复制", "Request · access"),
    ("incidents", "/console/incidents", "个人信息安全事件", "Security incidents"),
    ("incident", "/console/incidents/{incident}", None, None),  # "<reference> · CRM API key leaked"
    ("retention", "/console/retention", "保存期限与清理", "Retention and purges"),
    ("plans", "/console/retention/plans", "清理计划（试运行报告）", "Purge plans (dry-run reports)"),
    ("consent", "/console/consent", "同意与对外提供", "Consent and sharing"),
    ("access-review", "/console/access-review", "访问权限审查", "Access review"),
    ("audit", "/console/audit", "审计日志", "Audit log"),
    ("webhooks", "/console/webhooks", "Webhook 通知投递", "Webhook deliveries"),
    ("reports", "/console/reports", "统计报表", "Reports"),
    ("calendar", "/console/calendar", "合规日历", "Compliance calendar"),
    ("calendar-month", "/console/calendar?view=month", "合规日历", "Compliance calendar"),
    ("incident-new", "/console/incidents/new", "登记安全事件", "Open an incident"),
    ("letter", "/console/incidents/{late}/letters/{letter}", "通知 · ", "Letter · "),  # "<heading> · <reference>"
    ("erasure-preview", "/console/requests/{erasure}/erasure", "删除预览 · 删除", "Erasure preview · erasure"),
    ("certificate", "/console/requests/{erased}", "请求 · 删除", "Request · erasure"),  # with the erasure certificate's links
]
EN_PAGES = {"home", "request", "incident", "reports", "incident-new", "letter", "erasure-preview", "certificate"}  # English pictures of a few pages; Chinese of all (keeps docs/ small)


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def _erasure_with_a_purchase(runtime, sid) -> uuid.UUID:
    """A verified erasure request of a subject with a purchase record (the law keeps it: the preview shows why)."""
    from tests.subject_requests.conftest import CRM  # a CRM service with its principal: it may verify what it filed

    with runtime.database.unit_of_work() as session:
        subjects_domain.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                                   occurred_at=datetime.now(timezone.utc) - timedelta(days=100), payload={"label": "invoice", "amount": 1})
        rid = requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid,
                                   type="erasure", channel="web").request.id
    with runtime.database.unit_of_work() as session:
        requests_domain.verify(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, request_id=rid, method="crm_session", reference="sess-1")
    return rid


def _late_filing_letter(runtime) -> tuple[uuid.UUID, uuid.UUID]:
    """An incident filed late with the GDPR authority and its letter (the authority report, with the reasons for the delay)."""
    from tests.breach.conftest import late_gdpr_filing

    incident_id, _, letter_id = late_gdpr_filing(runtime)
    return incident_id, letter_id


@pytest.fixture
def seeded(runtime, make_subject, client_as, console_as):
    """A filed access request, an incident with its scope computed from a real read, a saved retention plan; an erasure
    awaiting its preview and one completed with its certificate; a late filing's letter."""
    subjects = [make_subject() for _ in range(2)]
    with runtime.database.unit_of_work() as session:
        rid = requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=subjects[0],
                                   type="access", channel="app").request.id
        requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=subjects[1],
                             type="erasure", channel="web")
    erasure, erased = _erasure_with_a_purchase(runtime, make_subject()), _erasure_with_a_purchase(runtime, make_subject())
    assert console_as("dpo").post(f"/console/requests/{erased}/complete", {"confirm": "yes"}).status_code == 302
    late, letter = _late_filing_letter(runtime)
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{subjects[0]}", purpose="order_fulfilment").status_code == 200
    c = console_as("privacy_staff")
    now = datetime.now(timezone.utc)
    opened = c.post("/console/incidents/new", {
        "title": "CRM API key leaked", "description": "Found on a public repository.", "detected_at": _local(now - timedelta(minutes=30)),
        "aware_at": _local(now - timedelta(minutes=20)), "reported_by": "SOC", "principals": reader.name, "source_from": _local(now - timedelta(hours=1)),
    })
    assert opened.status_code == 302
    iid = uuid.UUID(re.search(r"/console/incidents/([0-9a-f-]{36})", opened.headers["Location"]).group(1))
    assert console_as("dpo").post(f"/console/incidents/{iid}/scope", {}).status_code == 302
    alice = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))
    with runtime.database.unit_of_work() as session:
        retention.make_plan(session=session, policy=runtime.policy, actor=alice, save=True)
    from govern.audit import chain

    chain.seal(database=runtime.database)  # what the sealer job does: the home page shows a chain head
    return {"request": rid, "incident": iid, "erasure": erasure, "erased": erased, "late": late, "letter": letter}


def test_every_main_page_renders_at_laptop_width_in_both_languages(browser, live_server, make_staff, seeded):
    out = os.environ.get("GOVERN_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
    dpo = make_staff("dpo", name="dpo-wang")
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto("/console/")
        page.fill("#name", dpo.name)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("#sign-in")
        for lang in ("zh", "en"):
            if lang == "en":
                with page.expect_navigation():
                    page.click("#switch-language")
            for name, path, h1_zh, h1_en in PAGES:
                if lang == "en" and name not in EN_PAGES:
                    continue
                response = page.goto(path.format(**seeded))
                assert response.status == 200, (name, lang)
                assert page.locator("html").get_attribute("lang").startswith(lang), (name, lang)
                heading = page.locator("h1").first.inner_text()
                expected = h1_zh if lang == "zh" else h1_en
                if expected and expected.endswith(" · "):
                    assert heading.startswith(expected), (name, lang, heading)
                else:
                    assert heading == expected if expected else heading.endswith("· CRM API key leaked"), (name, lang, heading)
                if name == "certificate":
                    assert page.locator("#certificate-pdf-zh").count() == page.locator("#certificate-pdf-en").count() == 1
                if lang == "zh":
                    assert re.search(r"[\u4e00-\u9fff]", page.locator("header nav").inner_text()), name  # Chinese navigation
                if out:
                    page.screenshot(path=str(Path(out) / f"{name}-{lang}.png"))
    finally:
        context.close()
