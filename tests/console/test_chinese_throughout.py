"""Chinese throughout (issue 19 item 3): every page of the console, rendered in Chinese with real data behind it
(requests in several states with their timelines, an erasure certificate, incidents with their scope, assessment,
letters and register, purge plans, consent, failed webhook deliveries, the audit log, calendar and reports), shows no
Latin-script word but codes and names from a small allow-list — no state, verb, rule name, legal reason or plan
status left in English, no principal shown as a bare uuid or `drill=False`. The same pages in English show no msgid
in place of words. Every GET route of the console blueprint is either visited here or named as a download."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import available_timezones

import pytest

from govern.identity.actor import Actor
from govern.subject_requests import service as requests_service

from .test_incidents import TEXTS
from .test_queues import plans  # noqa: F401  (a fixture)
from .test_webhooks import failed_delivery  # noqa: F401  (a fixture)

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",), principal_id=uuid.UUID("00000000-0000-4000-8000-00000000c0de"))

# Latin-script words a Chinese page may show, and why (keep this short: a word added here is a word not translated).
ALLOWED = {
    # Laws and standards by their own names, as Chinese texts cite them; the product itself.
    "PIPL", "GDPR", "CCPA", "CPRA", "GB", "govern",
    # Technical names with no Chinese form in use: formats and protocols the page offers or reports.
    "CSV", "JSON", "JSONL", "PDF", "ZIP", "OCSF", "HTTP", "HTTPS", "URL", "API", "iCalendar", "ics", "Webhook", "SM4", "AES", "GCM", "SHA", "HMAC",
    "CRM", "UTC", "ID",
    # A currency by its ISO 4217 code, as policies/jurisdictions.yaml writes the CCPA 1798.150 damages.
    "USD",
    # The language switch names the other language in that language.
    "English",
}
TOKEN_ALLOWED = (
    re.compile(r"\d"),  # ids, references, versions, digests, counts: codes, not words
    re.compile(r"@"),  # an e-mail address (masked or not): data
    re.compile(r"^[\w/.-]+\.(py|json|csv|ics|pdf|zip|yaml)$"),  # a file the page names (audit/verify.py)
    re.compile(r"^[\w*-]+(:[\w*-]+)+$"),  # an audit action or permission code (subjects:profile:read), as the log stores it
)

# GET routes that answer a file, not a page (each tested where its feature is).
DOWNLOADS = {
    "console.static_file", "console.choose_language", "console.access_review_csv", "console.audit_export", "console.requests_export",
    "console.request_package", "console.request_certificate_json", "console.request_certificate_pdf", "console.incidents_export",
    "console.incident_report", "console.retention_plans_export", "console.webhooks_export", "console.calendar_ics", "console.compliance_pack",
}


class _Visible(HTMLParser):
    """The text a reader sees: text nodes outside script and style, and the placeholder, aria-label and alt of elements.
    Text inside <code>, <pre>, <kbd> and <samp> is machine text (an id, a command, a digest, an audit resource) and is
    read apart. A legal citation from the policy files (<span class="policy-text">) is read like any text: a Chinese
    page shows its Chinese form (policies/translations/zh.yaml)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.code: list[str] = []
        self._skip = 0
        self._code = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("code", "pre", "kbd", "samp"):
            self._code += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "alt") and value:
                self.text.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag in ("code", "pre", "kbd", "samp"):
            self._code -= 1

    def handle_data(self, data):
        if not self._skip:
            (self.code if self._code else self.text).append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return "\n".join(parser.text)


CJK_BREAK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")


def latin_words(text: str, data: set[str], allowed: set[str] = ALLOWED) -> set[str]:
    """The Latin-script words of `text` that are neither `allowed` codes and names (the console's, unless a stricter
    list is given) nor data the test put in."""
    zones = available_timezones()
    found = set()
    # Chinese has no spaces: a whitespace token is cut into its Latin runs at every CJK character (and CJK punctuation),
    # so that an article number in a Chinese sentence excuses only its own run, never the English words beside it.
    runs = (run for chunk in text.split() for run in CJK_BREAK.split(chunk))
    for token in runs:
        token = token.strip(".,;:!?()[]{}<>\"'“”‘’（）【】《》，。；：、·—–-→=|/")
        if not token or token in zones or any(p.search(token) for p in TOKEN_ALLOWED):
            continue
        for word in re.findall(r"[A-Za-z][A-Za-z'_-]*[A-Za-z]", token):
            if word not in allowed and word not in data and not all(part in allowed | data for part in re.split(r"[-_/]", word)):
                found.add(word)
    return found


