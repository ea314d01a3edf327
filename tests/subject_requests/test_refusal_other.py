"""A refusal coded "other" says why (PIPL Art. 50: the handler explains a refusal); nothing changes without it."""


def test_a_refusal_coded_other_needs_an_explanation(client_as, make_subject, file_request):
    rid = file_request(make_subject(), "access")
    staff = client_as("privacy_staff")
    r = staff.post(f"/api/v1/requests/{rid}/refuse", json={"reason": "other", "legal_basis": "PIPL Art. 50"})
    assert r.status_code == 400 and r.mimetype == "application/problem+json" and "explanation" in str(r.json), r.json
    assert staff.get(f"/api/v1/requests/{rid}").json["state"] != "refused"
    r = staff.post(f"/api/v1/requests/{rid}/refuse", json={"reason": "other", "legal_basis": "PIPL Art. 50", "explanation": "已由法院裁定冻结该账户"})
    assert r.status_code == 200 and r.json["response"]["refusal"]["explanation"] == "已由法院裁定冻结该账户"
