"""A look-up by blind index hands out only the ids the purpose may be used for now — the rule of a read of each match:
restriction, consent (withdrawn, never given, …), a standing objection to a legitimate-interest purpose. When some
subjects match but none may be used, 403 with the reason a read gives, audited as refused (field and purpose, no value)."""

import pytest
from sqlalchemy import event

from govern.access import reads
from govern.consent import objections
from govern.identity.actor import Actor
from govern.subjects import rights as subject_rights
from tests.conftest import VALID_FIELDS
from tests.consent import conftest as consent_fixtures

LOOKUP = "/api/v1/subjects/lookup"
EMAIL = VALID_FIELDS["email"]
STAFF = Actor(name="privacy-officer", kind="staff", roles=("privacy_staff",))
# The consent tests' fixtures: a CRM that records consent, and consent(crm, sid, "grant" | "withdraw").
crm, consent = consent_fixtures.crm, consent_fixtures.consent


@pytest.fixture
def marketer(client_as):
    """A CRM component that may look subjects up and also serves marketing."""
    return client_as("sales_service", "marketing_service")


@pytest.fixture
def fraud_desk(client_as):
    return client_as("privacy_staff", "security")


def _lookup(client, purpose, value=EMAIL):
    return client.post(LOOKUP, json={"field": "email", "value": value}, purpose=purpose)


def test_withdrawn_consent_refuses_the_lookup_and_a_grant_allows_it(marketer, crm, make_subject, consent, audit_events):
    sid = make_subject()
    assert consent(crm, sid, "grant").status_code == 201
    r = _lookup(marketer, "marketing")
    assert r.status_code == 200 and r.json["ids"] == [str(sid)]

    assert consent(crm, sid, "withdraw").status_code == 201
    r = _lookup(marketer, "marketing")
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    assert r.json["reason"] == "consent_withdrawn" and str(sid) not in r.text
    refused = audit_events(action="subjects:profile:lookup", outcome="denied")
    assert [(e.reason, e.purpose, e.field_names, e.subject_id) for e in refused] == [("consent_withdrawn", "marketing", "email", None)]
    assert EMAIL not in refused[0].canonical


def test_never_given_consent_refuses_the_lookup(marketer, make_subject):
    make_subject()
    r = _lookup(marketer, "marketing")
    assert r.status_code == 403 and r.json["reason"] == "consent_required"


def test_a_standing_objection_refuses_a_fraud_lookup_until_it_is_lifted(fraud_desk, make_subject, runtime):
    sid = make_subject(jurisdiction="EU")
    assert _lookup(fraud_desk, "fraud_prevention").json["ids"] == [str(sid)]
    with runtime.database.unit_of_work() as session:
        objections.record_objections(session=session, actor=STAFF, subject_id=sid, purposes=["fraud_prevention"], request_id=None)

    r = _lookup(fraud_desk, "fraud_prevention")
    assert r.status_code == 403 and r.json["reason"] == "objection_recorded"
    with runtime.database.unit_of_work() as session:
        objections.lift_objection(session=session, policy=runtime.policy, actor=STAFF, subject_id=sid, purpose="fraud_prevention", grounds="Compelling grounds (DPIA-77)")
    r = _lookup(fraud_desk, "fraud_prevention")
    assert r.status_code == 200 and r.json["ids"] == [str(sid)]


def test_a_restricted_subject_is_found_only_for_a_purpose_allowed_when_restricted(client_as, make_subject, runtime):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        subject_rights.set_status(session=session, actor=STAFF, subject_id=sid, status="restricted", reason="accuracy_contested")
    r = _lookup(client_as("sales_service"), "order_fulfilment")
    assert r.status_code == 403 and r.json["reason"] == "subject_restricted"
    assert _lookup(client_as("privacy_staff"), "legal_compliance").json["ids"] == [str(sid)]


def test_of_two_matches_only_the_one_the_purpose_may_use_is_returned_and_audited(marketer, crm, make_subject, consent, audit_events):
    granted, _never_asked = make_subject(), make_subject()
    consent(crm, granted, "grant")
    r = _lookup(marketer, "marketing")
    assert r.status_code == 200 and r.json == {"id": str(granted), "ids": [str(granted)]}
    assert [e.subject_id for e in audit_events(action="subjects:profile:lookup")] == [granted]


def test_matches_refused_for_different_reasons_answer_matches_refused(marketer, crm, make_subject, consent):
    withdrawn, _never_asked = make_subject(), make_subject()
    consent(crm, withdrawn, "grant")
    consent(crm, withdrawn, "withdraw")
    r = _lookup(marketer, "marketing")
    assert r.status_code == 403 and r.json["reason"] == "matches_refused"
    assert "consent_required" in r.json["detail"] and "consent_withdrawn" in r.json["detail"]


def test_no_match_is_still_404(marketer, make_subject):
    make_subject()
    assert _lookup(marketer, "marketing", value="nobody@example.cn").status_code == 404


def test_a_contract_purpose_asks_neither_the_consent_registry_nor_the_objections(make_subject, runtime):
    make_subject()
    seen: list[str] = []
    sales = Actor(name="crm", kind="service", roles=("sales_service",))
    with runtime.database.unit_of_work() as session:
        engine = session.get_bind()

        def listen(conn, cursor, statement, *rest):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", listen)
        try:
            ids = reads.lookup(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=sales, field="email", value=EMAIL, purpose="customer_service",
            )
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert len(ids) == 1
    assert not [s for s in seen if "consent_states" in s or "processing_objections" in s or "birth_date" in s]
