"""The console's workflows in a real browser (Debian's chromium driven by Playwright against a live server and the test
database): a request worked from received to completed with its package downloaded, an incident run to notified, a
retention plan approved by a second person. Each step clicks what a person would click and asserts what the page shows.
The rules are the domains'; these tests check the pages reach them and show what they decide."""

import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.identity.actor import Actor
from govern.retention import service as retention
from govern.subject_requests import service as requests_domain

from .conftest import PASSWORD

pytestmark = pytest.mark.browser

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",))


def _sign_in(page, name: str, start: str):
    page.goto(start)
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in")
    page.wait_for_url(f"**{start}")


def _submit(page, selector: str):
    with page.expect_navigation():
        page.click(selector)


def _local(moment: datetime) -> str:
    """A datetime-local value in the console's default time zone (policies/console.yaml: Asia/Shanghai)."""
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def test_privacy_staff_work_a_request_from_received_to_completed_and_download_its_package(page, runtime, make_subject, make_staff, audit_events):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        rid = requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid,
                                   type="access", channel="app").request.id
    person = make_staff("privacy_staff")
    _sign_in(page, person.name, "/console/requests")
    # The queue lists the request; open it from there.
    row = page.locator("#queue tbody tr", has=page.locator(f'a[href="/console/requests/{rid}"]'))
    assert row.count() == 1 and row.locator("td").nth(2).inner_text() == "查阅、复制"
    _submit(page, f'#queue a[href="/console/requests/{rid}"]')
    assert page.locator("h1").inner_text() == "请求 · 查阅、复制"
    assert page.locator("#request-state").inner_text() in ("已收到", "待身份核验")
    assert page.locator("#verify").is_visible() and page.locator("#complete").count() == 0  # nothing to do before identity is verified
    assert page.locator("#download-package").count() == 0
    # Identity verified by a document check.
    page.fill("#reference", "DOC-CHECK-7")
    page.select_option("#passed", "yes")
    _submit(page, "#verify")
    assert page.locator("#done").is_visible()
    assert page.locator("#request-state").inner_text() == "处理中"
    assert page.locator("#verify").count() == 0 and page.locator("#complete").is_visible()
    # The access package: a zip holding data.json.
    with page.expect_download() as info:
        page.click("#download-package")
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.path()) as archive:
        names = archive.namelist()
        [data] = [n for n in names if n.rsplit("/", 1)[-1] == "data.json"]
        assert str(sid) in archive.read(data).decode()
    # Completed.
    page.fill("#complete-explanation", "package sent through the app")
    _submit(page, "#complete")
    assert page.locator("#request-state").inner_text() == "已完成"
    assert page.locator("#complete").count() == 0 and page.locator("#refuse").count() == 0
    states = page.locator("#timeline tbody tr td:nth-child(4)").all_inner_texts()
    assert "已完成" in states
    assert {e.action for e in audit_events(actor_name=person.name)} >= {"requests:identity:verify", "requests:package:create", "requests:request:complete"}


TEXTS = {
    "what_happened": ("客服系统的API密钥被盗用，攻击者读取了部分客户资料。", "A customer-service API key was stolen and used to read profiles."),
    "cause": ("密钥被误提交到公开代码仓库。", "The key was committed to a public repository."),
    "consequences": ("可能收到诈骗电话。", "Scam calls are possible."),
    "measures": ("已停用该密钥。", "The key was disabled."),
    "what_you_can_do": ("警惕冒充本公司的来电。", "Be wary of calls claiming to be from us."),
}


def _move(page, to: str):
    page.select_option("#to", to)
    _submit(page, "#transition")


def _clock(page, key: str) -> str:
    return page.locator(f'#clocks tr[data-notification="{key}"]').inner_text()


