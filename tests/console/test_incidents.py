"""Console pages of breach response: an incident opened by privacy staff, its affected individuals computed from real
audit events, contained, assessed, its clocks shown, letters and the report generated and their sending recorded, moved
from detected to closed; the home page's running clocks; and which role may do what. The rules are the breach
domain's; these tests check that the console reaches them and shows what they decide."""

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.breach import service as breach
from govern.identity.actor import Actor

TEXTS = {
    "what_happened": ("客服系统的API密钥被盗用，攻击者读取了部分客户资料。", "A customer-service API key was stolen and used to read profiles."),
    "cause": ("密钥被误提交到公开代码仓库。", "The key was committed to a public repository."),
    "consequences": ("可能收到诈骗电话。", "Scam calls are possible."),
    "measures": ("已停用该密钥。", "The key was disabled."),
    "what_you_can_do": ("警惕冒充本公司的来电。", "Be wary of calls claiming to be from us."),
}


def _local(moment: datetime) -> str:
    """A datetime-local form value in the console's default time zone (policies/console.yaml: Asia/Shanghai)."""
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def _incident_id(response) -> uuid.UUID:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return uuid.UUID(re.search(r"/console/incidents/([0-9a-f-]{36})", response.headers["Location"]).group(1))


def _row(html: str, key: str) -> str:
    match = re.search(rf'<tr data-notification="{key}">(.*?)</tr>', html, re.S)
    assert match, f"no clock row for {key}"
    return match.group(1)


def _notification_id(runtime, incident_id: uuid.UUID, key: str) -> uuid.UUID:
    with runtime.database.unit_of_work() as session:
        return next(n.id for n in breach.notifications(session=session, incident_id=incident_id) if n.key == key)


@pytest.fixture
def leaked_key(client_as, make_subject):
    """A service key that read one (CN) subject through the API an instant ago: real audit events to scope from."""
    sid = make_subject()
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    return reader, sid


def _open(c, reader_name: str, **extra) -> uuid.UUID:
    now = datetime.now(timezone.utc)
    return _incident_id(c.post("/console/incidents/new", {
        "title": "CRM API key leaked", "description": "Found on a public repository.", "detected_at": _local(now - timedelta(minutes=5)),
        "aware_at": _local(now - timedelta(minutes=2)), "reported_by": "SOC", "principals": reader_name,
        "source_from": _local(now - timedelta(hours=1)), **extra,
    }))


def test_an_incident_runs_from_opened_to_closed_through_the_console(runtime, console_as, leaked_key, audit_events):
    reader, sid = leaked_key
    staff = console_as("privacy_staff")
    iid = _open(staff, reader.name)
    page = staff.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="incident-state">已发现' in page and 'id="scope-none"' in page
    assert 'id="compute-scope"' not in page and 'id="transition"' not in page  # privacy staff open and read, never work it
    assert staff.post(f"/console/incidents/{iid}/scope").status_code == 403

    dpo = console_as("dpo")
    # Who is affected: from the audit log (the key read one CN subject), frozen as list version 1.
    assert dpo.post(f"/console/incidents/{iid}/scope", {}).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}?done=scope").get_data(as_text=True)
    assert 'id="scope-subjects">1<' in page and 'id="scope-jurisdictions">CN: 1<' in page
    assert "立即（法律未规定具体时限）" in _row(page, "pipl_authority")  # PIPL Art. 57 sets no figure: no date is made up
    assert [e.subject_id for e in audit_events(action="breach:scope:create")] == [None]

    for to in ("assessing",):
        assert dpo.post(f"/console/incidents/{iid}/transition", {"to": to}).status_code == 302
    assert dpo.post(f"/console/incidents/{iid}/containment", {"action": "other", "note": "key revoked at the gateway"}).status_code == 302
    assert dpo.post(f"/console/incidents/{iid}/transition", {"to": "contained"}).status_code == 302
    # The assessment: 3 EU residents known from outside govern start the GDPR 72-hour clock.
    form = {"risk": "risk", "notify": "yes", "rationale": "contact data readable by the attacker", "people.EU": "3"}
    for item, (zh, en) in TEXTS.items():
        form[f"texts.{item}.zh"], form[f"texts.{item}.en"] = zh, en
    assert dpo.post(f"/console/incidents/{iid}/assessment", form).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="assessment-risk">有风险' in page
    assert re.search(r"剩余 7[01] 小时", _row(page, "gdpr_authority"))
    assert "不需要" in _row(page, "gdpr_subjects")  # risk, not high risk: no letters to EU subjects
    assert dpo.post(f"/console/incidents/{iid}/transition", {"to": "notifying"}).status_code == 302

    # Letters: the authority reports in zh and en, one letter to the affected subject; then their sending is recorded.
    for key in ("pipl_authority", "pipl_subjects", "gdpr_authority"):
        nid = _notification_id(runtime, iid, key)
        assert dpo.post(f"/console/incidents/{iid}/notifications/{nid}/letters", {"languages": ["zh", "en"]}).status_code == 302, key
        listing = dpo.get(f"/console/incidents/{iid}/notifications/{nid}/letters").get_data(as_text=True)
        links = re.findall(rf"/console/incidents/{iid}/letters/([0-9a-f-]{{36}})", listing)
        assert len(links) == (1 if key == "pipl_subjects" else 2), key
        if key == "pipl_subjects":
            letter = dpo.get(f"/console/incidents/{iid}/letters/{links[0]}").get_data(as_text=True)
            assert "张三" in letter and TEXTS["measures"][0] in letter  # in the subject's language, greeting them by name
            [read] = audit_events(action="breach:letter:read")
            assert read.subject_id == sid and read.actor_name == dpo.name
        assert dpo.post(f"/console/incidents/{iid}/notifications/{nid}/sent", {"channel": "email", "reference": f"batch-{key}"}).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "已发送" in _row(page, "gdpr_authority") and "已发送" in _row(page, "pipl_subjects")

    draft = dpo.get(f"/console/incidents/{iid}/report/zh")
    assert draft.status_code == 200 and draft.headers["X-Report-Final"] == "false" and "attachment" in draft.headers["Content-Disposition"]
    assert dpo.post(f"/console/incidents/{iid}/transition", {"to": "notified"}).status_code == 302
    closing = {"to": "closed", "cause": "a key committed to a repository", "lessons": "scan repositories", "follow_up": "secret scanning\nkey rotation drill"}
    assert dpo.post(f"/console/incidents/{iid}/transition", closing).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="incident-state">已关闭' in page and "secret scanning" in page and 'id="transition"' not in page
    final = staff.get(f"/console/incidents/{iid}/report/en")
    assert final.headers["X-Report-Final"] == "true" and "CRM API key leaked" in final.get_data(as_text=True)
    transitions = [e.reason for e in audit_events(action="breach:incident:transition")]
    assert transitions == ["detected->assessing", "assessing->contained", "contained->notifying", "notifying->notified", "notified->closed"]
    assert {e.actor_name for e in audit_events(action="breach:incident:transition")} == {dpo.name}
    assert audit_events(action="breach:incident:create")[0].actor_name == staff.name


