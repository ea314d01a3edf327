"""The console's compliance page: the handler's duties with their status and next due date, recording one as done
(the same record as the API, audited), and the signed compliance audit pack as a download."""

import io
import json
import zipfile
from datetime import date, timedelta

from govern.timeutil import utcnow


def test_the_dpo_records_a_drill_and_its_next_due_date_follows(console_as, audit_events):
    c = console_as("dpo")
    page = c.get("/console/compliance")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for duty in ("protection_officer", "compliance_audit", "log_retention", "incident_drill", "access_review", "privacy_notice_review"):
        assert f'id="duty-{duty}"' in body, duty
    r = c.post("/console/compliance/duties/incident_drill/done", {"done_on": "2026-11-20", "reference": "DRILL-2026-2"})
    assert r.status_code == 302
    after = c.get(r.headers["Location"]).get_data(as_text=True)
    row = after[after.index('id="duty-incident_drill"'):]
    row = row[: row.index("</tr>")]
    assert "2026-11-20" in row and "2027-11-20" in row and "DRILL-2026-2" in row
    assert [e.actor_name for e in audit_events(action="processing:duty:done")] == [c.name]


def test_a_bad_date_is_shown_and_nothing_is_recorded(console_as, row_counts):
    c = console_as("privacy_staff")
    r = c.post("/console/compliance/duties/access_review/done", {"done_on": "2999-01-01"})
    assert r.status_code == 400 and 'id="action-error"' in r.get_data(as_text=True)
    assert c.post("/console/compliance/duties/access_review/done", {"done_on": "not a date"}).status_code == 400
    assert row_counts()["compliance_duty_events"] == 0


def test_the_auditor_reads_the_duties_but_cannot_record_one(console_as):
    c = console_as("auditor")
    body = c.get("/console/compliance").get_data(as_text=True)
    assert 'id="duty-incident_drill"' in body and 'id="record-incident_drill"' not in body
    assert c.post("/console/compliance/duties/incident_drill/done", {"done_on": "2026-11-20"}).status_code == 403


def test_the_auditor_downloads_a_signed_pack(console_as, audit_events):
    c = console_as("auditor")
    today = utcnow().date()
    r = c.get(f"/console/compliance/pack?from={(today - timedelta(days=30)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    data = r.data
    r.close()  # the download is spooled to a temporary file, closed with the response
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert {"summary.zh.md", "summary.en.md", "audit-export/manifest.json", "verifier/verify.py"} <= names
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"} and manifest["signature"]
    assert [e.actor_name for e in audit_events(action="processing:pack:create")] == [c.name]
    assert c.get(f"/console/compliance/pack?from={date.today().isoformat()}&to=2000-01-01").status_code == 400
