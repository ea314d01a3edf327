"""Collection is processing: a sensitive field is written only on a lawful basis in force at that moment (PIPL Art.
28–29: a separate consent, or a statutory duty the policy lists; GDPR Art. 9(2): explicit consent or a letter (b)–(j)
with a reference; CCPA: the notice at collection), kept with the field and audited; without one the write is refused
(403 sensitive_basis_missing, field names only) and nothing is written. A CN minor's every field needs the guardian's
separate consent (PIPL Art. 28, 31)."""

import base64

import pytest
from sqlalchemy import select

from govern.consent.models import CollectionBasis
from govern.subjects.models import ProfileField
from tests.consent.conftest import current_version, years_ago

HEALTH = "哮喘-collection-canary"
BIOMETRIC = base64.b64encode(b"biometric-collection-canary").decode()
GUARDIAN = {"relationship": "parent", "name": "王小红", "verification": "household register seen in store 0451"}


@pytest.fixture
def sales(client_as):
    return client_as("sales_service")


def _grant(runtime, purpose="health_services", **extra):
    return {"purpose": purpose, "channel": "app", "notice_version": current_version(runtime, purpose), "evidence": "form-2026-0042",
            "separate": True, **extra}


def _without_audit(counts):
    # A refusal is itself audited (in its own transaction); nothing else may change.
    return {t: n for t, n in counts.items() if not t.startswith("audit")}


def _bases(runtime, sid):
    with runtime.database.unit_of_work() as session:
        return {r.field: (r.basis, r.purpose, r.reference, r.guardian, r.receipt_id is not None)
                for r in session.scalars(select(CollectionBasis).where(CollectionBasis.subject_id == sid).order_by(CollectionBasis.id))}


def _stored(runtime, sid):
    with runtime.database.unit_of_work() as session:
        return set(session.scalars(select(ProfileField.name).where(ProfileField.subject_id == sid)))


def test_a_cn_subject_with_health_and_biometric_and_no_consent_is_refused_and_nothing_is_written(sales, row_counts, audit_events):
    before = row_counts()
    r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {"name": "张三", "mobile": "13812345678", "health": HEALTH, "biometric": BIOMETRIC}})
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json["code"] == "sensitive_basis_missing" and r.json["fields"] == ["biometric", "health"]
    text = r.get_data(as_text=True)
    assert HEALTH not in text and BIOMETRIC not in text and "13812345678" not in text
    assert _without_audit(row_counts()) == _without_audit(before)
    refused = [e for e in audit_events(action="subjects:profile:create") if e.outcome == "denied"]
    assert len(refused) == 1 and refused[0].reason == "sensitive_basis_missing" and set(refused[0].field_names.split(",")) == {"biometric", "health"}


def test_with_the_separate_consent_given_with_the_create_it_is_accepted_and_the_basis_is_kept(sales, runtime, audit_events):
    r = sales.post("/api/v1/subjects", json={
        "jurisdiction": "CN", "fields": {"name": "张三", "mobile": "13812345678", "health": HEALTH}, "consent": _grant(runtime),
    })
    assert r.status_code == 201, r.json
    sid = __import__("uuid").UUID(r.json["id"])
    assert _bases(runtime, sid) == {"health": ("consent", "health_services", None, False, True)}
    event = audit_events(action="subjects:profile:basis")[-1]
    assert event.field_names == "health" and event.reason == "PIPL:consent" and event.resource.startswith("consent-receipt:")
    # the consent given with it counts for reads too, and the subject's consents show the basis of the field
    assert client_read(runtime, sales, sid) == 200
    shown = sales.get(f"/api/v1/subjects/{sid}/consents").json["collection_bases"]
    assert shown["health"]["basis"] == "consent" and shown["health"]["purpose"] == "health_services" and shown["health"]["law"] == "PIPL"
    assert HEALTH not in str(shown)


def client_read(runtime, sales, sid):
    return sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code


