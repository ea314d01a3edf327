"""Free text a person writes into govern (reasons, notes, evidence references) is refused when it holds a value of
personal data: such values live only in a subject's encrypted fields. The error names the field and the kind found,
never the value, and nothing is stored."""

from govern.timeutil import utcnow


def test_a_legal_hold_note_naming_a_mobile_number_is_refused_and_nothing_is_stored(client_as, make_subject, row_counts):
    sid = make_subject()
    staff = client_as("privacy_staff")
    before = row_counts()
    r = staff.post("/api/v1/holds", json={"subject_id": str(sid), "reason": "litigation", "note": "plaintiff reachable at 13812345678"})
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json")
    assert "a mobile number" in r.json["errors"]["note"][0]
    assert "13812345678" not in r.get_data(as_text=True)
    assert row_counts() == before
    assert staff.post("/api/v1/holds", json={"subject_id": str(sid), "reason": "litigation", "note": "case 2026-0042"}).status_code == 201


def test_consent_evidence_holding_an_e_mail_address_is_refused(client_as, make_subject, runtime, row_counts):
    sid = make_subject()
    version = runtime.policy.notices.for_purpose("marketing").current(utcnow()).version
    crm = client_as("sales_service")
    before = row_counts()
    r = crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "purpose": "marketing", "action": "grant", "channel": "web", "notice_version": version, "evidence": "signed by li.si@example.com",
    })
    assert r.status_code == 400 and "an e-mail address" in r.json["errors"]["evidence"][0]
    assert "li.si@example.com" not in r.get_data(as_text=True)
    assert row_counts() == before