# --- a console with something on every page --------------------------------------------------------------------------


@pytest.fixture
def world(runtime, app, make_subject, client_as, console_as, plans, failed_delivery):  # noqa: F811
    """Requests in most states with their timelines (one an erasure completed with its certificate), an incident opened
    from a real read with scope, containment, assessment and letters, purge plans, consent and a failed webhook
    delivery -> (a ConsoleClient that may open every page, the URLs of the pages with ids filled in, the data words)."""
    from govern.retention import service as retention_service
    from govern.sharing import service as sharing
    from govern.subject_requests import flows
    from govern.subjects import service as subjects_service

    now = datetime.now(timezone.utc)
    subjects = [make_subject(external_ref=f"CRM-ZH-{i}") for i in range(5)]
    crm = client_as("sales_service")
    assert crm.post(f"/api/v1/subjects/{subjects[0]}/consents", json={
        "action": "grant", "purpose": "marketing", "notice_version": "2026-06", "channel": "app", "evidence": "form-10"}).status_code == 201
    with runtime.database.unit_of_work() as session:
        recipient = sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "顺丰速运", "contact": "dpo@sf.example", "purpose": "order_fulfilment", "categories": ["basic_identity", "contact"], "country": "CN",
            "agreement_ref": "DSA-2026-01", "agreement_expires_on": date(2099, 1, 1)})
        sharing.disclose(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=subjects[0], recipient_id=recipient.id,
                         fields=["name", "address"], purpose="order_fulfilment")
        # A recent purchase for each erasure: what it must keep, and the law it keeps it under, is on its preview.
        for sid in (subjects[1], subjects[4]):
            subjects_service.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                                        occurred_at=now - timedelta(days=100), payload={"amount": 1})
        # And a legal hold on the pending one: the preview names the hold and its reason too.
        retention_service.place_hold(session=session, policy=runtime.policy, actor=Actor.operator(), subject_id=subjects[4], reason="litigation")

    def file(sid, type_):
        with runtime.database.unit_of_work() as session:
            return requests_service.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type=type_,
                                         channel="app").request.id

    def act(fn, actor=Actor(name="privacy-officer", kind="staff", roles=("privacy_staff",)), **kw):
        with runtime.database.unit_of_work() as session:
            import inspect

            params = inspect.signature(fn).parameters
            extra = {k: v for k, v in {"policy": runtime.policy, "envelope": runtime.envelope, "ledgers": runtime.ledgers}.items() if k in params}
            return fn(session=session, actor=actor, **extra, **kw)

    access, erasure, refused, fresh = file(subjects[0], "access"), file(subjects[1], "erasure"), file(subjects[2], "restriction"), file(subjects[3], "objection")
    pending_erasure = file(subjects[4], "erasure")
    for rid in (access, erasure, refused, pending_erasure):
        act(requests_service.verify, actor=CRM, request_id=rid, method="crm_session", reference="sess-1")
    act(requests_service.pause, request_id=access, reason="等待请求人补充身份材料")
    act(requests_service.resume, request_id=access)
    act(requests_service.refuse, request_id=refused, reason="manifestly_unfounded", legal_basis="《个人信息保护法》第五十条", explanation="重复提出的请求")
    act(flows.complete, request_id=erasure)

    # An incident from a real read by a service key, worked through to letters.
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{subjects[0]}", purpose="order_fulfilment").status_code == 200
    person = console_as("dpo", "auditor", "security")
    local = lambda moment: moment.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")  # noqa: E731  (Asia/Shanghai)
    opened = person.post("/console/incidents/new", {
        "title": "客户接口密钥泄露", "description": "密钥被误提交到公开代码仓库。", "detected_at": local(now - timedelta(minutes=30)),
        "aware_at": local(now - timedelta(minutes=20)), "reported_by": "安全运营中心", "principals": reader.name, "source_from": local(now - timedelta(hours=1)),
    })
    assert opened.status_code == 302, opened.get_data(as_text=True)[:300]
    iid = uuid.UUID(re.search(r"/console/incidents/([0-9a-f-]{36})", opened.headers["Location"]).group(1))
    assert person.post(f"/console/incidents/{iid}/scope", {}).status_code == 302
    assert person.post(f"/console/incidents/{iid}/transition", {"to": "assessing"}).status_code == 302
    assert person.post(f"/console/incidents/{iid}/containment", {"action": "other", "note": "已在网关吊销该密钥"}).status_code == 302
    form = {"risk": "high", "notify": "yes", "rationale": "攻击者可读取联系方式", "people.EU": "3"}
    for item, (zh, en) in TEXTS.items():
        form[f"texts.{item}.zh"], form[f"texts.{item}.en"] = zh, en
    assert person.post(f"/console/incidents/{iid}/assessment", form).status_code == 302
    with runtime.database.unit_of_work() as session:
        from govern.breach import service as breach

        nid = next(n.id for n in breach.notifications(session=session, incident_id=iid) if n.key == "pipl_subjects")
    assert person.post(f"/console/incidents/{iid}/notifications/{nid}/letters", {"languages": ["zh"]}).status_code == 302
    listing = person.get(f"/console/incidents/{iid}/notifications/{nid}/letters").get_data(as_text=True)
    letter = re.findall(rf"/console/incidents/{iid}/letters/([0-9a-f-]{{36}})", listing)[0]

    # A second incident whose assessment lifts duties (every exemption) and records a CCPA 1798.150 exposure: the clocks
    # then cite the exemptions' and the private action's sources (policies/jurisdictions.yaml), shown in Chinese.
    opened = person.post("/console/incidents/new", {
        "title": "加密备份介质遗失", "description": "一块加密备份磁盘在运输途中遗失。", "detected_at": local(now - timedelta(hours=3)),
        "aware_at": local(now - timedelta(hours=2)), "reported_by": "安全运营中心", "principals": reader.name, "source_from": local(now - timedelta(hours=4)),
    })
    assert opened.status_code == 302, opened.get_data(as_text=True)[:300]
    exempt = uuid.UUID(re.search(r"/console/incidents/([0-9a-f-]{36})", opened.headers["Location"]).group(1))
    assert person.post(f"/console/incidents/{exempt}/transition", {"to": "assessing"}).status_code == 302
    form = {"risk": "high", "notify": "yes", "rationale": "介质已加密，密钥未泄露", "people.CN": "40", "people.EU": "2", "people.US-CA": "600",
            "encrypted": "yes", "key_compromised": "no", "measures_avoid_harm": "yes", "disproportionate_effort": "yes",
            "ccpa_exposed": "no", "ccpa_consumers_min": "600", "ccpa_consumers_max": "600"}
    r = person.post(f"/console/incidents/{exempt}/assessment", form)
    assert r.status_code == 302, re.findall(r'role="alert"[^>]*>[^<]*', r.get_data(as_text=True))

    from govern.audit import chain

    chain.seal(database=runtime.database)
    pages = {
        "console.home": "/console/", "console.reports": "/console/reports", "console.calendar": "/console/calendar",
        "console.requests_queue": "/console/requests?state=all", "console.request_detail": [f"/console/requests/{r}" for r in (access, erasure, refused, fresh, pending_erasure)],
        "console.request_erasure_preview": f"/console/requests/{pending_erasure}/erasure",
        "console.retention_overview": "/console/retention", "console.retention_plans": "/console/retention/plans?group=all",
        "console.retention_plan": [f"/console/retention/plans/{p}" for p in plans.values()],
        "console.consent_overview": "/console/consent", "console.incidents": "/console/incidents?state=all", "console.incident_new": "/console/incidents/new",
        "console.incident_detail": [f"/console/incidents/{iid}", f"/console/incidents/{exempt}"], "console.incident_letters": f"/console/incidents/{iid}/notifications/{nid}/letters",
        "console.incident_letter": f"/console/incidents/{iid}/letters/{letter}", "console.breach_register": "/console/incidents/register",
        "console.webhooks_overview": "/console/webhooks", "console.compliance_overview": "/console/compliance",
        "console.webhook_delivery": f"/console/webhooks/deliveries/{failed_delivery[0]}",
        "console.subject_lookup": "/console/subjects", "console.access_review": "/console/access-review",
        "console.audit_search": "/console/audit?go=1", "console.preferences": "/console/preferences", "console.sign_in": "/console/sign-in",
    }
    data = {person.name, reader.name, crm.name, failed_delivery[2], *failed_delivery[2].split("-"), "sf", "example", "dpo", "sess", "form",
            "alice", "bob", "soc", "crm-test", "privacy-officer"}
    # The English texts of the assessment are what the user typed for English letters (data), shown in their fields;
    # an operator's actions are by the actors "operator" and "cli:root" (names, as the audit log records them).
    data |= {w for _, en in TEXTS.values() for w in re.findall(r"[A-Za-z][A-Za-z'_-]*[A-Za-z]", en)} | {"operator", "cli", "root"}
    return person, pages, data


