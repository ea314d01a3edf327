"""Incidents move detected → assessing → contained → notifying → notified → closed, one step at a time, each step
timestamped, attributed and audited; a move the state machine does not allow, or whose conditions are unmet, is
refused with 409 and changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.breach.conftest import TEXTS, iso


def _open(client, **extra):
    aware = datetime.now(timezone.utc) - timedelta(hours=2)
    body = {"title": "Lost laptop", "detected_at": iso(aware - timedelta(hours=1)), "aware_at": iso(aware), "reported_by": "IT helpdesk", **extra}
    r = client.post("/api/v1/incidents", json=body)
    assert r.status_code == 201, r.json
    return r.json


def _move(client, incident_id, to, **extra):
    return client.post(f"/api/v1/incidents/{incident_id}/transition", json={"to": to, **extra})


def test_an_incident_walks_every_state_to_closed_with_a_review(dpo, audit_events):
    inc = _open(dpo)
    assert inc["state"] == "detected" and inc["allowed_transitions"] == ["assessing"] and inc["reference"].startswith("INC-")
    iid = inc["id"]
    assert _move(dpo, iid, "assessing").status_code == 200
    assert dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "laptop wiped remotely"}).status_code == 201
    assert _move(dpo, iid, "contained").status_code == 200
    # Nobody is affected (no scope): nothing to notify, but an assessment is still required to move on.
    r = dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "unlikely", "notify": "no", "rationale": "disk encrypted, key safe", "encrypted": True, "key_compromised": False, "texts": TEXTS})
    assert r.status_code == 201, r.json
    assert _move(dpo, iid, "notifying").status_code == 200
    assert _move(dpo, iid, "notified").status_code == 200
    review = {"cause": "laptop left in a taxi", "lessons": "full-disk encryption worked", "actions": ["remind staff"]}
    r = _move(dpo, iid, "closed", review=review)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["state"] == "closed" and body["allowed_transitions"] == []
    assert body["review"]["cause"] == "laptop left in a taxi" and body["review"]["by"] == dpo.name
    for state in ("assessing", "contained", "notifying", "notified", "closed"):
        assert body[f"{state}_at"] is not None
    moves = [(e["from_state"], e["to_state"], e["actor"]) for e in body["timeline"] if e["kind"] == "transition"]
    assert moves == [
        ("detected", "assessing", dpo.name), ("assessing", "contained", dpo.name), ("contained", "notifying", dpo.name),
        ("notifying", "notified", dpo.name), ("notified", "closed", dpo.name),
    ]
    reasons = [e.reason for e in audit_events(action="breach:incident:transition")]
    assert reasons == ["detected->assessing", "assessing->contained", "contained->notifying", "notifying->notified", "notified->closed"]
    # The report for the file was frozen at closing, in both languages.
    for lang, word in (("zh", "事后复盘"), ("en", "Post-incident review")):
        r = dpo.get(f"/api/v1/incidents/{iid}/report?lang={lang}")
        assert r.status_code == 200 and r.headers["X-Report-Final"] == "true"
        assert word in r.text and "laptop left in a taxi" in r.text


def test_illegal_transitions_are_refused_and_change_nothing(dpo, audit_events):
    iid = _open(dpo)["id"]
    for to in ("contained", "notifying", "notified", "closed", "detected"):
        r = _move(dpo, iid, to)
        assert r.status_code == 409 and r.json["code"] == "illegal_transition", to
        assert r.json["allowed"] == ["assessing"]
    assert dpo.get(f"/api/v1/incidents/{iid}").json["state"] == "detected"
    assert _move(dpo, iid, "nowhere").status_code == 400
    assert audit_events(action="breach:incident:transition") == []


def test_each_step_has_its_condition(dpo):
    iid = _open(dpo)["id"]
    _move(dpo, iid, "assessing")
    r = _move(dpo, iid, "contained")
    assert r.status_code == 409 and r.json["code"] == "containment_missing"
    r = _move(dpo, iid, "closed", review={"cause": "x", "lessons": "y", "actions": []})
    assert r.status_code == 409 and r.json["code"] == "assessment_missing"
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "unlikely", "notify": "no", "rationale": "false alarm"})
    r = _move(dpo, iid, "closed")
    assert r.status_code == 400 and "review.cause" in r.json["errors"]
    assert _move(dpo, iid, "closed", review={"cause": "false alarm", "lessons": "tune the alert", "actions": []}).status_code == 200


def test_a_closed_incident_takes_nothing_more(dpo):
    iid = _open(dpo)["id"]
    _move(dpo, iid, "assessing")
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "unlikely", "notify": "no", "rationale": "false alarm"})
    _move(dpo, iid, "closed", review={"cause": "none", "lessons": "none", "actions": []})
    assert dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"rationale": "again"}).json["code"] == "incident_closed"
    assert dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "x"}).json["code"] == "incident_closed"
    assert _move(dpo, iid, "assessing").json["code"] == "illegal_transition"


def test_who_may_do_what(client_as):
    staff, crm = client_as("privacy_staff"), client_as("sales_service")
    iid = _open(staff)["id"]  # privacy staff report incidents…
    assert staff.get(f"/api/v1/incidents/{iid}").status_code == 200
    assert _move(staff, iid, "assessing").status_code == 403  # …but do not run them
    assert crm.get(f"/api/v1/incidents/{iid}").status_code == 403
    assert crm.post("/api/v1/incidents", json={"title": "x", "detected_at": iso(datetime.now(timezone.utc))}).status_code == 403


def test_times_that_cannot_be_are_refused(dpo):
    now = datetime.now(timezone.utc)
    r = dpo.post("/api/v1/incidents", json={"title": "x", "detected_at": iso(now), "aware_at": iso(now - timedelta(hours=1))})
    assert r.status_code == 400 and "aware_at" in r.json["errors"]
    r = dpo.post("/api/v1/incidents", json={"title": "x", "detected_at": iso(now + timedelta(days=1))})
    assert r.status_code == 400 and "detected_at" in r.json["errors"]
    r = dpo.post("/api/v1/incidents", json={"title": "x", "detected_at": "2026-01-01T00:00:00"})
    assert r.status_code == 400  # a time without a zone is ambiguous
