"""Withdrawal is as easy as a grant and takes effect on the very next read (PIPL Art. 15; GDPR Art. 7(3))."""


def test_withdrawal_blocks_the_next_marketing_read(crm, marketing, make_subject, consent):
    sid = make_subject()
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").json["reason"] == "consent_required"

    granted = consent(crm, sid, "grant")
    assert granted.status_code == 201, granted.json
    read = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert read.status_code == 200, read.json
    assert read.json["fields"]["mobile"] == "13812345678"

    withdrawn = consent(marketing, sid, "withdraw")
    assert withdrawn.status_code == 201, withdrawn.json
    refused = marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    assert refused.status_code == 403
    assert refused.json["reason"] == "consent_withdrawn"
    assert "13812345678" not in refused.get_data(as_text=True)
