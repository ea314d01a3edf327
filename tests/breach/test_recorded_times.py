"""Staff record what really happened and when: an incident's detection, awareness, containment and closing can be entered
with a real past time (never a future one, never out of order, never before the incident began), with who and why,
on the timeline and in the audit log; every clock — GDPR 72 h, CAC 4 h / 1 h, the 30-day summary, California's 30
days — follows the recorded times (issue 16 item 6)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.breach.conftest import TEXTS, iso


def _open(dpo, detected: datetime, **extra) -> str:
    r = dpo.post("/api/v1/incidents", json={"title": "Backup tape lost", "detected_at": iso(detected), **extra})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _due(dpo, iid, key) -> datetime:
    n = next(n for n in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if n["key"] == key)
    return datetime.fromisoformat(n["due_at"])


def _end_of_day(moment: datetime, days: int, zone: str) -> datetime:
    """The last instant of the day `days` calendar days after `moment`, in `zone` (the whole last day counts)."""
    local = moment.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    return datetime.combine(local, datetime.max.time(), tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def test_awareness_entered_days_later_moves_the_72_hour_clock_and_is_attributed(dpo, audit_events):
    now = datetime.now(timezone.utc)
    iid = _open(dpo, now - timedelta(minutes=5))
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "yes", "rationale": "r", "people": {"EU": 40}})
    assert _due(dpo, iid, "gdpr_authority") > now + timedelta(hours=71)
    # The e-mail that reported it arrived four days ago; it was entered today.
    aware = (now - timedelta(days=4)).replace(microsecond=0)
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"detected_at": iso(aware), "aware_at": iso(aware), "reason": "reported by e-mail to the DPO inbox on Monday"})
    assert r.status_code == 200, r.json
    body = r.json
    assert datetime.fromisoformat(body["aware_at"]) == aware
    gdpr = next(n for n in body["notifications"] if n["key"] == "gdpr_authority")
    assert datetime.fromisoformat(gdpr["due_at"]) == aware + timedelta(hours=72) and gdpr["overdue"] is True
    [entry] = [e for e in body["timeline"] if e["kind"] == "times"]
    assert entry["actor"] == dpo.name and entry["note"] == "reported by e-mail to the DPO inbox on Monday"
    assert entry["data"]["changed"]["aware_at"]["to"] == aware.isoformat()
    [event] = audit_events(action="breach:incident:times")
    assert event.reason == "aware_at,detected_at" and event.actor_name == dpo.name
    # The register keeps it too.
    [row] = dpo.get("/api/v1/incidents/register").json["register"]
    assert row["facts"]["times_recorded"][0]["reason"] == "reported by e-mail to the DPO inbox on Monday"


def test_times_that_cannot_be_are_refused_and_change_nothing(dpo, audit_events):
    now = datetime.now(timezone.utc)
    iid = _open(dpo, now - timedelta(days=2), occurred_from=iso(now - timedelta(days=3)))
    before = dpo.get(f"/api/v1/incidents/{iid}").json
    cases = [
        ({"aware_at": iso(now + timedelta(days=1))}, "aware_at"),  # the future
        ({"aware_at": iso(now - timedelta(days=2, hours=1))}, "aware_at"),  # aware before detected
        ({"detected_at": iso(now - timedelta(days=4))}, "detected_at"),  # detected before the incident began
        ({}, "times"),  # nothing given
    ]
    for times, field in cases:
        r = dpo.post(f"/api/v1/incidents/{iid}/times", json={**times, "reason": "correction"})
        assert r.status_code == 400 and field in r.json["errors"], (times, r.json)
    assert dpo.post(f"/api/v1/incidents/{iid}/times", json={"aware_at": iso(now - timedelta(days=1))}).status_code == 400  # no reason
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"contained_at": iso(now - timedelta(days=1)), "reason": "r"})
    assert r.status_code == 409 and r.json["code"] == "not_contained"
    after = dpo.get(f"/api/v1/incidents/{iid}").json
    assert (after["detected_at"], after["aware_at"], after["contained_at"]) == (before["detected_at"], before["aware_at"], None)
    assert audit_events(action="breach:incident:times") == []
    # Opening one with a detection before its own beginning is refused the same way.
    r = dpo.post("/api/v1/incidents", json={"title": "x", "detected_at": iso(now - timedelta(days=5)), "occurred_from": iso(now - timedelta(days=4))})
    assert r.status_code == 400 and "detected_at" in r.json["errors"]


def test_containment_entered_with_its_real_time_runs_the_30_day_summary_from_it(dpo, audit_events):
    now = datetime.now(timezone.utc)
    detected = now - timedelta(days=10)
    iid = _open(dpo, detected)
    dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "assessing"})
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "people": {"CN": 1_200_000}, "texts": TEXTS})
    dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "the tape was found and destroyed"})
    contained = (now - timedelta(days=8)).replace(microsecond=0)
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "contained", "at": iso(contained)})
    assert r.status_code == 400 and "reason" in r.json["errors"]
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "contained", "at": iso(detected - timedelta(hours=1)), "reason": "r"})
    assert r.status_code == 400 and "at" in r.json["errors"]
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "contained", "at": iso(now + timedelta(hours=1)), "reason": "r"})
    assert r.status_code == 400 and "at" in r.json["errors"]
    assert dpo.get(f"/api/v1/incidents/{iid}").json["state"] == "assessing"
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "contained", "at": iso(contained), "reason": "destroyed on site, logged on paper"})
    assert r.status_code == 200, r.json
    assert datetime.fromisoformat(r.json["contained_at"]) == contained
    assert _due(dpo, iid, "cn_incident_summary") == _end_of_day(contained, 30, "Asia/Shanghai")
    step = [e for e in r.json["timeline"] if e["kind"] == "transition" and e["to_state"] == "contained"][0]
    assert datetime.fromisoformat(step["occurred_at"]) == contained and step["data"]["reason"] == "destroyed on site, logged on paper"
    assert [e.reason for e in audit_events(action="breach:incident:times")] == ["contained_at"]
    # A later correction of the containment time moves the summary again.
    corrected = contained + timedelta(days=1)
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"contained_at": iso(corrected), "reason": "the destruction certificate is dated a day later"})
    assert r.status_code == 200, r.json
    assert _due(dpo, iid, "cn_incident_summary") == _end_of_day(corrected, 30, "Asia/Shanghai")


def test_the_cac_hour_and_california_30_days_follow_the_recorded_times(dpo):
    now = datetime.now(timezone.utc)
    iid = _open(dpo, now - timedelta(minutes=10), critical_infrastructure=True)
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "people": {"CN": 1_000_000, "US-CA": 20}})
    detected = (now - timedelta(days=3)).replace(microsecond=0)
    aware = detected + timedelta(hours=5)
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"detected_at": iso(detected), "aware_at": iso(aware), "reason": "SOC ticket 4711"})
    assert r.status_code == 200, r.json
    assert _due(dpo, iid, "cn_incident_report") == aware + timedelta(hours=1)  # critical information infrastructure: 1 hour
    assert _due(dpo, iid, "ccpa_residents") == _end_of_day(detected, 30, "America/Los_Angeles")


def test_closing_with_its_real_time_and_a_closed_incident_s_times_are_final(dpo):
    now = datetime.now(timezone.utc)
    aware = now - timedelta(days=3)
    iid = _open(dpo, aware)
    dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "assessing"})
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "unlikely", "notify": "no", "rationale": "false alarm"})
    review = {"cause": "a monitoring rule misfired", "lessons": "tune it", "actions": []}
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "closed", "review": review, "at": iso(aware - timedelta(hours=1)), "reason": "r"})
    assert r.status_code == 400 and ("at" in r.json["errors"] or "closed_at" in r.json["errors"])
    closed = (now - timedelta(days=1)).replace(microsecond=0)
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "closed", "review": review, "at": iso(closed), "reason": "closed at the weekly meeting"})
    assert r.status_code == 200, r.json
    assert datetime.fromisoformat(r.json["closed_at"]) == closed
    assert r.json["timeline"][-1]["data"]["reason"] == "closed at the weekly meeting"
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"aware_at": iso(aware), "reason": "late correction"})
    assert r.status_code == 409 and r.json["code"] == "incident_closed"


def test_when_the_incident_began_and_ended_is_entered_afterwards_and_kept_in_order(dpo):
    now = datetime.now(timezone.utc)
    detected = (now - timedelta(days=2)).replace(microsecond=0)
    iid = _open(dpo, detected)
    began, ended = detected - timedelta(days=5), detected - timedelta(days=1)
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"occurred_from": iso(began), "occurred_to": iso(ended), "reason": "the firewall log shows the first and last request"})
    assert r.status_code == 200, r.json
    assert datetime.fromisoformat(r.json["occurred_from"]) == began and datetime.fromisoformat(r.json["occurred_to"]) == ended
    for times, field in (
        ({"occurred_to": iso(began - timedelta(hours=1))}, "occurred_to"),  # ends before it began
        ({"occurred_from": iso(detected + timedelta(hours=1))}, "detected_at"),  # began after it was detected
        ({"occurred_to": iso(now + timedelta(days=1))}, "occurred_to"),  # the future
    ):
        r = dpo.post(f"/api/v1/incidents/{iid}/times", json={**times, "reason": "r"})
        assert r.status_code == 400 and field in r.json["errors"], (times, r.json)


def test_detection_cannot_be_moved_after_a_filing_nor_a_filing_before_detection(dpo):
    now = datetime.now(timezone.utc)
    iid = _open(dpo, now - timedelta(hours=3))
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "people": {"CN": 5}, "categories": ["contact"], "texts": TEXTS})
    n = next(n for n in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if n["key"] == "pipl_authority")
    assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).status_code == 201
    r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/sent", json={"channel": "portal", "sent_at": iso(now - timedelta(hours=4))})
    assert r.status_code == 400 and "sent_at" in r.json["errors"]  # filed before anyone knew of it
    assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/sent", json={"channel": "portal", "sent_at": iso(now - timedelta(hours=2))}).status_code == 200
    r = dpo.post(f"/api/v1/incidents/{iid}/times", json={"detected_at": iso(now - timedelta(hours=1)), "aware_at": iso(now - timedelta(hours=1)), "reason": "r"})
    assert r.status_code == 400 and "detected_at" in r.json["errors"]