def test_a_dpo_runs_an_incident_to_notified_in_the_browser(page, client_as, make_subject, make_staff):
    sid = make_subject()
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200  # the leaked key read one CN subject
    dpo = make_staff("dpo")
    _sign_in(page, dpo.name, "/console/incidents")
    _submit(page, "#open-incident")
    page.fill("#title", "CRM API key leaked")
    page.fill("#description", "Found on a public repository.")
    page.fill("#reported_by", "SOC")
    page.fill("#principals", reader.name)
    page.fill("#source_from", _local(datetime.now(timezone.utc) - timedelta(hours=1)))
    _submit(page, "#open-incident-submit")
    assert page.locator("#incident-state").inner_text() == "已发现" and page.locator("#scope-none").is_visible()

    # Who is affected, from the audit log: the one subject the key read.
    _submit(page, "#compute-scope")
    assert page.locator("#scope-subjects").inner_text() == "1"
    assert page.locator("#scope-jurisdictions").inner_text() == "CN: 1"
    assert "立即（法律未规定具体时限）" in _clock(page, "pipl_authority")  # PIPL Art. 57 sets no figure: no date is made up

    _move(page, "assessing")
    assert page.locator("#incident-state").inner_text() == "评估中"
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.select_option("#contain-action", "other")
    page.fill("#contain-note", "key revoked at the gateway")
    _submit(page, "#contain")
    _move(page, "contained")
    assert page.locator("#incident-state").inner_text() == "已控制"

    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.select_option("#risk", "risk")
    page.select_option("#notify", "yes")
    page.fill("#rationale", "contact data readable by the attacker")
    for item, (zh, en) in TEXTS.items():
        page.fill(f"#text-{item}-zh", zh)
        page.fill(f"#text-{item}-en", en)
    _submit(page, "#assess")
    assert page.locator("#assessment-risk").inner_text() == "有风险"
    _move(page, "notifying")
    assert page.locator("#incident-state").inner_text() == "通知中"

    # Every notification the assessment requires: generate its letters or report, then record its sending.
    rows = page.locator("#clocks tbody tr[data-notification]")
    required = [rows.nth(i).get_attribute("data-notification") for i in range(rows.count())
                if rows.nth(i).locator("td").nth(2).inner_text().startswith("需要")]
    assert {"pipl_authority", "pipl_subjects"} <= set(required)
    for key in required:
        _submit(page, f"#generate-{key}")
        assert page.locator("#action-error").count() == 0, key
        page.fill(f"#channel-{key}", "email")
        page.fill(f"#sent-ref-{key}", f"batch-{key}")
        _submit(page, f"#sent-{key}")
        assert "已发送" in _clock(page, key), key
    _submit(page, "#letters-pipl_subjects")
    assert page.locator("#letters tbody tr").count() == 1 and str(sid) in page.locator("#letters").inner_text()
    page.go_back()

    _move(page, "notified")
    assert page.locator("#action-error").count() == 0
    assert page.locator("#incident-state").inner_text() == "已通知"
    for key in required:
        assert "已发送" in _clock(page, key) and "email" in _clock(page, key)
    timeline = page.locator("#timeline").inner_text()
    assert "已通知" in timeline and "通知中" in timeline


def test_a_dpo_approves_a_retention_plan_made_by_someone_else_and_sees_it_approved(page, runtime, make_staff):
    alice = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))
    with runtime.database.unit_of_work() as session:
        plan_id = retention.make_plan(session=session, policy=runtime.policy, actor=alice, save=True).plan.id
    dpo = make_staff("dpo")
    _sign_in(page, dpo.name, "/console/retention")
    _submit(page, f'#plans a[href="/console/retention/plans/{plan_id}"]')
    assert page.locator("#plan-status").get_attribute("data-status") == "draft" and page.locator("#plan-status").inner_text() == "待审批"
    assert "alice" in page.locator("dl").inner_text()
    _submit(page, "#approve")
    assert page.locator("#done").inner_text() == "计划已审批，可以执行。"
    assert page.locator("#plan-status").get_attribute("data-status") == "approved" and page.locator("#plan-status").inner_text() == "已审批，待执行"
    assert dpo.name in page.locator("dl").inner_text()  # approved by the second person
    assert page.locator("#approve").count() == 0
