"""The requests queue names a request's assignee as the request page and the other queues do (issue 19 item 1): an
active staff member by name, one whose account was disabled as former staff — in the queue's page (Chinese) and in
the CSV of the view (English) — and an account that no longer exists in words too, never as a bare id."""

from __future__ import annotations

import csv
import io
import re
import uuid

from govern.identity import staff
from govern.identity.actor import Actor
from govern.subject_requests.models import DataSubjectRequest
from tests.subject_requests.conftest import file_request  # noqa: F401  (fixture)


def _cell(html: str, rid: uuid.UUID) -> str:
    """The assignee cell of request `rid`'s row in the queue's page."""
    row = re.search(rf'title="[^"]*">{rid}</code>(.*?)</tr>', html, re.S)
    assert row is not None, f"{rid} is not in the queue"
    return re.search(r'<td class="assignee">(.*?)</td>', row.group(1), re.S).group(1)


def _csv_assignees(response) -> dict[str, str]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    column = table[0].index("Assignee")
    return {r[0]: r[column] for r in table[1:]}


def test_the_requests_queue_and_its_csv_name_a_disabled_assignee_as_former_staff_never_by_a_bare_id(
    console_as, make_subject, file_request, make_staff, runtime,  # noqa: F811
):
    leaver_rid, colleague_rid, nobody_rid = (file_request(make_subject(), "access") for _ in range(3))
    leaver = make_staff("privacy_staff", name="zhao-min")
    colleague = make_staff("privacy_staff", name="wang-li")
    c = console_as("privacy_staff")
    for rid, who in ((leaver_rid, leaver), (colleague_rid, colleague)):
        assert c.post(f"/console/requests/{rid}/assign", {"assignee": str(who.id)}).status_code == 302
    assert _cell(c.get("/console/requests").get_data(as_text=True), leaver_rid) == "zhao-min"  # active: by name, as before
    with runtime.database.unit_of_work() as session:
        staff.disable(session=session, actor=Actor.operator(), ref=leaver.name)

    html = c.get("/console/requests").get_data(as_text=True)
    assert _cell(html, leaver_rid) == "zhao-min（前员工，账户已停用）"
    assert _cell(html, colleague_rid) == "wang-li" and _cell(html, nobody_rid) == "—"
    assert str(leaver.id) not in html
    # The filter by that person still finds the request (the leaver is no longer offered in the list, the URL still works).
    mine = c.get(f"/console/requests?assignee={leaver.id}").get_data(as_text=True)
    assert _cell(mine, leaver_rid) == "zhao-min（前员工，账户已停用）" and str(colleague_rid) not in mine

    c.post("/console/preferences", {"language": "en"})
    exported = _csv_assignees(c.get("/console/requests/export.csv"))
    assert exported[str(leaver_rid)] == "zhao-min (former staff member, account disabled)"
    assert exported[str(colleague_rid)] == "wang-li" and exported[str(nobody_rid)] == ""

    with runtime.database.unit_of_work() as session:  # an account that no longer exists at all: still words, no id
        gone = uuid.uuid4()
        session.get(DataSubjectRequest, leaver_rid).assignee_id = gone
    assert _csv_assignees(c.get("/console/requests/export.csv"))[str(leaver_rid)] == "former staff member (account disabled)"
    html = c.get("/console/requests").get_data(as_text=True)
    assert _cell(html, leaver_rid) == "former staff member (account disabled)" and str(gone) not in html
