"""A Global Privacy Control signal is recorded as its own method: an opt-out of every sale/share purpose
(CCPA 1798.120, 1798.135), effective on the next read; repeated signals change nothing."""


def _gpc(client, sid):
    return client.post(f"/api/v1/subjects/{sid}/consents", json={"action": "withdraw", "method": "gpc", "channel": "web"})


def _partner(runtime):
    from datetime import date, timedelta

    from govern.identity.actor import Actor
    from govern.sharing import service

    with runtime.database.unit_of_work() as session:
        return str(service.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Ad Partner", "contact": "privacy@ads.example", "purpose": "partner_marketing", "categories": ["contact"],
            "country": "CN", "agreement_ref": "DSA-1", "agreement_expires_on": date.today() + timedelta(days=30),
        }).id)


def test_gpc_opts_out_of_sale_and_share_purposes_only(crm, marketing, make_subject, consent, runtime, audit_events):
    sid = make_subject(jurisdiction="US-CA")
    consent(crm, sid, "grant")
    assert consent(crm, sid, "grant", purpose="partner_marketing", separate=True, recipients=[_partner(runtime)]).status_code == 201
    r = _gpc(crm, sid)
    assert r.status_code == 201, r.json
    assert r.json["collectionMethod"] == "web: gpc"
    assert [p["consentType"] for p in r.json["services"][0]["purposes"]] == ["OPT-OUT"]
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="partner_marketing").json["reason"] == "consent_withdrawn"
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200
    assert [e.purpose for e in audit_events(action="consent:event:opt-out")] == ["partner_marketing"]


def test_a_repeated_gpc_signal_changes_nothing(crm, make_subject, runtime):
    sid = make_subject(jurisdiction="US-CA")
    assert _gpc(crm, sid).status_code == 201  # an opt-out stands even before any grant
    again = _gpc(crm, sid)
    assert again.status_code == 200 and again.json["changed"] is False


def test_gpc_is_an_opt_out_only(crm, make_subject):
    r = crm.post(f"/api/v1/subjects/{make_subject()}/consents", json={"action": "grant", "method": "gpc", "channel": "web", "purpose": "partner_marketing"})
    assert r.status_code == 400 and "method" in r.json["errors"]


def test_an_opt_out_blocks_a_sale_purpose_that_needs_no_consent(crm, marketing, make_subject, replace_purpose):
    # Under an opt-out model the purpose is allowed until the subject opts out.
    replace_purpose("partner_marketing", legal_basis_by_jurisdiction={"US-CA": "legitimate_interest"})
    sid = make_subject(jurisdiction="US-CA")
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="partner_marketing").status_code == 200
    assert _gpc(crm, sid).status_code == 201
    r = marketing.get(f"/api/v1/subjects/{sid}", purpose="partner_marketing")
    assert r.status_code == 403 and r.json["reason"] == "opted_out"
