"""A CRM service sees only the requests it filed: every request route given another service's request id answers
404, exactly as for an id that does not exist (a 403 would confirm it exists), and the queue lists only its own.
Staff working the queue see every request."""

import uuid

import pytest


@pytest.fixture
def two_services(client_as, make_subject):
    """A (which filed an access request and an erasure, both verified and the erasure completed) and B, same role."""
    a, b, staff = client_as("support_service"), client_as("support_service"), client_as("privacy_staff")
    sid = make_subject()
    access = a.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "app"}).json["id"]
    a.post(f"/api/v1/requests/{access}/verify", json={"method": "crm_session", "reference": "sess-a"})
    erasure = a.post("/api/v1/requests", json={"subject_id": str(make_subject()), "type": "erasure", "channel": "app"}).json["id"]
    a.post(f"/api/v1/requests/{erasure}/verify", json={"method": "crm_session", "reference": "sess-a2"})
    assert staff.post(f"/api/v1/requests/{erasure}/complete", json={}).status_code == 200
    pending = a.post("/api/v1/requests", json={"subject_id": str(sid), "type": "restriction", "channel": "app"}).json["id"]
    return a, b, staff, sid, {"access": access, "erasure": erasure, "pending": pending}


CALLS = [
    ("GET", "/api/v1/requests/{access}", None),
    ("GET", "/api/v1/requests/{erasure}/certificate", None),
    ("POST", "/api/v1/requests/{access}/download-token", None),
    ("POST", "/api/v1/requests/{pending}/otp", None),
    ("POST", "/api/v1/requests/{pending}/verify", {"method": "crm_session", "reference": "sess-b"}),
    ("POST", "/api/v1/requests/{pending}/withdraw", None),
]


@pytest.mark.parametrize("method, path, body", CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
def test_another_services_request_answers_404_like_a_missing_one(two_services, method, path, body):
    a, b, _, _, ids = two_services
    url = path.format(**ids)
    missing = path.format(**{k: str(uuid.uuid4()) for k in ids})
    theirs = b.open(url, method, json=body)
    nothing = b.open(missing, method, json=body)
    assert theirs.status_code == 404 and theirs.content_type == "application/problem+json"
    strip = lambda r: {k: v for k, v in r.json.items() if k != "instance"}  # noqa: E731
    assert strip(theirs) == strip(nothing)
    # The owner is answered (it is its request).
    assert a.open(url, method, json=body).status_code in (200, 201)


def test_nothing_changed_when_another_service_tried(two_services, row_counts):
    a, b, _, _, ids = two_services
    before = row_counts()
    b.post(f"/api/v1/requests/{ids['pending']}/verify", json={"method": "crm_session", "reference": "sess-b"})
    b.post(f"/api/v1/requests/{ids['pending']}/withdraw")
    after = row_counts()
    # Only the audit log may grow (refusals are not even recorded as changes to the request).
    assert {t: n for t, n in after.items() if n != before[t] and not t.startswith("audit")} == {}
    assert a.get(f"/api/v1/requests/{ids['pending']}").json["state"] == "received"


def test_the_queue_lists_only_the_services_own_requests_and_staff_see_all(two_services):
    a, b, staff, sid, ids = two_services
    mine = b.post("/api/v1/requests", json={"subject_id": str(sid), "type": "objection", "channel": "app"}).json["id"]
    for query in ("", f"?subject_id={sid}", "?state=completed"):
        listed = {r["id"] for r in b.get(f"/api/v1/requests{query}").json["items"]}
        assert not listed & set(ids.values()), query
    assert {r["id"] for r in b.get("/api/v1/requests").json["items"]} == {mine}
    assert {r["id"] for r in a.get("/api/v1/requests").json["items"]} == {ids["access"], ids["pending"]}
    assert {r["id"] for r in staff.get("/api/v1/requests").json["items"]} >= {ids["access"], ids["pending"], mine}


def test_a_request_of_another_service_for_the_same_thing_is_not_named_as_the_original(two_services):
    a, b, _, sid, ids = two_services
    # A's verified access request for this subject is open; B files the same: B is not told A's request id.
    filed = b.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "app"}).json
    assert filed["duplicate_of"] is None and filed["state"] == "received" and ids["access"] not in str(filed)
    # A filing it again is its own duplicate, as before.
    again = a.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "app"}).json
    assert (again["state"], again["duplicate_of"]) == ("duplicate", ids["access"])