def _urls(pages) -> list[tuple[str, str]]:
    return [(endpoint, url) for endpoint, urls in pages.items() for url in ([urls] if isinstance(urls, str) else urls)]


def test_every_get_route_of_the_console_is_a_page_here_or_a_named_download(app, world):
    _, pages, _ = world
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("console.") and "GET" in (rule.methods or ())}
    assert sorted(routes - set(pages) - DOWNLOADS) == []
    assert sorted(set(pages) - routes) == [] and sorted(DOWNLOADS - routes) == []


def test_every_console_page_in_chinese_shows_no_latin_word_but_codes_and_names(world, runtime):
    person, pages, data = world
    # Jurisdiction codes (policies/jurisdictions.yaml: CN, EU, US-CA) are codes, like ISO country codes.
    data = data | set(runtime.policy.jurisdictions)
    found, citing = {}, set()
    for endpoint, url in _urls(pages):
        r = person.get(url)
        assert r.status_code == 200, (url, r.status_code)
        html = r.get_data(as_text=True)
        assert 'lang="zh' in html, url
        if '<span class="policy-text">' in html:
            citing.add(endpoint)
        words = latin_words(visible_text(html), data)
        if words:
            found[url] = sorted(words)
    assert found == {}
    # The pages that cite the policy (breach clocks, exemptions, deadlines and CCPA 1798.150; the register; the
    # handler's duties) were read with their citations shown: in Chinese, from policies/translations/zh.yaml.
    assert {"console.incident_detail", "console.breach_register", "console.compliance_overview"} <= citing


