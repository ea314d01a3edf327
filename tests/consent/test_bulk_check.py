"""A marketing component asks in one call which of up to 10,000 subject ids it may use for a purpose now, and gets
back exactly the ids a purpose-bound read would allow."""

import uuid

from tests.consent.conftest import years_ago


def test_only_subjects_with_a_valid_consent_come_back(crm, marketing, make_subject, consent, runtime, valid_fields, audit_events):
    from govern.subjects.models import Subject

    granted, withdrawn, never, minor, restricted = (make_subject() for _ in range(5))
    minor_ok = make_subject({**valid_fields, "birth_date": years_ago(10)})
    for sid in (granted, withdrawn, restricted):
        consent(crm, sid, "grant")
    consent(crm, withdrawn, "withdraw")
    consent(crm, minor_ok, "grant", guardian={"relationship": "parent", "name": "李四", "verification": "id checked"}, separate=True)
    with runtime.database.unit_of_work() as session:
        session.get(Subject, restricted).status = "restricted"
    # a minor whose grant was recorded before the date of birth was known
    consent(crm, minor, "grant")
    etag = crm.get(f"/api/v1/subjects/{minor}", purpose="order_fulfilment").headers["ETag"]
    crm.patch(f"/api/v1/subjects/{minor}", json={"fields": {"birth_date": years_ago(9)}}, headers={"If-Match": etag})

    asked = [granted, withdrawn, never, minor, restricted, minor_ok, uuid.uuid4(), granted]
    r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(s) for s in asked]})
    assert r.status_code == 200, r.json
    assert r.json["allowed"] == [str(granted), str(minor_ok)]
    # the same answer a read gives, one by one
    for sid in asked[:6]:
        status = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code
        assert (status == 200) == (str(sid) in r.json["allowed"])
    [event] = audit_events(action="consent:state:check")
    assert (event.purpose, event.resource) == ("marketing", "consent-check:asked=7,allowed=2")


def test_a_contract_purpose_allows_every_active_subject(client_as, make_subject, runtime):
    sales = client_as("sales_service", "marketing_service")
    ids = [make_subject(), make_subject()]
    r = sales.post("/api/v1/consents/check", json={"purpose": "order_fulfilment", "subject_ids": [str(i) for i in ids]})
    assert r.status_code == 200 and r.json["allowed"] == [str(i) for i in ids]


def test_a_role_may_only_check_its_own_purposes(marketing):
    r = marketing.post("/api/v1/consents/check", json={"purpose": "fraud_prevention", "subject_ids": []})
    assert r.status_code == 403 and r.json["reason"] == "purpose_not_permitted"


def test_more_than_ten_thousand_ids_is_refused(marketing):
    r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(uuid.uuid4()) for _ in range(10_001)]})
    assert r.status_code == 400 and "subject_ids" in r.json["errors"]


def test_ids_in_any_uuid_spelling_are_answered_in_canonical_form_once(crm, marketing, make_subject, consent):
    granted = make_subject()
    consent(crm, granted, "grant")
    spellings = [str(granted).upper(), "{" + str(granted) + "}", granted.hex, str(granted)]
    r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": spellings})
    assert r.status_code == 200 and r.json["allowed"] == [str(granted)]


def test_a_malformed_id_is_refused_by_position_and_nothing_is_checked(marketing, make_subject, audit_events):
    r = marketing.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(make_subject()), "not-a-uuid", 7]})
    assert r.status_code == 400
    assert set(r.json["errors"]) == {"subject_ids.1", "subject_ids.2"}
    assert audit_events(action="consent:state:check") == []


def test_the_service_answers_each_id_in_the_form_it_was_given(crm, make_subject, consent, runtime):
    from govern.access import service as access
    from govern.identity.actor import Actor

    granted, other = make_subject(), make_subject()
    consent(crm, granted, "grant")
    with runtime.database.unit_of_work() as session:
        allowed = access.allowed_subjects(
            session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor(name="m", kind="service", roles=("marketing_service",)),
            purpose_name="marketing", subject_ids=[str(granted).upper(), other, granted],
        )
    assert allowed == [granted]  # the same subject asked twice is answered once, in the form it was last given