def test_a_consent_that_is_not_separate_or_does_not_declare_the_field_is_no_basis(sales, runtime, row_counts):
    before = row_counts()
    bundled = sales.post("/api/v1/subjects", json={
        "jurisdiction": "CN", "fields": {"name": "张三", "health": HEALTH}, "consent": _grant(runtime, separate=False),
    })
    assert bundled.status_code == 422 and bundled.json["code"] == "separate_consent_required"
    # health_services declares health, not biometric: its consent is no basis for a biometric template
    other = sales.post("/api/v1/subjects", json={
        "jurisdiction": "CN", "fields": {"name": "张三", "health": HEALTH, "biometric": BIOMETRIC}, "consent": _grant(runtime),
    })
    assert other.status_code == 403 and other.json["fields"] == ["biometric"]
    assert _without_audit(row_counts()) == _without_audit(before)


def test_an_update_needs_the_separate_consent_in_force_at_the_time_of_the_write(sales, runtime, consent_api):
    sid = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {"name": "张三", "mobile": "13812345678"}}).json["id"]

    def patch(fields, **body):
        etag = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").headers["ETag"]
        return sales.patch(f"/api/v1/subjects/{sid}", json={"fields": fields, **body}, headers={"If-Match": etag}, purpose="health_services")

    refused = patch({"health": HEALTH})
    assert refused.status_code == 403 and refused.json["code"] == "sensitive_basis_missing" and refused.json["fields"] == ["health"]
    assert "health" not in _stored(runtime, __import__("uuid").UUID(sid))
    assert consent_api(sales, sid, purpose="health_services", separate=True).status_code == 201
    assert patch({"health": HEALTH}).status_code == 200
    assert _bases(runtime, __import__("uuid").UUID(sid))["health"][:2] == ("consent", "health_services")
    # withdrawn: the next write of the field has no basis any more
    assert consent_api(sales, sid, "withdraw", purpose="health_services").status_code == 201
    again = patch({"health": "changed"})
    assert again.status_code == 403 and again.json["fields"] == ["health"]


@pytest.fixture
def consent_api(runtime):
    def post(client, sid, action="grant", purpose="marketing", **body):
        payload = {"action": action, "channel": "app", "purpose": purpose, **body}
        if action == "grant":
            payload.update(evidence="form-2026-0043", notice_version=current_version(runtime, purpose))
        return client.post(f"/api/v1/subjects/{sid}/consents", json=payload)

    return post


def test_a_statutory_duty_counts_in_cn_only_for_a_purpose_that_rests_on_it_and_declares_the_field(sales, runtime):
    basis = {"basis": "legal_obligation", "reference": "反电信网络诈骗法 real-name check", "purpose": "fraud_prevention"}
    ok = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {"name": "张三", "id_card_number": "11010519491231002X"}, "sensitive_basis": basis})
    assert ok.status_code == 201, ok.json
    assert _bases(runtime, __import__("uuid").UUID(ok.json["id"]))["id_card_number"] == ("legal_obligation", "fraud_prevention", "反电信网络诈骗法 real-name check", False, False)
    # fraud_prevention does not declare health; marketing does not rest on a legal obligation
    for fields, purpose in (({"name": "张三", "health": HEALTH}, "fraud_prevention"), ({"name": "张三", "id_card_number": "11010519491231002X"}, "marketing")):
        r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": fields, "sensitive_basis": {**basis, "purpose": purpose}})
        assert r.status_code == 403 and r.json["code"] == "sensitive_basis_missing"
    bad = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {"name": "张三"}, "sensitive_basis": {"basis": "legal_obligation"}})
    assert bad.status_code == 400 and "sensitive_basis.reference" in bad.json["errors"]


def test_gdpr_asks_an_art_9_2_basis_for_special_categories_only(sales, runtime):
    health = sales.post("/api/v1/subjects", json={"jurisdiction": "EU", "fields": {"name": "Anna", "health": HEALTH}})
    assert health.status_code == 403 and health.json["fields"] == ["health"] and "h" in health.json["bases"]
    unknown = sales.post("/api/v1/subjects", json={
        "jurisdiction": "EU", "fields": {"name": "Anna", "health": HEALTH}, "sensitive_basis": {"basis": "z", "reference": "x", "purpose": "health_services"},
    })
    assert unknown.status_code == 403
    care = sales.post("/api/v1/subjects", json={
        "jurisdiction": "EU", "fields": {"name": "Anna", "health": HEALTH},
        "sensitive_basis": {"basis": "h", "reference": "care contract TC-2026-17", "purpose": "health_services"},
    })
    assert care.status_code == 201, care.json
    assert _bases(runtime, __import__("uuid").UUID(care.json["id"]))["health"][:3] == ("h", "health_services", "care contract TC-2026-17")
    # an ID card number is not a special category under Art. 9(1): no Art. 9(2) basis is asked for it
    assert sales.post("/api/v1/subjects", json={"jurisdiction": "EU", "fields": {"name": "Anna", "id_card_number": "11010519491231002X"}}).status_code == 201


