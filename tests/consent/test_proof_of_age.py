"""A grant given by an adult keeps a proof of age (the minors' age it was checked against and a fingerprint of the
stored date of birth), so the bulk check need not decrypt every subject's date of birth again — yet a rectified date,
a risen minors' age or a missing proof still sends it back to the date itself."""

import dataclasses

import pytest

from govern.access import service as access
from govern.consent.models import ConsentState
from govern.crypto.envelope import Envelope
from govern.identity.actor import Actor
from govern.subjects import facts as subjects
from govern.subjects.models import ProfileField
from tests.consent.conftest import years_ago


@pytest.fixture
def opened(monkeypatch):
    """Counts the values decrypted under subjects' data keys."""
    count = {"n": 0}
    real = Envelope.open

    def counting(dek, subject_id, slot, blob):
        count["n"] += 1
        return real(dek, subject_id, slot, blob)

    monkeypatch.setattr(Envelope, "open", staticmethod(counting))
    return count


def _check(runtime, ids, policy=None):
    actor = Actor(name="marketing", kind="service", roles=("marketing_service",))
    with runtime.database.unit_of_work() as session:
        return access.allowed_subjects(
            session=session, policy=policy or runtime.policy, envelope=runtime.envelope, actor=actor, purpose_name="marketing", subject_ids=ids,
        )


def _state(runtime, sid):
    with runtime.database.unit_of_work() as session:
        return session.get(ConsentState, (sid, "marketing"))


def test_an_adults_grant_keeps_a_fingerprint_of_the_stored_date_not_the_date(crm, make_subject, consent, runtime, valid_fields):
    sid = make_subject({**valid_fields, "birth_date": years_ago(30)})
    assert consent(crm, sid, "grant").status_code == 201
    state = _state(runtime, sid)
    with runtime.database.unit_of_work() as session:
        stored = session.get(ProfileField, (sid, "birth_date")).ciphertext
    assert state.adult_at_age == runtime.policy.jurisdictions["CN"].minors_age
    assert state.adult_evidence == subjects.birth_date_fingerprint(stored)
    assert years_ago(30).encode() not in state.adult_evidence


def test_a_guardians_grant_or_an_unknown_date_keeps_no_proof(crm, make_subject, consent, runtime, valid_fields):
    child = make_subject({**valid_fields, "birth_date": years_ago(10)})
    consent(crm, child, "grant", guardian={"relationship": "parent", "name": "李四", "verification": "id checked"}, separate=True)
    unknown = make_subject()
    consent(crm, unknown, "grant")
    assert (_state(runtime, child).adult_evidence, _state(runtime, unknown).adult_evidence) == (None, None)


def test_the_bulk_check_decrypts_no_date_whose_proof_still_fits(crm, make_subject, consent, runtime, valid_fields, opened):
    ids = [make_subject({**valid_fields, "birth_date": years_ago(20 + i)}) for i in range(3)]
    for sid in ids:
        consent(crm, sid, "grant")
    opened["n"] = 0
    assert sorted(_check(runtime, ids)) == sorted(ids)
    assert opened["n"] == 0


def test_a_rectified_date_of_birth_is_read_again(crm, make_subject, consent, runtime, valid_fields, opened):
    sid = make_subject({**valid_fields, "birth_date": years_ago(30)})
    consent(crm, sid, "grant")
    etag = crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").headers["ETag"]
    assert crm.patch(f"/api/v1/subjects/{sid}", json={"fields": {"birth_date": years_ago(12)}}, headers={"If-Match": etag}).status_code == 200
    opened["n"] = 0
    assert _check(runtime, [sid]) == []  # a minor now: only a guardian's consent counts
    assert opened["n"] == 1


def test_a_risen_minors_age_reads_the_date_again(crm, make_subject, consent, runtime, valid_fields):
    sid = make_subject({**valid_fields, "birth_date": years_ago(15)}, jurisdiction="CN")
    consent(crm, sid, "grant")  # PIPL: 14 and over consent alone
    assert _check(runtime, [sid]) == [sid]
    ages = {**runtime.policy.ages, "CN": dataclasses.replace(runtime.policy.ages["CN"], default=16)}
    assert _check(runtime, [sid], policy=dataclasses.replace(runtime.policy, ages=ages)) == []
