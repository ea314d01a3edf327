"""Purpose-bound reads consult the registry on every read: each refusal names its reason and is audited."""


def test_each_consent_refusal_is_audited_with_its_reason(crm, marketing, make_subject, consent, audit_events):
    sid = make_subject()
    marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    consent(crm, sid, "grant")
    consent(crm, sid, "withdraw")
    marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    reasons = [(e.outcome, e.reason) for e in audit_events(action="subjects:profile:read")]
    assert reasons == [("denied", "consent_required"), ("denied", "consent_withdrawn")]


def test_a_notice_change_that_needs_reconsent_stops_earlier_grants(crm, marketing, make_subject, consent, publish_notice):
    sid = make_subject()
    assert consent(crm, sid, "grant").status_code == 201
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200

    new = publish_notice("marketing", requires_reconsent=True)
    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert r.status_code == 403 and r.json["reason"] == "reconsent_required"
    # the old text can no longer be consented to
    stale = consent(crm, sid, "grant", notice_version="2026-06")
    assert stale.status_code == 409 and stale.json["code"] == "notice_superseded" and stale.json["current_version"] == new
    assert consent(crm, sid, "grant", notice_version=new).status_code == 201
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200


def test_a_notice_change_without_reconsent_keeps_grants(crm, marketing, make_subject, consent, publish_notice):
    sid = make_subject()
    consent(crm, sid, "grant")
    publish_notice("marketing", requires_reconsent=False)
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200


def test_records_for_a_consent_purpose_obey_withdrawal_too(crm, marketing, make_subject, consent):
    sid = make_subject()
    consent(crm, sid, "grant")
    assert marketing.get(f"/api/v1/subjects/{sid}/records", purpose="marketing").status_code == 200
    consent(crm, sid, "withdraw")
    r = marketing.get(f"/api/v1/subjects/{sid}/records", purpose="marketing")
    assert r.status_code == 403 and r.json["reason"] == "consent_withdrawn"


def test_contract_purposes_need_no_consent(client_as, make_subject):
    sid = make_subject()
    assert client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
