"""The console's forms reach the same free-text check as the API: a mobile written with dots, full-width digits or a
spaced ID number in an incident's title, a refusal's legal basis or a document check's reference is refused on the
form, naming the kind and never echoing the value, and nothing changes."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.identity.actor import Actor
from govern.subject_requests import service as requests_domain

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",))


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def filed_request(runtime, make_subject):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        return requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="erasure", channel="app").request.id


@pytest.mark.parametrize(("text", "kind"), [("李四 138.1234.5678", "a mobile number"), ("ID 110105 19491231 002X", "a resident identity number")])
def test_an_incident_title_holding_a_personal_value_is_refused_on_the_form(console_as, row_counts, text, kind):
    c = console_as("dpo")
    before = row_counts()
    r = c.post("/console/incidents/new", {"title": text, "detected_at": _local(datetime.now(timezone.utc))})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="action-error"' in page and kind in page
    rest = page.replace(text, "")  # at most the form's own echo of the input; the message names the kind only
    assert "13812345678" not in rest and "1234.5678" not in rest and "19491231" not in rest
    assert row_counts()["incidents"] == before["incidents"]


@pytest.mark.parametrize(("path", "form"), [
    ("refuse", {"reason": "excessive", "legal_basis": "GDPR Art. 12(5)(b), told on １３８１２３４５６７８"}),
    ("verify", {"reference": "DOC 138-1234-5678", "passed": "yes"}),
])
def test_a_request_form_holding_a_personal_value_is_refused_and_the_request_is_unchanged(console_as, filed_request, path, form):
    c = console_as("dpo")
    r = c.post(f"/console/requests/{filed_request}/{path}", form)
    assert r.status_code == 400 and "a mobile number" in r.get_data(as_text=True)
    assert 'id="request-state">已收到' in c.get(f"/console/requests/{filed_request}").get_data(as_text=True)