def test_a_refused_move_is_shown_on_the_incident_page_and_changes_nothing(console_as, leaked_key):
    reader, _ = leaked_key
    c = console_as("security")
    iid = _open(c, reader.name)
    r = c.post(f"/console/incidents/{iid}/transition", {"to": "notified"})
    assert r.status_code == 409 and 'id="action-error"' in r.get_data(as_text=True)
    assert c.post(f"/console/incidents/{iid}/transition", {"to": "assessing"}).status_code == 302
    r = c.post(f"/console/incidents/{iid}/transition", {"to": "contained"})  # no containment recorded yet
    assert r.status_code == 409 and "containment" in r.get_data(as_text=True).lower()
    r = c.post(f"/console/incidents/{iid}/assessment", {"risk": "high", "rationale": ""})
    assert r.status_code == 400 and "rationale" in r.get_data(as_text=True)
    page = c.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="incident-state">评估中' in page and 'id="assessment"' not in page


def test_an_opening_without_a_title_is_refused_on_the_form(console_as):
    c = console_as("dpo")
    r = c.post("/console/incidents/new", {"title": "", "detected_at": _local(datetime.now(timezone.utc))})
    assert r.status_code == 400 and 'id="action-error"' in r.get_data(as_text=True)
    assert "CRM" not in c.get("/console/incidents").get_data(as_text=True)


def test_the_home_page_and_the_board_show_an_overdue_clock_first(runtime, console_as):
    now = datetime.now(timezone.utc)
    with runtime.database.unit_of_work() as session:
        late = breach.create(session=session, policy=runtime.policy, actor=Actor(name="soc", kind="staff", roles=("security",)),
                             data={"title": "Laptop stolen", "detected_at": now - timedelta(hours=80), "aware_at": now - timedelta(hours=80)})
        breach.assess(session=session, policy=runtime.policy, actor=Actor(name="soc", kind="staff", roles=("security",)), incident_id=late.id,
                      data={"risk": "risk", "notify": "yes", "rationale": "unencrypted disk", "people": {"EU": 40}})
        reference = late.reference
    c = console_as("security")
    home = c.get("/console/").get_data(as_text=True)
    panel = home[home.index('id="incident-clocks"'):]
    assert reference in panel and re.search(r"已逾期 8 小时", panel)
    board = c.get("/console/incidents").get_data(as_text=True)
    assert reference in board and "已逾期" in board
    c.post("/console/preferences", {"language": "en"})
    assert re.search(r"overdue by 8 h", c.get("/console/").get_data(as_text=True))


