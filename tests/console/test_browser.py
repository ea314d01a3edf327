"""The console in a real browser (Debian's chromium driven by Playwright) against a real server and the test
database: each test asserts what the page shows, not just that it loaded."""

import csv
import io
import json
import zipfile

import pytest

from .conftest import PASSWORD

pytestmark = pytest.mark.browser


def _sign_in(page, name: str, password: str = PASSWORD, start: str = "/console/"):
    page.goto(start)
    page.fill("#name", name)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#sign-in")


def test_a_dpo_signs_in_by_keyboard_switches_language_and_it_is_remembered(page, browser, live_server, make_staff):
    dpo = make_staff("dpo")
    page.goto("/console/audit")
    assert "/console/sign-in" in page.url  # not signed in: sent to the sign-in form, then back to where they were going
    # Keyboard only: the name field has focus, Tab to the password, Enter submits.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'name'")
    page.keyboard.type(dpo.name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/console/audit")
    assert page.locator("h1").inner_text() == "审计日志"  # the browser asks for Chinese
    # The first Tab reaches the skip link; Enter moves focus to the page's content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'main'")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every navigation link is reachable with Tab from the top of the page.
    page.goto("/console/")
    reached = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.getAttribute('href') || document.activeElement.id"))
    assert {"/console/", "/console/requests", "/console/subjects", "/console/access-review", "/console/audit", "switch-language", "sign-out"} <= reached
    # Switch the language with the keyboard.
    page.focus("#switch-language")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Home" and page.locator("html").get_attribute("lang") == "en"
    # Remembered per user: a fresh browser (no cookies) signing in as the same person gets English at once.
    other = browser.new_context(base_url=live_server, locale="zh-CN")  # this browser would ask for Chinese
    fresh = other.new_page()
    _sign_in(fresh, dpo.name)
    fresh.wait_for_url("**/console/")
    assert fresh.locator("h1").inner_text() == "Home"
    other.close()


def test_repeated_failures_lock_the_account_and_the_lockout_is_audited(page, runtime, make_staff, audit_events):
    person = make_staff("privacy_staff")
    for _ in range(runtime.policy.console.max_failures):
        _sign_in(page, person.name, "not the password")
        assert page.locator("#sign-in-error").is_visible()
    _sign_in(page, person.name)  # right password, locked account
    assert page.locator("#sign-in-error").is_visible() and "/console/sign-in" in page.url
    [event] = audit_events(action="identity:staff:lockout")
    assert event.actor_name == person.name


def test_a_subject_look_up_is_audited_and_masked_for_privacy_staff(page, make_staff, make_subject, audit_events):
    sid = make_subject()
    person = make_staff("privacy_staff")
    _sign_in(page, person.name, start="/console/subjects")
    page.wait_for_url("**/console/subjects")
    page.select_option("#field", "mobile")
    page.fill("#value", "13812345678")
    page.select_option("#purpose", "legal_compliance")
    with page.expect_navigation():
        page.click("#look-up")
    assert page.locator("section.subject code").first.inner_text() == str(sid)
    assert page.locator('td[data-field="mobile"]').inner_text() == "138****5678"
    assert page.locator('td[data-field="name"]').inner_text() != "张三"
    [lookup] = audit_events(action="subjects:profile:lookup")
    [read] = audit_events(action="subjects:profile:read")
    assert lookup.actor_name == read.actor_name == person.name and read.purpose == "legal_compliance" and read.subject_id == sid


def test_an_auditor_reviews_access_downloads_the_csv_and_cannot_see_privacy_pages(page, make_staff, client_as, make_subject):
    sid = make_subject()
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    auditor = make_staff("auditor")
    _sign_in(page, auditor.name)
    page.wait_for_url("**/console/")
    nav = page.locator("header nav").inner_text()
    assert "访问权限审查" in nav and "审计日志" in nav and "个人信息主体查询" not in nav and "权利请求" not in nav
    with page.expect_navigation():
        page.click("text=访问权限审查")
    row = page.locator(f'tr[data-principal="{reader.name}"]')
    assert row.locator("td").nth(4).inner_text() == "1"  # one personal-data read in the window
    with page.expect_download() as info:
        page.click("#review-csv")
    with open(info.value.path(), encoding="utf-8-sig") as fh:
        text = fh.read()
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[reader.name]["subjects_read"] == "1" and rows[auditor.name]["kind"] == "staff"
    # The privacy pages refuse an auditor even when asked for directly.
    response = page.goto("/console/subjects")
    assert response.status == 403 and page.locator("#error-message").is_visible()


def test_an_auditor_searches_and_exports_the_audit_log(page, runtime, make_staff, make_subject):
    make_subject()
    auditor = make_staff("auditor")
    _sign_in(page, auditor.name, start="/console/audit")
    page.wait_for_url("**/console/audit")
    page.fill("#action", "subjects:*")
    with page.expect_navigation():
        page.click("#audit-search-button")
    cells = page.locator("#events tbody td code").all_inner_texts()
    # The subject's creation, and the basis its sensitive fields were written on (PIPL Art. 29): nothing outside subjects:*.
    assert "subjects:profile:create" in cells and set(cells) <= {"subjects:profile:create", "subjects:profile:basis"}
    from govern.audit import chain

    chain.seal(database=runtime.database)  # the sealer job's run: an export ships what is sealed
    with page.expect_download() as info:
        page.click("#audit-export-button")
    with zipfile.ZipFile(info.value.path()) as archive:
        names = archive.namelist()
        assert {"audit-export/events.jsonl", "audit-export/manifest.json"} <= set(names)
        lines = archive.read("audit-export/events.jsonl").decode().splitlines()
        manifest = json.loads(archive.read("audit-export/manifest.json"))
    # The export is the API's: a signed manifest that counts and hashes the events it ships with.
    assert manifest["events"]["count"] == len(lines) > 0 and manifest["signature"]
    assert any(json.loads(line)["event"]["action"] == "subjects:profile:create" for line in lines)


def test_a_form_without_its_csrf_token_is_refused(page, make_staff, audit_events):
    dpo = make_staff("dpo")
    _sign_in(page, dpo.name, start="/console/preferences")
    page.wait_for_url("**/console/preferences")
    # A forged submission: the session cookie rides along, the token does not.
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_navigation():
        page.click("#save-preferences")
    assert page.locator("#error-message").is_visible()
    direct = page.request.post("/console/preferences", form={"language": "en"}, headers={"Accept": "text/html"})
    assert direct.status == 403
    assert len(audit_events(action="identity:session:csrf-reject")) == 2
