"""Objections and restrictions as the GDPR writes them. An objection to a purpose purposes.yaml tags `direct_marketing`
is absolute (Art. 21(3)): recorded whatever the purpose's legal basis, stopping it, and never lifted — there is no
"compelling legitimate grounds" path. Lifting a restriction (Art. 18(3)) needs the record that the subject was told
first, when and how; without it nothing changes (the event it sends: tests/webhooks/test_restriction_lift_told.py)."""

import dataclasses
from datetime import timedelta

import pytest

from govern.access import service as access
from govern.consent import objections
from govern.errors import Problem
from govern.identity.actor import Actor
from govern.subject_requests import flows, service
from govern.timeutil import utcnow
from tests.subject_requests.conftest import STAFF

MARKETING = Actor(name="campaigns", kind="service", roles=("marketing_service",))
GROUNDS = "Compelling grounds: the DPO's assessment DPIA-88 says the campaign outweighs the objection"


def _object(file_request, verify_by_session, act, sid, purposes):
    rid = file_request(sid, "objection", details={"purposes": purposes})
    verify_by_session(rid)
    return rid, act(flows.complete, request_id=rid)


def test_the_shipped_marketing_purposes_are_tagged_direct_marketing(runtime):
    tagged = sorted(n for n, p in runtime.policy.purposes.items() if p.direct_marketing)
    assert tagged == ["marketing", "partner_marketing", "personalisation"]


def test_an_objection_to_marketing_is_recorded_and_can_never_be_lifted(client_as, make_subject, file_request, verify_by_session, act, audit_events, runtime):
    sid = make_subject(jurisdiction="EU")
    rid, done = _object(file_request, verify_by_session, act, sid, ["marketing"])
    assert done.response["direct_marketing_objected"] == ["marketing"] and done.response["legitimate_interest_objected"] == []
    staff = client_as("dpo")
    r = staff.post(f"/api/v1/requests/{rid}/objections/lift", json={"purpose": "marketing", "reason": GROUNDS})
    assert r.status_code == 409 and r.json["code"] == "objection_absolute", r.json
    assert "21(3)" in r.json["detail"]
    [refused] = audit_events(action="access:objection:lift", outcome="denied")
    assert (refused.reason, refused.purpose, refused.subject_id) == ("objection_absolute", "marketing", sid)
    with runtime.database.unit_of_work() as session:
        [row] = objections.objections_of(session=session, subject_id=sid)
        assert (row.purpose, row.lifted_at) == ("marketing", None)
        with pytest.raises(Problem) as exc:  # nor through the module itself
            objections.lift_objection(session=session, policy=runtime.policy, actor=STAFF, subject_id=sid, purpose="marketing", grounds=GROUNDS)
        assert exc.value.code == "objection_absolute"


def _on(policy, basis):
    """The shipped policy with `marketing` resting on `basis` (e.g. postal marketing on legitimate interest, Recital 47)."""
    purposes = dict(policy.purposes)
    purposes["marketing"] = dataclasses.replace(purposes["marketing"], legal_basis=basis, legal_basis_by_jurisdiction={})
    return dataclasses.replace(policy, purposes=purposes)


@pytest.mark.parametrize("basis", ["legitimate_interest", "contract"])
def test_direct_marketing_on_any_basis_is_stopped_by_an_objection_and_never_lifted(make_subject, file_request, verify_by_session, runtime, basis):
    policy = _on(runtime.policy, basis)
    sid, other = make_subject(jurisdiction="EU"), make_subject(jurisdiction="EU")
    rid = file_request(sid, "objection", details={"purposes": ["marketing"]})
    verify_by_session(rid)
    with runtime.database.unit_of_work() as session:
        done = flows.complete(session=session, policy=policy, envelope=runtime.envelope, actor=STAFF, request_id=rid, ledgers=runtime.ledgers)
        assert done.response["direct_marketing_objected"] == ["marketing"] and done.response["not_stopped"] == []
    purpose = policy.purposes["marketing"]
    with runtime.database.unit_of_work() as session:
        refused = access.subject_refusal(policy=policy, purpose=purpose, subject_id=sid, jurisdiction="EU", session=session, envelope=runtime.envelope)
        assert refused is not None and refused[0] == "objection_recorded"
        assert access.subject_refusal(policy=policy, purpose=purpose, subject_id=other, jurisdiction="EU", session=session, envelope=runtime.envelope) is None
        assert access.allowed_subjects(session=session, policy=policy, envelope=runtime.envelope, actor=MARKETING, purpose_name="marketing",
                                       subject_ids=[sid, other]) == [other]
    with runtime.database.unit_of_work() as session, pytest.raises(Problem) as exc:
        service.lift_objection(session=session, policy=policy, actor=STAFF, request_id=rid, purpose="marketing", reason=GROUNDS)
    assert exc.value.code == "objection_absolute"
    with runtime.database.unit_of_work() as session:
        assert objections.objection_standing(session=session, subject_id=sid, purpose="marketing")
        # A legitimate-interest purpose that is not marketing keeps its Art. 21(1) path (tests/subject_requests/test_objections.py).
        assert not policy.purposes["fraud_prevention"].direct_marketing


# --- lifting a restriction (GDPR Art. 18(3)) ------------------------------------------------------------------------


def _restricted(client_as, make_subject, file_request, verify_by_session, act):
    sid = make_subject(jurisdiction="EU")
    rid = file_request(sid, "restriction", now=utcnow() - timedelta(hours=3))
    verify_by_session(rid, now=utcnow() - timedelta(hours=3))
    act(flows.complete, request_id=rid, now=utcnow() - timedelta(hours=2))  # restricted two hours ago
    return sid, rid


def test_a_lift_without_telling_the_subject_first_changes_nothing(client_as, make_subject, file_request, verify_by_session, act, row_counts):
    sid, rid = _restricted(client_as, make_subject, file_request, verify_by_session, act)
    staff = client_as("privacy_staff")
    before = row_counts()
    now = utcnow()
    for body, field in (
        ({"reason": "dispute settled"}, "told_at"),
        ({"reason": "dispute settled", "told_at": now.isoformat(), "told_channel": "carrier_pigeon"}, "told_channel"),
        ({"reason": "dispute settled", "told_at": (now + timedelta(days=1)).isoformat(), "told_channel": "email"}, "told_at"),
        ({"reason": "dispute settled", "told_at": (now - timedelta(hours=3)).isoformat(), "told_channel": "email"}, "told_at"),  # before
    ):
        r = staff.post(f"/api/v1/requests/{rid}/lift", json=body)
        assert r.status_code in (400, 422) and r.headers["Content-Type"].startswith("application/problem+json"), r.json
        assert field in str(r.json.get("errors", r.json)), (field, r.json)
    assert row_counts() == before
    r = client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert r.status_code == 403 and r.json["reason"] == "subject_restricted"
