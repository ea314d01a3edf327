"""Pages that fit (issue 19 item 4): in chromium at 1280, 1366 and 1920 px and on a 390 px phone, in Chinese and in
English, no element of a main console page sticks out of its box (the page, a panel, a section, a form, a list of
terms) unless a box between them scrolls it (a wide table's .scroll), the page never scrolls sideways, and the
items of a row (filters, panels, navigation, section links) do not overlap, and no word of a table's header or cell is
broken across lines (BROKEN_WORDS: a Chinese label between two characters too). The consent table of the home page
overflowed its panel at 1366 px before; its Chinese headers broke between characters (待重新|取得同意) at 1920 px."""

from pathlib import Path

import pytest

from govern.retention import service as retention
from govern.subject_requests import service as requests
from govern.subjects import service as subjects
from tests.subject_requests.conftest import act, verify_by_session  # noqa: F401  (fixtures)

from .test_browser_flows import _sign_in
from .test_queues import incidents, plans  # noqa: F401  (fixtures)
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser

WIDTHS = (1280, 1366, 1920, 390)

# What sticks out, overlaps or scrolls the page sideways, as one line per fault (empty: the page fits).
MEASURE = """() => {
  const faults = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) faults.push(`the page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  const scroller = (el, box) => {
    for (let p = el.parentElement; p && p !== box; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return p;
    }
    return null;
  };
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  for (const box of document.querySelectorAll('header.top, main, .panel, section, form, dl, fieldset, nav')) {
    if (!shown(box)) continue;
    const b = box.getBoundingClientRect();
    for (const el of box.querySelectorAll('*')) {
      if (!shown(el) || scroller(el, box)) continue;
      const r = el.getBoundingClientRect();
      if (r.right > b.right + 1 || r.left < b.left - 1) { faults.push(`${name(el)} [${Math.round(r.left)}–${Math.round(r.right)}] sticks out of ${name(box)} [${Math.round(b.left)}–${Math.round(b.right)}]`); break; }
    }
  }
  for (const row of document.querySelectorAll('form.row, .panels, header.top, header nav ul, nav.sections ul')) {
    const items = [...row.children].filter(shown).map(el => [el, el.getBoundingClientRect()]);
    for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) {
      const [a, ra] = items[i], [c, rc] = items[j];
      const w = Math.min(ra.right, rc.right) - Math.max(ra.left, rc.left), h = Math.min(ra.bottom, rc.bottom) - Math.max(ra.top, rc.top);
      if (w > 1 && h > 1) faults.push(`${name(a)} overlaps ${name(c)} in ${name(row)}`);
    }
  }
  return faults;
}"""

# A word of a table's header or cell broken across two lines ("Ke|pt item", "Cou|nt", 已发|现): a column squeezed
# below its words' width by a wider one. A word is a run without spaces or hyphens of at most 12 characters (a Chinese
# label such as 购买记录 too); a line may end after a hyphen (E-|Commerce, 2026-12-|06 on a phone) or a Chinese
# punctuation mark, or before an opening bracket (已审批，|待执行, 已过期|（未执行）), as in print; a longer run (a
# sentence of the law, an id) may wrap, and code is wrapped on purpose. A header's Chinese is a label however long:
# it never breaks between two characters (待重新|取得同意), which Chinese line breaking allows anywhere.
BROKEN_WORDS = """() => {
  const faults = [];
  const after = '、，；：。！？）》」』”', before = '（《「『“';
  // The places a run of text breaks across lines between two of its characters where print would not.
  const breaks = (node, start, end) => {
    const text = node.textContent, range = document.createRange(), tops = [];
    for (let i = start; i < end; i++) {
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const r = [...range.getClientRects()].find(r => r.width > 0);
      tops.push(r ? Math.round(r.top) : null);
    }
    let count = 0;
    for (let i = 1; i < tops.length; i++) {
      if (tops[i] === null || tops[i - 1] === null || tops[i] === tops[i - 1]) continue;
      if (!after.includes(text[start + i - 1]) && !before.includes(text[start + i])) count++;
    }
    return count;
  };
  for (const cell of document.querySelectorAll('th, td')) {
    if (!cell.getClientRects().length) continue;
    const where = `${cell.tagName.toLowerCase()} "${cell.textContent.trim().slice(0, 40)}"`;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest('code, samp')) continue;
      for (const m of node.textContent.matchAll(/[^\\s-]+/g)) {
        if (m[0].length <= 12 && breaks(node, m.index, m.index + m[0].length)) faults.push(`"${m[0]}" is broken across lines in ${where}`);
        else if (m[0].length > 12 && cell.tagName === 'TH') {
          for (const h of m[0].matchAll(/\\p{Script=Han}{2,}/gu)) {
            if (breaks(node, m.index + h.index, m.index + h.index + h[0].length)) faults.push(`the header's "${h[0]}" is broken between characters in ${where}`);
          }
        }
      }
    }
  }
  return faults;
}"""


