"""A read of personal data names a purpose the role may use and that has a legal basis; otherwise 403 with a reason."""

import pytest


@pytest.mark.parametrize(
    ("role", "purpose", "reason"),
    [
        ("sales_service", None, "purpose_required"),
        ("sales_service", "astrology", "purpose_unknown"),
        ("sales_service", "fraud_prevention", "purpose_not_permitted"),
        ("support_service", "order_fulfilment", "purpose_not_permitted"),
        ("marketing_service", "marketing", "consent_required"),
        ("marketing_service", "personalisation", "consent_required"),
    ],
)
def test_a_read_without_a_usable_purpose_is_refused_with_a_reason(client_as, make_subject, row_counts, role, purpose, reason):
    sid = make_subject()
    client = client_as(role)
    r = client.get(f"/api/v1/subjects/{sid}", purpose=purpose)
    assert r.status_code == 403
    assert r.mimetype == "application/problem+json"
    assert r.json["reason"] == reason
    assert "fields" not in r.json and "张三" not in r.get_data(as_text=True)


def test_a_refused_read_is_audited_as_denied(client_as, make_subject, audit_events):
    sid = make_subject()
    sales = client_as("sales_service")
    sales.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention")
    [event] = audit_events(action="subjects:profile:read")
    assert (event.outcome, event.reason, event.subject_id, event.purpose) == ("denied", "purpose_not_permitted", sid, "fraud_prevention")
    assert event.actor_id == sales.principal_id


def test_the_purpose_can_come_from_the_query_string(client_as, make_subject):
    sid = make_subject()
    r = client_as("sales_service").get(f"/api/v1/subjects/{sid}?purpose=order_fulfilment")
    assert r.status_code == 200


def test_an_administrator_reads_no_personal_data(client_as, make_subject):
    sid = make_subject()
    r = client_as("admin").get(f"/api/v1/subjects/{sid}", purpose="legal_compliance")
    assert r.status_code == 403 and r.json["code"] == "permission_denied"


def test_a_restricted_subject_is_readable_only_for_legal_compliance(client_as, make_subject, runtime):
    from govern.subjects.models import Subject

    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        session.get(Subject, sid).status = "restricted"
    assert client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["reason"] == "subject_restricted"
    assert client_as("dpo").get(f"/api/v1/subjects/{sid}", purpose="legal_compliance").status_code == 200


def test_the_legal_basis_of_a_purpose_can_differ_by_jurisdiction(runtime):
    # PIPL knows no legitimate interest: fraud prevention rests on a legal obligation in China
    fraud = runtime.policy.purposes["fraud_prevention"]
    assert fraud.basis_for("CN") == "legal_obligation"
    assert fraud.basis_for("EU") == "legitimate_interest"
