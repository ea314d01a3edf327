"""A drill (应急演练) runs the whole procedure but is never counted as an incident, never sends and never disables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.breach.conftest import TEXTS, iso


def test_a_drill_is_never_counted_as_a_real_incident(client_as, dpo, make_subject, runtime):
    crm = client_as("sales_service")
    sid = make_subject()
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    aware = datetime.now(timezone.utc) - timedelta(days=5)  # every clock of it is long overdue
    r = dpo.post("/api/v1/incidents", json={"title": "Quarterly drill", "detected_at": iso(aware), "drill": True, "source": {"principals": [crm.name], "from": iso(start)}})
    assert r.status_code == 201 and r.json["drill"] and r.json["reference"].startswith("DRILL-")
    iid = r.json["id"]
    dpo.post(f"/api/v1/incidents/{iid}/scope", json={})
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"people": {"EU": 10}, "risk": "high", "notify": "yes", "rationale": "drill scenario", "texts": TEXTS})
    assert dpo.get(f"/api/v1/incidents/{iid}").json["overdue"]  # the drill shows its own clocks…

    board = dpo.get("/api/v1/incidents").json
    assert board["figures"]["incidents"] == 0 and board["figures"]["drills"] == 1 and board["figures"]["overdue_notifications"] == 0
    assert dpo.get("/api/v1/incidents/clocks").json["clocks"] == []  # …but not among the real ones
    assert dpo.get("/api/v1/incidents/register").json["register"] == []
    assert len(dpo.get("/api/v1/incidents/register?drills=true").json["register"]) == 1
    assert dpo.get("/api/v1/incidents?drills=false").json["incidents"] == []
    metrics = dpo.get("/metrics").text
    assert "govern_breach_notifications_overdue 0.0" in metrics and "govern_breach_incidents_open 0.0" in metrics

    # Containment is simulated: the principal keeps working.
    r = dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "disable_principal", "principal": crm.name})
    assert r.status_code == 201 and r.json["simulated"] and not r.json["executed"]
    assert crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200

    # Letters are stamped as a drill, and their "sending" is recorded as simulated.
    n = next(x for x in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if x["key"] == "pipl_subjects")
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).json
    [row] = dpo.get(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters").json["letters"]
    assert "应急演练" in dpo.get(f"/api/v1/incidents/{iid}/letters/{row['id']}").text and made["letters"] == 1
    dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/sent", json={"channel": "email"})
    sent = [e for e in dpo.get(f"/api/v1/incidents/{iid}").json["timeline"] if e["kind"] == "sent"]
    assert sent[0]["data"]["simulated"] is True
    report = dpo.get(f"/api/v1/incidents/{iid}/report?lang=en").text
    assert "DRILL" in report


def test_a_real_overdue_incident_shows_in_the_metric(dpo):
    aware = datetime.now(timezone.utc) - timedelta(days=5)
    iid = dpo.post("/api/v1/incidents", json={"title": "Real one", "detected_at": iso(aware)}).json["id"]
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"people": {"EU": 3}, "risk": "risk", "notify": "yes", "rationale": "r"})
    metrics = dpo.get("/metrics").text
    assert "govern_breach_notifications_overdue 1.0" in metrics and "govern_breach_incidents_open 1.0" in metrics
    board = dpo.get("/api/v1/incidents").json
    assert board["figures"]["overdue_notifications"] == 1 and board["incidents"][0]["overdue"] == 1
