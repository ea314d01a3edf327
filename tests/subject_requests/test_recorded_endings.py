"""An answer given outside govern (a copy of the data sent by post, a refusal sent by letter) is entered by privacy
staff afterwards with its real time and why: the request's closing time, its timeline and whether it was answered on
time follow that date; who entered it and when is kept and audited. Never in the future, never before the request was
received (or, a completion, before the requester was verified), only by staff (requests:request:manage and
requests:request:backdate), and never for a request govern
itself carries out on completion (an erasure happens when govern does it)."""

from datetime import timedelta

from govern.timeutil import utcnow
from tests.subject_requests.test_recorded_times import WHY, _file

POSTED = "copy sent by registered post, entered on return from leave"


def _verified_request(staff, sid, received, type="access"):
    rid = _file(staff, sid, received, received_reason=WHY, type=type).json["id"]
    r = staff.post(f"/api/v1/requests/{rid}/verify", json={
        "method": "document", "reference": "DOC-CHECK-1", "occurred_at": (received + timedelta(days=1)).isoformat(), "occurred_reason": WHY,
    })
    assert r.status_code == 200 and r.json["verified"], r.json
    return rid


def test_an_access_request_answered_by_post_in_time_is_on_time_though_entered_after_the_deadline(client_as, make_subject, audit_events, runtime):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=40)
    rid = _verified_request(staff, sid, received)
    answered = received + timedelta(days=20)
    r = staff.post(f"/api/v1/requests/{rid}/complete", json={"occurred_at": answered.isoformat(), "occurred_reason": POSTED})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "completed" and r.json["answered_on_time"] is True
    view = staff.get(f"/api/v1/requests/{rid}").json
    [done] = [e for e in view["timeline"] if e["kind"] == "completed"]
    assert done["occurred_at"][:16] == answered.isoformat()[:16] and done["actor"] == staff.name
    assert done["data"]["entered_because"] == POSTED and done["data"]["entered_at"] > (utcnow() - timedelta(minutes=5)).isoformat()
    # The download window counts from the real answer, as the package route enforces it.
    hours = runtime.policy.requests.package_download_hours
    assert r.json["response"]["package"]["available_until"][:16] == (answered + timedelta(hours=hours)).isoformat()[:16]
    [backdated] = [e for e in audit_events(action="requests:clock:backdate", subject_id=sid) if e.reason.startswith("completed:")]
    assert backdated.reason == "completed:20d" and backdated.resource == f"request:{rid}"
    assert POSTED not in backdated.canonical

    # The same answer entered without its real date is late: the flag follows the date recorded.
    other = _verified_request(staff, make_subject(jurisdiction="EU"), received)
    late = staff.post(f"/api/v1/requests/{other}/complete", json={})
    assert late.status_code == 200 and late.json["answered_on_time"] is False


def test_a_refusal_sent_by_letter_takes_its_real_time(client_as, make_subject, audit_events):
    sid = make_subject(jurisdiction="EU")
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=45)
    rid = _file(staff, sid, received, received_reason=WHY).json["id"]
    sent = received + timedelta(days=6)
    r = staff.post(f"/api/v1/requests/{rid}/refuse", json={
        "reason": "manifestly_unfounded", "legal_basis": "GDPR Art. 12(5)(b)", "occurred_at": sent.isoformat(), "occurred_reason": "letter sent, copy filed late",
    })
    assert r.status_code == 200, r.json
    assert r.json["state"] == "refused" and r.json["answered_on_time"] is True
    [ended] = [e for e in staff.get(f"/api/v1/requests/{rid}").json["timeline"] if e["kind"] == "refused"]
    assert ended["occurred_at"][:16] == sent.isoformat()[:16] and ended["data"]["reason"] == "manifestly_unfounded"
    assert ended["data"]["entered_because"] == "letter sent, copy filed late"
    assert [e.reason for e in audit_events(action="requests:clock:backdate", subject_id=sid) if e.reason.startswith("refused")] == ["refused:39d"]


def test_an_ending_is_never_dated_in_the_future_before_receipt_or_verification_or_without_a_reason(client_as, make_subject, row_counts):
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=10)
    rid = _verified_request(staff, make_subject(jurisdiction="EU"), received)  # verified a day after receipt
    refusal = {"reason": "excessive", "legal_basis": "GDPR Art. 12(5)(b)"}
    before = row_counts()
    for route, extra, body, key in (
        ("complete", {}, {"occurred_at": (utcnow() + timedelta(days=1)).isoformat(), "occurred_reason": POSTED}, "occurred_at"),
        ("complete", {}, {"occurred_at": (received - timedelta(days=1)).isoformat(), "occurred_reason": POSTED}, "occurred_at"),
        ("complete", {}, {"occurred_at": (received + timedelta(hours=2)).isoformat(), "occurred_reason": POSTED}, "occurred_at"),
        ("complete", {}, {"occurred_at": (received + timedelta(days=3)).isoformat()}, "occurred_at_reason"),
        ("complete", {}, {"occurred_at": "2026-01-01T00:00:00", "occurred_reason": POSTED}, "occurred_at"),
        ("refuse", refusal, {"occurred_at": (utcnow() + timedelta(days=1)).isoformat(), "occurred_reason": POSTED}, "occurred_at"),
        ("refuse", refusal, {"occurred_at": (received - timedelta(days=1)).isoformat(), "occurred_reason": POSTED}, "occurred_at"),
        ("refuse", refusal, {"occurred_at": (received + timedelta(days=3)).isoformat()}, "occurred_at_reason"),
    ):
        r = staff.post(f"/api/v1/requests/{rid}/{route}", json={**extra, **body})
        assert r.status_code in (400, 422) and r.mimetype == "application/problem+json" and key in r.json["errors"], (route, body, r.json)
    assert {**row_counts(), "audit_events": 0} == {**before, "audit_events": 0}
    view = staff.get(f"/api/v1/requests/{rid}").json
    assert view["state"] == "in_progress" and view["answered_on_time"] is None and view["response"] is None


def test_an_erasure_is_completed_when_govern_does_it_never_earlier(client_as, make_subject, row_counts):
    staff = client_as("privacy_staff")
    received = utcnow() - timedelta(days=10)
    erasure = _verified_request(staff, make_subject(jurisdiction="EU"), received, type="erasure")
    before = row_counts()
    r = staff.post(f"/api/v1/requests/{erasure}/complete", json={"occurred_at": (received + timedelta(days=3)).isoformat(), "occurred_reason": POSTED})
    assert r.status_code == 400 and "carried out by govern" in r.json["errors"]["occurred_at"][0]
    assert row_counts() == before
    assert staff.get(f"/api/v1/requests/{erasure}").json["state"] == "in_progress"
