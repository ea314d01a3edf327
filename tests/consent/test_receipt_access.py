"""A consent receipt is fetched again by the principal that recorded it (to hand to the subject) and by staff who
report on consent; another service's receipt id answers 404 exactly like an unknown one (no existence oracle)."""

import uuid


def test_a_receipt_is_for_its_recorder_and_consent_staff_only(client_as, make_subject, consent):
    a, b = client_as("sales_service"), client_as("sales_service")
    sid = make_subject()
    issued = consent(a, sid)
    assert issued.status_code == 201
    receipt_id = issued.json["consentReceiptID"]
    assert a.get(f"/api/v1/receipts/{receipt_id}").json == issued.json
    theirs, nothing = b.get(f"/api/v1/receipts/{receipt_id}"), b.get(f"/api/v1/receipts/{uuid.uuid4()}")
    assert theirs.status_code == nothing.status_code == 404
    assert {k: v for k, v in theirs.json.items() if k != "instance"} == {k: v for k, v in nothing.json.items() if k != "instance"}
    for staff in ("privacy_staff", "dpo", "auditor"):
        assert client_as(staff).get(f"/api/v1/receipts/{receipt_id}").json == issued.json, staff