@pytest.fixture
def main_pages(runtime, make_subject, incidents, plans, failed_delivery):  # noqa: F811
    """The console's main pages with something on them: the queues, an incident, a purge plan, a request."""
    from tests.subject_requests.conftest import CRM

    sid = make_subject(external_ref="CRM-LAYOUT-1")
    with runtime.database.unit_of_work() as session:
        rid = requests.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="erasure", channel="app").request.id
    return [
        "/console/", "/console/requests", f"/console/requests/{rid}", "/console/incidents", f"/console/incidents/{incidents['late'][0]}",
        "/console/incidents/register", "/console/retention", "/console/retention/plans", f"/console/retention/plans/{plans['fresh']}",
        "/console/consent", "/console/webhooks", "/console/compliance", "/console/subjects", "/console/access-review", "/console/audit",
        "/console/preferences", "/console/reports", "/console/calendar", "/console/calendar?view=month",
    ]


def test_the_main_pages_fit_from_a_phone_to_a_wide_screen_in_both_languages(page, make_staff, main_pages):
    person = make_staff("dpo", "auditor", "security")
    _sign_in(page, person.name, "/console/")
    faults = {}
    for lang in ("zh", "en"):
        if lang == "en":
            page.goto("/console/preferences")
            page.select_option("#language", "en")
            with page.expect_navigation():
                page.click("#save-preferences")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for url in main_pages:
                response = page.goto(url)
                assert response.status == 200, f"{url}: {response.status}"
                if found := page.evaluate(MEASURE) + page.evaluate(BROKEN_WORDS):
                    faults[f"{lang} {width}px {url}"] = found[:5]
    assert not faults, f"{len(faults)} pages do not fit:\n" + "\n".join(f"{k}: {v}" for k, v in faults.items())


def test_after_approving_a_plan_the_approver_runs_it_from_its_page_in_english(page, runtime, make_staff):
    import uuid

    from govern.identity.actor import Actor

    with runtime.database.unit_of_work() as session:
        plan_id = retention.make_plan(session=session, policy=runtime.policy, save=True,
                                      actor=Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))).plan.id
    _sign_in(page, make_staff("dpo").name, f"/console/retention/plans/{plan_id}")
    with page.expect_navigation():
        page.click("#switch-language")
    assert page.locator("#run-plan").count() == 0
    with page.expect_navigation():
        page.click("#approve")
    assert page.locator("#run-command").inner_text() == f"govern retention purge --plan {plan_id}"
    with page.expect_navigation():
        page.click("#run-plan")
    assert page.locator("#done").inner_text() == "The purge run has completed."
    assert "completed" in page.locator("#run-status").inner_text() and page.locator("#run-plan").count() == 0


def test_the_incident_page_is_in_sections_with_containment_in_view(page, make_staff, incidents):  # noqa: F811
    _sign_in(page, make_staff("security").name, f"/console/incidents/{incidents['late'][0]}")
    links = page.locator("#incident-sections a")
    assert links.count() >= 7 and [page.locator(h).count() for h in links.evaluate_all("els => els.map(a => a.getAttribute('href'))")] == [1] * links.count()
    assert page.locator("#s-containment").is_visible() and page.locator("#containment-status").inner_text() == "尚未控制"
    page.select_option("#contain-action", "other")
    page.fill("#contain-note", "revoked the exposed session tokens")
    with page.expect_navigation():
        page.click("#contain")
    assert "revoked the exposed session tokens" in page.locator("#containment-actions").inner_text()
    page.click('#incident-sections a[href="#s-containment"]')
    assert page.locator("#h-containment").is_visible()