def test_every_console_page_in_english_shows_words_not_msgids(world):
    from govern.console.i18n import MESSAGES

    person, pages, _ = world
    person.post("/console/preferences", {"language": "en"})
    keys = {k for k in MESSAGES if "." in k or "_" in k}
    found = {}
    for _endpoint, url in _urls(pages):
        html = person.get(url).get_data(as_text=True)
        assert 'lang="en"' in html, url
        shown = {t.strip(".,;:()") for t in visible_text(html).split()} & keys
        if shown:
            found[url] = sorted(shown)
    assert found == {}


# --- the same in a browser: what chromium renders, in both languages -------------------------------------------------

# The text chromium shows (innerText: what is laid out and visible), less machine text, the part the HTML reading
# above sets apart.
SHOWN_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('script, style, code, pre, kbd, samp').forEach(el => el.remove());
  document.body.appendChild(body); body.style.position = 'absolute'; body.style.left = '-10000px';
  const text = body.innerText; body.remove();
  return text;
}"""


@pytest.mark.browser
def test_in_a_browser_every_console_page_reads_in_chinese_then_in_english(page, runtime, world):
    from govern.console.i18n import MESSAGES

    from .test_browser_flows import _sign_in

    person, pages, data = world
    data = data | set(runtime.policy.jurisdictions)
    _sign_in(page, person.name, "/console/")
    urls = [url for endpoint, url in _urls(pages) if endpoint != "console.sign_in"]
    found = {}
    for url in urls:
        assert page.goto(url).status == 200, url
        assert page.locator("html").get_attribute("lang").startswith("zh"), url
        words = latin_words(page.evaluate(SHOWN_TEXT), data)
        if words:
            found[url] = sorted(words)
    assert found == {}
    with page.expect_navigation():
        page.click("#switch-language")
    keys = {k for k in MESSAGES if "." in k or "_" in k}
    for url in urls:
        assert page.goto(url).status == 200, url
        assert page.locator("html").get_attribute("lang") == "en", url
        shown = {t.strip(".,;:()") for t in page.evaluate(SHOWN_TEXT).split()} & keys
        if shown:
            found[url] = sorted(shown)
    assert found == {}
