"""Who works an incident, in the console (issue 19 item 1): the incident page assigns it to me, to another staff
member who may manage incidents, or to nobody (a form with the session's CSRF token, for those with
console:incident:manage only); the queue shows the assignee, filters by it (mine, nobody's, one person's) and exports
it in the CSV of the filtered view; the timeline says who assigned whom; a closed incident is not reassigned (409); a
disabled assignee reads as former staff, never as a bare id."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from govern.breach import service as breach
from govern.breach.models import Incident
from govern.identity.actor import Actor

SOC = Actor(name="soc", kind="staff", roles=("security",))


def _ids(html: str) -> set[str]:
    return set(re.findall(r'<code class="copyable" title="[^"]*">([0-9a-f-]{36})</code>', html))


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _assignee_id(runtime, incident_id: str) -> uuid.UUID | None:
    with runtime.database.unit_of_work() as session:
        return session.get(Incident, uuid.UUID(incident_id)).assignee_id


@pytest.fixture
def incident(runtime):
    """open_incident(title) -> the id (text) of a new open incident, aware two hours ago."""

    def make(title: str = "Stolen API key") -> str:
        aware = datetime.now(timezone.utc) - timedelta(hours=2)
        with runtime.database.unit_of_work() as session:
            return str(breach.create(session=session, policy=runtime.policy, actor=SOC, data={"title": title, "detected_at": aware, "aware_at": aware}).id)

    return make


def _row(html: str, incident_id: str) -> str:
    return re.search(rf'data-incident="{incident_id}">(.*?)</tr>', html, re.S).group(1)


def test_security_assign_an_incident_to_themselves_or_a_colleague_and_the_queue_shows_filters_and_exports_it(console_as, make_staff, incident, runtime, audit_events):
    mine, other_one = incident("Laptop stolen"), incident("Mail misdirected")
    colleague = make_staff("dpo", name="wang-li")
    c = console_as("security")
    page = c.get(f"/console/incidents/{mine}").get_data(as_text=True)
    assert 'id="incident-assignee">—<' in page and 'id="assign-me"' in page
    r = c.post(f"/console/incidents/{mine}/assign", {"assignee": "me"})
    assert r.status_code == 302 and r.headers["Location"].endswith("done=assign")
    page = c.get(f"/console/incidents/{mine}").get_data(as_text=True)
    assert f'id="incident-assignee">{c.name}<' in page and "经办人已更新" not in page  # the notice is on the redirect's page
    assert re.search(rf"<td>指派处理人</td><td>{c.name}</td>.*?{c.name}", page, re.S)  # the timeline: who assigned whom
    queue = c.get("/console/incidents").get_data(as_text=True)
    assert '<th scope="col">经办人</th>' in queue and f'<td class="assignee">{c.name}</td>' in _row(queue, mine)
    assert '<td class="assignee">—</td>' in _row(queue, other_one)
    by = lambda **q: _ids(c.get("/console/incidents", query_string=q).get_data(as_text=True)) & {mine, other_one}  # noqa: E731
    assert by(assignee="me") == {mine} and by(assignee="none") == {other_one} and by() == {mine, other_one}
    rows = _csv(c.get("/console/incidents/export.csv", query_string={"assignee": "me"}))
    column = rows[0].index("经办人")
    assert [(r[0], r[column]) for r in rows[1:]] == [(mine, c.name)]  # the CSV of the filtered view, with the name
    # Hand it to a colleague who may manage incidents: offered by name, found by their id.
    page = c.get(f"/console/incidents/{mine}").get_data(as_text=True)
    assert f'<option value="{colleague.id}">wang-li</option>' in page
    assert c.post(f"/console/incidents/{mine}/assign", {"assignee": str(colleague.id)}).status_code == 302
    assert _assignee_id(runtime, mine) == colleague.id
    assert by(assignee=str(colleague.id)) == {mine} and by(assignee="me") == set()
    assert f'<option value="{colleague.id}" selected>wang-li</option>' in c.get("/console/incidents", query_string={"assignee": str(colleague.id)}).get_data(as_text=True)
    # A refused choice changes nothing and says why, on the incident's page.
    bad = c.post(f"/console/incidents/{mine}/assign", {"assignee": "not-an-id"})
    assert bad.status_code == 400 and 'id="action-error"' in bad.get_data(as_text=True)
    assert _assignee_id(runtime, mine) == colleague.id
    assert c.get("/console/incidents", query_string={"assignee": "someone"}).status_code == 400
    # Unassigned: the timeline says so in words.
    assert c.post(f"/console/incidents/{mine}/assign", {"assignee": ""}).status_code == 302
    assert _assignee_id(runtime, mine) is None
    page = c.get(f"/console/incidents/{mine}").get_data(as_text=True)
    assert 'id="incident-assignee">—<' in page and re.search(r"<td>指派处理人</td>.*?未分配</td>", page, re.S)
    assert [e.reason for e in audit_events(action="breach:incident:assign")] == [str(_principal(runtime, c.name)), str(colleague.id), "unassigned"]
    assert c.post(f"/console/incidents/{mine}/assign", {"assignee": "me"}, csrf=False).status_code == 403  # CSRF like every form


def _principal(runtime, name: str) -> uuid.UUID:
    from govern.identity import service as identity

    with runtime.database.unit_of_work() as session:
        return identity.get_by_name_or_id(session=session, ref=name).id


@pytest.mark.parametrize("role, reads", [("privacy_staff", True), ("auditor", False)])
def test_only_those_who_may_manage_incidents_assign_them(role, reads, console_as, incident, runtime):
    iid = incident()
    c = console_as(role)
    page = c.get(f"/console/incidents/{iid}")
    assert page.status_code == (200 if reads else 403) and 'id="assign-me"' not in page.get_data(as_text=True)  # privacy staff read it, with no form
    assert c.post(f"/console/incidents/{iid}/assign", {"assignee": "me"}).status_code == 403
    assert _assignee_id(runtime, iid) is None


def test_an_incident_is_offered_and_given_only_to_staff_who_may_manage_incidents(console_as, make_staff, incident, runtime):
    iid = incident()
    auditor, privacy = make_staff("auditor", name="audit-li"), make_staff("privacy_staff", name="privacy-zhou")
    worker = make_staff("security", name="soc-he")
    c = console_as("dpo")
    for url in (f"/console/incidents/{iid}", "/console/incidents"):
        page = c.get(url).get_data(as_text=True)
        assert str(worker.id) in page and str(auditor.id) not in page and str(privacy.id) not in page  # not offered
    for who in (auditor, privacy):
        assert c.post(f"/console/incidents/{iid}/assign", {"assignee": str(who.id)}).status_code == 400  # nor taken
    assert _assignee_id(runtime, iid) is None


def test_a_closed_incident_keeps_its_assignee_and_is_not_reassigned(console_as, incident, runtime):
    iid = incident()
    c = console_as("dpo")
    assert c.post(f"/console/incidents/{iid}/assign", {"assignee": "me"}).status_code == 302
    with runtime.database.unit_of_work() as session:
        breach.assess(session=session, policy=runtime.policy, actor=SOC, incident_id=uuid.UUID(iid), data={
            "risk": "unlikely", "notify": "no", "rationale": "false alarm", "people": {"CN": 0}})
        breach.transition(session=session, policy=runtime.policy, actor=SOC, incident_id=uuid.UUID(iid), to="assessing")
        breach.transition(session=session, policy=runtime.policy, actor=SOC, incident_id=uuid.UUID(iid), to="closed",
                          review={"cause": "none", "lessons": "none", "actions": []})
    page = c.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert f'id="incident-assignee">{c.name}<' in page and 'id="assign-me"' not in page
    refused = c.post(f"/console/incidents/{iid}/assign", {"assignee": ""})
    assert refused.status_code == 409 and 'id="action-error"' in refused.get_data(as_text=True)
    assert _assignee_id(runtime, iid) is not None
    assert iid in _ids(c.get("/console/incidents", query_string={"state": "closed", "assignee": "me"}).get_data(as_text=True))


def test_a_disabled_assignee_reads_as_former_staff_on_the_page_in_the_queue_and_in_the_csv_never_as_a_bare_id(console_as, make_staff, incident, runtime):
    from govern.identity import staff

    iid = incident()
    leaver = make_staff("security", name="zhao-min")
    c = console_as("dpo")
    assert c.post(f"/console/incidents/{iid}/assign", {"assignee": str(leaver.id)}).status_code == 302
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=leaver.name)
    page = c.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="incident-assignee">zhao-min（前员工，账户已停用）<' in page
    queue = c.get("/console/incidents").get_data(as_text=True)
    assert '<td class="assignee">zhao-min（前员工，账户已停用）</td>' in _row(queue, iid)
    rows = _csv(c.get("/console/incidents/export.csv"))
    assert {r[0]: r[rows[0].index("经办人")] for r in rows[1:]}[iid] == "zhao-min（前员工，账户已停用）"
    assert str(leaver.id) not in page and str(leaver.id) not in queue
    with runtime.database.unit_of_work() as session:  # an account that no longer exists at all: still words, no id
        session.get(Incident, uuid.UUID(iid)).assignee_id = uuid.uuid4()
    assert 'id="incident-assignee">前员工（账户已停用）<' in c.get(f"/console/incidents/{iid}").get_data(as_text=True)
    c.post("/console/preferences", {"language": "en"})
    rows = _csv(c.get("/console/incidents/export.csv"))
    assert "Assignee" in rows[0] and {r[0]: r[rows[0].index("Assignee")] for r in rows[1:]}[iid] == "former staff member (account disabled)"