def test_a_dpo_reads_the_reports_as_charts_or_as_tables_in_both_languages(page, make_staff, main_pages):
    _sign_in(page, make_staff("dpo").name, "/console/")
    assert page.locator("#home-charts svg.chart-svg").count() >= 1
    with page.expect_navigation():
        page.click("#all-reports")
    chart = page.locator("#chart-requests-received")
    assert chart.locator("svg.chart-svg").is_visible() and chart.locator("svg rect[fill]").count() >= 1
    chart.locator("summary").click()
    assert chart.locator("table").is_visible() and "期间" in chart.locator("thead").inner_text()
    page.select_option("#by", "jurisdiction")
    with page.expect_navigation():
        page.click("#show-report")
    assert page.locator("#chart-requests-received figcaption").inner_text() == "每周收到的请求（按法域）"
    with page.expect_navigation():
        page.click("#switch-language")
    assert page.locator("#chart-requests-received figcaption").inner_text() == "Requests received per week, by jurisdiction"


def test_a_dpo_reads_the_compliance_calendar_and_downloads_it_in_both_languages(page, make_staff, main_pages):
    from icalendar import Calendar

    _sign_in(page, make_staff("dpo").name, "/console/")
    with page.expect_navigation():
        page.click('header nav a[href="/console/calendar"]')
    assert page.locator("h1").inner_text() == "合规日历"
    assert page.locator('#agenda li.entry[data-kind="request"]').count() >= 1 and page.locator("#agenda li.entry .badge.bad").count() >= 1  # the overdue 72-hour clock
    page.uncheck("#kind-request")
    page.uncheck("#kind-plan")
    page.uncheck("#kind-duty")
    with page.expect_navigation():
        page.click("#apply-filters")
    kinds = set(page.locator("#agenda li.entry").evaluate_all("els => els.map(e => e.dataset.kind)"))
    assert kinds == {"incident"}
    with page.expect_download() as info:
        page.click("#export-ics")
    events = Calendar.from_ical(Path(info.value.path()).read_bytes()).walk("VEVENT")
    assert events and all(str(e["uid"]).startswith("incident-") for e in events)
    with page.expect_navigation():
        page.click("#switch-language")
    assert page.locator("h1").inner_text() == "Compliance calendar" and "Incident clock" in page.locator("#agenda").inner_text()


@pytest.fixture
def form_pages(runtime, make_subject, verify_by_session):  # noqa: F811
    """The console's other pages, with data on them: the incident-new form, the letters of a late GDPR filing and one
    letter (its authority report, zh and en), and the preview before an erasure completes."""
    from datetime import datetime, timedelta, timezone

    from tests.breach.conftest import late_gdpr_filing
    from tests.subject_requests.conftest import CRM

    iid, nid, lid = late_gdpr_filing(runtime)
    sid = make_subject(external_ref="CRM-LAYOUT-2")
    with runtime.database.unit_of_work() as session:  # a purchase the E-Commerce Law keeps: the preview's table of kept items
        subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                            occurred_at=datetime.now(timezone.utc) - timedelta(days=200), payload={"label": "purchase", "amount": 200})
    with runtime.database.unit_of_work() as session:
        rid = requests.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="erasure", channel="app").request.id
    verify_by_session(rid)  # the preview is for a request whose subject was verified
    return ["/console/incidents/new", f"/console/incidents/{iid}/notifications/{nid}/letters", f"/console/incidents/{iid}/letters/{lid}",
            f"/console/requests/{rid}/erasure"]


def test_the_forms_letters_erasure_preview_and_sign_in_fit_from_a_phone_to_a_wide_screen_in_both_languages(page, make_staff, form_pages):
    person = make_staff("dpo", "security")
    faults = {}
    for lang in ("zh", "en"):
        page.goto(f"/console/language/{lang}")  # signed out: the sign-in page, in the language chosen on it
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            response = page.goto("/console/sign-in")
            assert response.status == 200 and page.locator("html").get_attribute("lang").startswith(lang)
            if found := page.evaluate(MEASURE) + page.evaluate(BROKEN_WORDS):
                faults[f"{lang} {width}px /console/sign-in"] = found[:5]
    _sign_in(page, person.name, "/console/")
    for lang in ("zh", "en"):  # chosen on the preferences page each time: the sign-in loop above ended in English
        page.goto("/console/preferences")
        page.select_option("#language", lang)
        with page.expect_navigation():
            page.click("#save-preferences")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            for url in form_pages:
                response = page.goto(url)
                assert response.status == 200 and page.locator("html").get_attribute("lang").startswith(lang), f"{url}: {response.status}"
                if found := page.evaluate(MEASURE) + page.evaluate(BROKEN_WORDS):
                    faults[f"{lang} {width}px {url}"] = found[:5]
    assert not faults, f"{len(faults)} pages do not fit:\n" + "\n".join(f"{k}: {v}" for k, v in faults.items())
