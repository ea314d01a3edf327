"""Console pages: what each role sees, the audited and masked subject look-up, the access review and its CSV, the
audit search and export, escaping of free text, and the words in both languages."""

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest

from govern.identity.guard import PUBLIC, declared_access


def _console_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def _url(rule) -> str:
    url = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000001", rule.rule)
    return re.sub(r"<[^>]+>", "x", url)


def test_every_console_route_needs_a_console_permission_that_no_service_role_holds(app, runtime):
    for rule, _ in _console_routes(app):
        needed = declared_access(app, rule.endpoint)
        assert needed is not None, rule.rule
        if needed == PUBLIC:
            assert rule.endpoint in {"console.sign_in", "console.sign_in_submit", "console.static_file", "console.choose_language"}, rule.rule
            continue
        assert str(needed).startswith("console:"), rule.rule
        holders = [name for name, role in runtime.policy.roles.items() if needed in role.permissions]
        assert holders and all(runtime.policy.roles[h].kind == "staff" for h in holders), (rule.rule, holders)


def test_every_console_page_refuses_a_signed_in_role_that_may_not_see_it(app, runtime, console_as):
    staff_roles = ["dpo", "privacy_staff", "auditor", "security"]
    clients = {role: console_as(role) for role in staff_roles}
    for rule, method in _console_routes(app):
        needed = declared_access(app, rule.endpoint)
        if needed == PUBLIC:
            continue
        for role, c in clients.items():
            if needed in runtime.policy.roles[role].permissions:
                continue
            r = c.post(_url(rule)) if method == "POST" else c.get(_url(rule))
            assert r.status_code == 403, f"{role} reached {method} {rule.rule} ({r.status_code})"


def test_navigation_shows_only_the_pages_a_role_may_open(console_as):
    auditor = console_as("auditor").get("/console/").get_data(as_text=True)
    assert 'href="/console/audit"' in auditor and 'href="/console/access-review"' in auditor
    assert 'href="/console/subjects"' not in auditor and 'href="/console/requests"' not in auditor
    privacy = console_as("privacy_staff").get("/console/").get_data(as_text=True)
    assert 'href="/console/subjects"' in privacy and 'href="/console/audit"' not in privacy
    # Privacy staff may open and follow incidents; an auditor sees only the register (tests/console/test_incidents.py).
    assert 'href="/console/incidents"' in privacy and 'href="/console/incidents"' not in auditor


def test_a_look_up_is_audited_and_masked_per_role(console_as, make_subject, audit_events):
    sid = make_subject()
    staff_page = console_as("privacy_staff").post("/console/subjects", {"field": "email", "value": "zhang.san@example.cn", "purpose": "legal_compliance"})
    text = staff_page.get_data(as_text=True)
    assert staff_page.status_code == 200 and str(sid) in text
    assert "138****5678" in text and "13812345678" not in text  # privacy staff see masked values
    assert "zhang.san@example.cn" not in text  # not even the value they typed is echoed back
    dpo_page = console_as("dpo").post("/console/subjects", {"field": "mobile", "value": "13812345678", "purpose": "legal_compliance"})
    assert "13812345678" in dpo_page.get_data(as_text=True)  # the DPO's role sees it in full
    lookups = audit_events(action="subjects:profile:lookup")
    reads = audit_events(action="subjects:profile:read")
    assert [e.purpose for e in lookups] == ["legal_compliance", "legal_compliance"]
    assert {e.subject_id for e in reads} == {sid} and all("mobile" in e.field_names for e in reads)


def test_a_look_up_that_finds_nobody_is_still_audited(console_as, audit_events):
    r = console_as("privacy_staff").post("/console/subjects", {"field": "email", "value": "nobody@example.cn", "purpose": "legal_compliance"})
    assert r.status_code == 404 and 'id="lookup-error"' in r.get_data(as_text=True)
    [event] = audit_events(action="subjects:profile:lookup")
    assert event.reason == "no_match"


def test_a_look_up_for_a_purpose_the_role_may_not_use_is_refused(console_as, make_subject, audit_events):
    make_subject()
    r = console_as("privacy_staff").post("/console/subjects", {"field": "email", "value": "zhang.san@example.cn", "purpose": "marketing"})
    assert r.status_code == 403
    [event] = audit_events(action="subjects:profile:lookup")
    assert event.outcome == "denied" and event.reason == "purpose_not_permitted"


def test_the_access_review_shows_reads_and_unused_rights_and_exports_csv(console_as, client_as, make_subject, audit_events):
    sid = make_subject()
    reader = client_as("support_service")
    assert reader.get(f"/api/v1/subjects/{sid}", purpose="customer_service").status_code == 200
    c = console_as("auditor")
    page = c.get("/console/access-review").get_data(as_text=True)
    assert reader.name in page and c.name in page
    r = c.get("/console/access-review.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff")))}
    row = rows[reader.name]
    assert row["personal_data_reads"] == "1" and row["subjects_read"] == "1" and "mobile" in row["fields_read"].split()
    assert row["purposes_used"] == "customer_service" and "health_services" in row["purposes_unused"].split()
    assert "subjects:profile:update" in row["permissions_unused"].split() and "subjects:profile:read" not in row["permissions_unused"].split()
    assert [e.action for e in audit_events(actor_name=c.name) if e.action.startswith("identity:review")] == ["identity:review:read", "identity:review:export"]


