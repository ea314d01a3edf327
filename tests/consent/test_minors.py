"""Under the jurisdiction's minors' age (PIPL: 14, GDPR: 16 by default; policies/jurisdictions.yaml) a grant counts
only as a guardian's consent with the guardian identified; in China the guardian's consent is also separate consent
because a child's data is sensitive (PIPL Art. 28, 31)."""

import dataclasses

from sqlalchemy import text

from tests.consent.conftest import years_ago

GUARDIAN = {"relationship": "parent", "name": "王小红", "verification": "household register seen in store 0451"}


def test_a_minor_cannot_grant_without_a_guardian(crm, make_subject, consent, row_counts, valid_fields):
    sid = make_subject({**valid_fields, "birth_date": years_ago(13)})
    before = row_counts()
    r = consent(crm, sid, "grant")
    assert r.status_code == 422 and r.json["code"] == "guardian_consent_required"
    assert "under 14" in r.json["detail"]
    assert row_counts() == before


def test_a_guardians_separate_consent_lets_a_minors_data_be_used(crm, marketing, make_subject, consent, runtime, valid_fields):
    sid = make_subject({**valid_fields, "birth_date": years_ago(13)})
    not_separate = consent(crm, sid, "grant", guardian=GUARDIAN)
    assert not_separate.status_code == 422 and not_separate.json["because"] == ["minor"]
    r = consent(crm, sid, "grant", guardian=GUARDIAN, separate=True)
    assert r.status_code == 201, r.json
    assert r.json["govern"]["guardian"] == {"relationship": "parent", "verification": GUARDIAN["verification"]}
    assert "王小红" not in r.get_data(as_text=True)
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200
    # the guardian's name is stored sealed under the subject's data key, never in plaintext
    with runtime.database.engine.connect() as conn:
        for table in ("consent_events", "consent_receipts", "consent_states", "idempotency_keys", "audit_events"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert "王小红" not in repr(tuple(row)) and "王小红".encode() not in b"".join(v for v in row if isinstance(v, bytes))


def test_a_guardian_must_be_identified(crm, make_subject, consent, valid_fields):
    sid = make_subject({**valid_fields, "birth_date": years_ago(10)})
    r = consent(crm, sid, "grant", guardian={"relationship": "parent"}, separate=True)
    assert r.status_code == 400 and set(r.json["errors"]) >= {"guardian.verification"}


def test_a_subject_who_turned_out_to_be_a_minor_needs_a_guardian_on_the_next_read(crm, marketing, make_subject, consent, client_as):
    sid = make_subject()  # no date of birth known when consent was given
    consent(crm, sid, "grant")
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200
    sales = client_as("sales_service")
    etag = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").headers["ETag"]
    assert sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"birth_date": years_ago(12)}}, headers={"If-Match": etag}).status_code == 200
    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert r.status_code == 403 and r.json["reason"] == "guardian_consent_required"


def test_the_minors_age_follows_the_jurisdiction(crm, make_subject, consent, valid_fields, runtime, monkeypatch):
    fifteen = {**valid_fields, "birth_date": years_ago(15)}
    cn, eu = make_subject(fifteen, jurisdiction="CN"), make_subject(fifteen, jurisdiction="EU")
    assert consent(crm, cn, "grant").status_code == 201  # PIPL: 14 and over consents alone
    assert consent(crm, eu, "grant").json["code"] == "guardian_consent_required"  # GDPR default: 16
    # the age is policy, not code: a default lowered to 13 (GDPR Art. 8(1)) lets the same subject consent alone
    ages = {**runtime.policy.ages, "EU": dataclasses.replace(runtime.policy.ages["EU"], default=13)}
    monkeypatch.setattr(runtime, "policy", dataclasses.replace(runtime.policy, ages=ages))
    assert consent(crm, eu, "grant").status_code == 201


def test_the_fourteenth_birthday_is_the_boundary(crm, make_subject, consent, valid_fields):
    on_birthday = make_subject({**valid_fields, "birth_date": years_ago(14)})
    day_before = make_subject({**valid_fields, "birth_date": years_ago(14, days=-1)})
    assert consent(crm, on_birthday, "grant").status_code == 201
    assert consent(crm, day_before, "grant").json["code"] == "guardian_consent_required"