def test_ccpa_sensitive_information_is_collected_under_a_named_notice(sales):
    fields = {"name": "Ann", "id_card_number": "11010519491231002X"}
    assert sales.post("/api/v1/subjects", json={"jurisdiction": "US-CA", "fields": fields}).json["code"] == "sensitive_basis_missing"
    notice = {"basis": "notice_at_collection", "reference": "privacy notice 2026-01 §4", "purpose": "fraud_prevention"}
    assert sales.post("/api/v1/subjects", json={"jurisdiction": "US-CA", "fields": fields, "sensitive_basis": notice}).status_code == 201


def test_every_field_of_a_cn_child_needs_the_guardians_separate_consent(sales, runtime, row_counts):
    child = {"name": "小明", "email": "xiaoming@example.cn"}
    before = row_counts()
    r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "birth_date": years_ago(10), "fields": child})
    assert r.status_code == 403 and r.json["fields"] == ["email", "name"] and r.json["consent"] == "separate"
    # the child's own consent is refused; a basis other than consent does not count for a child's data
    own = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "birth_date": years_ago(10), "fields": child, "consent": _grant(runtime, "personalisation")})
    assert own.status_code == 422 and own.json["code"] == "guardian_consent_required"
    stated = sales.post("/api/v1/subjects", json={
        "jurisdiction": "CN", "birth_date": years_ago(10), "fields": child,
        "sensitive_basis": {"basis": "legal_obligation", "reference": "x", "purpose": "legal_compliance"},
    })
    assert stated.status_code == 403
    assert _without_audit(row_counts()) == _without_audit(before)
    ok = sales.post("/api/v1/subjects", json={
        "jurisdiction": "CN", "birth_date": years_ago(10), "fields": child, "consent": _grant(runtime, "personalisation", guardian=GUARDIAN),
    })
    assert ok.status_code == 201, ok.json
    bases = _bases(runtime, __import__("uuid").UUID(ok.json["id"]))
    assert set(bases) == {"email", "name"} and all(b[:2] == ("consent", "personalisation") and b[3] for b in bases.values())


def test_a_write_path_that_names_no_rule_may_not_store_a_sensitive_field(runtime):
    from govern.errors import Problem
    from govern.identity.actor import Actor
    from govern.subjects import service

    with pytest.raises(Problem) as refused, runtime.database.unit_of_work() as session:
        service.create(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), jurisdiction="EU",
                       fields={"name": "Anna", "id_card_number": "11010519491231002X"})
    assert refused.value.code == "sensitive_basis_missing" and refused.value.extra["fields"] == ["id_card_number"]


def test_a_rectification_keeps_the_basis_a_held_field_was_collected_on(make_subject, runtime):
    from govern.consent.collection import Collection
    from govern.identity.actor import Actor
    from govern.subjects import facts, service

    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        subject = facts.get_or_raise(session=session, subject_id=sid)
        service.update(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid,
                       expected_version=subject.version, fields={"bank_card_number": "6222020200112345679"}, collection=Collection(carry_over="request:r-1"))
    assert _bases(runtime, sid)["bank_card_number"][:3] == ("carried", None, "request:r-1")
    with pytest.raises(Exception) as refused, runtime.database.unit_of_work() as session:
        subject = facts.get_or_raise(session=session, subject_id=sid)
        service.update(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid,
                       expected_version=subject.version, fields={"health": HEALTH}, collection=Collection(carry_over="request:r-2"))
    assert getattr(refused.value, "code", None) == "sensitive_basis_missing"


def test_the_demo_seed_writes_its_id_and_card_numbers_on_the_recorded_statutory_basis(runtime):
    from govern import demo

    assert demo.seed(runtime=runtime, count=2)
    with runtime.database.unit_of_work() as session:
        rows = session.execute(select(CollectionBasis.field, CollectionBasis.basis, CollectionBasis.purpose)).all()
    assert sorted(rows) == sorted([(f, "legal_obligation", "fraud_prevention") for f in ("bank_card_number", "id_card_number")] * 2)