def test_the_access_review_counts_evidence_only_for_permissions_that_exist():
    from govern.identity.permissions import Permission
    from govern.identity.review import EVIDENCE, _used

    assert set(EVIDENCE) <= {str(p) for p in Permission}
    # A permission whose use is audited under another name counts as used by that event.
    assert _used("webhooks:delivery:retry", {"webhooks:delivery:requeue"})
    assert not _used("webhooks:delivery:retry", {"webhooks:delivery:list"})


def test_the_audit_search_filters_and_the_export_carries_a_signed_manifest(console_as, make_subject, audit_events):
    make_subject()
    c = console_as("auditor")
    r = c.get("/console/audit?go=1&action=subjects:*")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "subjects:profile:create" in text and "identity:staff:sign-in" not in text
    [search] = audit_events(action="audit:event:search")
    assert search.actor_name == c.name and "action" in search.field_names
    export = c.get("/console/audit/export?format=jsonl")
    assert export.status_code == 200 and export.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    export.close()  # the zip streams from a spooled temporary file
    assert "audit-export/events.jsonl" in names and "audit-export/manifest.json" in names
    assert len(audit_events(action="audit:export:create")) == 1


@pytest.mark.parametrize("probe", ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>'])
def test_free_text_comes_back_escaped(console_as, probe):
    c = console_as("dpo")
    text = c.get("/console/audit", query_string={"go": "1", "actor": probe, "action": probe, "purpose": probe}).get_data(as_text=True)
    assert probe not in text and "&lt;" in text


def test_no_template_turns_escaping_off_so_every_free_text_field_is_escaped(app):
    """Flask autoescapes .html templates; a `|safe`, `Markup` or `{% autoescape false %}` would open a hole for every
    free-text field a page shows (notes, reasons, explanations), so none may exist in the console."""
    root = Path(__file__).resolve().parents[2] / "govern" / "console"
    offenders = [
        str(path.relative_to(root)) for path in [*root.rglob("*.html"), *root.rglob("*.py")]
        if re.search(r"\|\s*safe\b|Markup\(|autoescape\s+false", path.read_text())
    ]
    assert offenders == []
    assert app.jinja_env.autoescape("console/request.html") is True


def test_pages_follow_the_language_and_time_zone_the_user_chose(console_as):
    c = console_as("dpo")
    assert "访问权限审查" in c.get("/console/").get_data(as_text=True)  # policies/console.yaml default: zh
    c.post("/console/preferences", {"language": "en", "time_zone": "Europe/Berlin"})
    home = c.get("/console/").get_data(as_text=True)
    assert "Access review" in home and "Europe/Berlin" in home and 'lang="en"' in home


def test_every_word_the_templates_use_exists_in_chinese_and_english():
    from govern.console.i18n import MESSAGES

    root = Path(__file__).resolve().parents[2] / "govern" / "console"
    used = set()
    for path in [*root.rglob("*.html"), *root.glob("*.py")]:
        used |= set(re.findall(r"\b[t_]\('([a-z_.]+)'", path.read_text())) | set(re.findall(r'\b[t_]\("([a-z_.]+)"', path.read_text()))
    missing = sorted(k for k in used if k not in MESSAGES and not k.endswith("."))
    assert missing == []
    # Keys built from a value ('request_state.' ~ state): every value the domains can produce has its words.
    families = {"outcome.": ("allowed", "denied", "failed"), "state.": ("active", "disabled", "locked"), "done.": ("verify", "extend", "complete", "refuse", "approve")}
    try:
        from govern.subject_requests import service as requests

        families |= {"request_state.": requests.STATES, "request_type.": requests.REQUEST_TYPES, "refusal.": requests.REFUSAL_REASONS}
    except ImportError:
        pass
    assert [f"{prefix}{v}" for prefix, values in families.items() for v in values if f"{prefix}{v}" not in MESSAGES] == []
    assert all(zh and en and zh != en for zh, en in MESSAGES.values())


def test_console_responses_forbid_caching_framing_and_foreign_scripts(console_as):
    r = console_as("auditor").get("/console/")
    assert r.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_the_console_fetches_nothing_from_the_internet():
    root = Path(__file__).resolve().parents[2] / "govern" / "console"
    for path in [*root.rglob("*.html"), *root.rglob("*.css"), *root.rglob("*.js")]:
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", path.read_text()), path
        assert "@import" not in path.read_text() and "url(http" not in path.read_text(), path