def test_an_auditor_reads_the_register_but_no_incident_page(runtime, console_as, audit_events):
    with runtime.database.unit_of_work() as session:
        incident = breach.create(session=session, policy=runtime.policy, actor=Actor(name="soc", kind="staff", roles=("security",)),
                                 data={"title": "Misdirected e-mail", "detected_at": datetime.now(timezone.utc) - timedelta(hours=1)})
        iid, reference = incident.id, incident.reference
    c = console_as("auditor")
    home = c.get("/console/").get_data(as_text=True)
    assert 'href="/console/incidents/register"' in home and 'href="/console/incidents"' not in home and 'id="incident-clocks"' not in home
    register = c.get("/console/incidents/register")
    assert register.status_code == 200 and reference in register.get_data(as_text=True)
    assert [e.actor_name for e in audit_events(action="breach:register:read")] == [c.name]
    assert c.get("/console/incidents").status_code == 403 and c.get(f"/console/incidents/{iid}").status_code == 403
    assert c.post(f"/console/incidents/{iid}/transition", {"to": "assessing"}).status_code == 403
    assert c.get(f"/console/incidents/{iid}/report/zh").status_code == 403


def test_a_form_without_its_csrf_token_is_refused(console_as, leaked_key):
    reader, _ = leaked_key
    c = console_as("dpo")
    iid = _open(c, reader.name)
    assert c.post(f"/console/incidents/{iid}/transition", {"to": "assessing"}, csrf=False).status_code == 403
    assert 'id="incident-state">已发现' in c.get(f"/console/incidents/{iid}").get_data(as_text=True)


@pytest.mark.parametrize("probe", ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>'])
def test_free_text_of_an_incident_comes_back_escaped(console_as, leaked_key, probe):
    reader, _ = leaked_key
    c = console_as("dpo")
    now = datetime.now(timezone.utc)
    iid = _incident_id(c.post("/console/incidents/new", {
        "title": probe, "description": probe, "reported_by": probe, "detected_at": _local(now), "principals": reader.name,
        "source_from": _local(now - timedelta(hours=1)),
    }))
    c.post(f"/console/incidents/{iid}/transition", {"to": "assessing", "transition_note": probe})
    c.post(f"/console/incidents/{iid}/containment", {"action": "other", "note": probe})
    c.post(f"/console/incidents/{iid}/assessment", {"rationale": probe, "texts.measures.zh": probe})
    for url in ("/console/incidents", f"/console/incidents/{iid}", "/console/incidents/register"):
        text = c.get(url).get_data(as_text=True)
        assert probe not in text and "&lt;" in text, url


def test_every_state_status_and_step_the_breach_domain_can_produce_has_its_words():
    from govern.breach import clocks, flows, letters, service
    from govern.console.i18n import MESSAGES

    families = {
        "incident_state.": service.STATES, "risk.": clocks.RISKS, "containment.": flows.CONTAINMENT_ACTIONS, "phase.": letters.PHASES,
        "notification_status.": ("required", "not_required", "exempt", "unknown"), "notify.": ("yes", "no", "unknown"),
        "scope_method.": ("principals", "export", "recipient"), "text.": service.TEXT_ITEMS,
        "incident_event.": ("opened", "transition", "scope", "assessment", "containment", "letters", "sent", "times"),
        "done.": ("open", "scope", "contain", "assess", "transition", "letters", "sent", "times"), "assess.": ("sensitive", "minors", "key_compromised"),
        "ccpa_status.": ("exposed", "not_exposed", "not_assessed"),
    }
    assert [f"{p}{v}" for p, values in families.items() for v in values if f"{p}{v}" not in MESSAGES] == []


@pytest.mark.browser
def test_in_a_browser_security_opens_an_incident_and_sees_its_clock(page, make_staff, leaked_key):
    from .test_browser import _sign_in

    reader, _ = leaked_key
    person = make_staff("security")
    _sign_in(page, person.name, start="/console/incidents")
    page.wait_for_url("**/console/incidents")
    with page.expect_navigation():
        page.click("#open-incident")
    page.fill("#title", "CRM API key leaked")
    page.fill("#principals", reader.name)
    page.fill("#source_from", _local(datetime.now(timezone.utc) - timedelta(hours=1)))
    with page.expect_navigation():
        page.click("#open-incident-submit")
    assert page.locator("#done").is_visible() and page.locator("#incident-state").inner_text() == "已发现"
    with page.expect_navigation():
        page.click("#compute-scope")  # from the audit events of the leaked key
    assert page.locator("#scope-subjects").inner_text() == "1"
    assert "立即" in page.locator('tr[data-notification="pipl_authority"] td.clock').inner_text()
    page.fill("#people-EU", "3")
    page.fill("#rationale", "contact data readable by the attacker")
    with page.expect_navigation():
        page.click("#assess")
    assert re.fullmatch(r"剩余 7[01] 小时 \d+ 分钟", page.locator('tr[data-notification="gdpr_authority"] td.clock').inner_text())
    page.goto("/console/")
    assert "GDPR" in page.locator("#incident-clocks").inner_text()
