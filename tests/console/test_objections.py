"""A completed objection request's page shows the standing objections and lifts one on compelling legitimate grounds
(GDPR Art. 21(1)) through requests.lift_objection, as POST /api/v1/requests/{id}/objections/lift does: grounds
required, a read for the purpose succeeds afterwards, and the lifted objection shows who, when and why."""

from __future__ import annotations

import pytest

from govern.subject_requests import flows
from tests.subject_requests.conftest import act, file_request, verify_by_session  # noqa: F401  (fixtures)

GROUNDS = "Card-testing attack traced to this account; DPIA-77 found the fraud checks override the objection"


@pytest.fixture
def objection(make_subject, file_request, verify_by_session, act):  # noqa: F811
    """A completed objection of an EU subject to fraud_prevention -> (request id, subject id)."""
    sid = make_subject(jurisdiction="EU")
    rid = file_request(sid, "objection", details={"purposes": ["fraud_prevention"]})
    verify_by_session(rid)
    done = act(flows.complete, request_id=rid)
    assert done.response["legitimate_interest_objected"] == ["fraud_prevention"]
    return rid, sid


def test_the_page_of_a_completed_objection_shows_the_standing_objection_and_the_lift_form_in_chinese_and_english(console_as, objection):
    rid, _ = objection
    c = console_as("privacy_staff")
    zh = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "有效的拒绝处理" in zh and "反欺诈" in zh and 'id="lift-objection"' in zh and 'name="reason" required' in zh
    c.post("/console/preferences", {"language": "en"})
    en = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "Standing objections" in en and "Fraud prevention" in en and "Lift the objection" in en


def test_lifting_an_objection_from_the_console_lets_a_read_for_that_purpose_succeed_again(console_as, client_as, objection, audit_events):
    rid, sid = objection
    fraud_desk = client_as("security")
    assert fraud_desk.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"
    c = console_as("privacy_staff")
    r = c.post(f"/console/requests/{rid}/objections/lift", {"purpose": "fraud_prevention", "reason": GROUNDS})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/requests/{rid}?done=lift_objection")
    assert fraud_desk.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").status_code == 200
    [event] = audit_events(action="access:objection:lift")
    assert (event.actor_name, event.subject_id, event.purpose, event.resource) == (c.name, sid, "fraud_prevention", f"request:{rid}")
    page = c.get(f"/console/requests/{rid}?done=lift_objection").get_data(as_text=True)
    lifted = page.split('id="lifted-objections"', 1)[1].split("</table>", 1)[0]
    assert c.name in lifted and GROUNDS in lifted and "反欺诈" in lifted
    assert 'id="done"' in page and 'id="lift-objection"' not in page and "没有有效的拒绝处理。" in page


@pytest.mark.parametrize("grounds", ["  ", "the customer, 13812345678, is a known fraudster"])
def test_a_lift_without_grounds_or_with_personal_data_in_them_is_refused_and_changes_nothing(console_as, client_as, objection, audit_events, grounds):
    rid, sid = objection
    c = console_as("dpo")
    r = c.post(f"/console/requests/{rid}/objections/lift", {"purpose": "fraud_prevention", "reason": grounds})
    assert r.status_code == 400 and 'id="action-error"' in r.get_data(as_text=True)
    assert "13812345678" not in r.get_data(as_text=True)
    assert audit_events(action="access:objection:lift") == []
    assert client_as("security").get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"


def test_a_role_without_the_permission_gets_no_form_and_its_lift_is_refused(console_as, client_as, objection, audit_events):
    rid, sid = objection
    auditor = console_as("auditor")
    assert auditor.get(f"/console/requests/{rid}").status_code == 403
    assert auditor.post(f"/console/requests/{rid}/objections/lift", {"purpose": "fraud_prevention", "reason": GROUNDS}).status_code == 403
    # Without the session's CSRF token even privacy staff are refused.
    staff = console_as("privacy_staff")
    assert staff.post(f"/console/requests/{rid}/objections/lift", {"purpose": "fraud_prevention", "reason": GROUNDS}, csrf=False).status_code == 403
    assert audit_events(action="access:objection:lift") == []
    assert client_as("security").get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention").json["reason"] == "objection_recorded"


def test_only_a_completed_objection_request_shows_objections(console_as, make_subject, file_request):  # noqa: F811
    rid = file_request(make_subject(jurisdiction="EU"), "objection", details={"purposes": ["fraud_prevention"]})
    assert 'id="objections"' not in console_as("privacy_staff").get(f"/console/requests/{rid}").get_data(as_text=True)
