"""An auditor searches (audited), downloads an export that verifies offline, and fetches checkpoints and proofs."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import pytest

from govern.audit import verifier as verify
from govern.audit.tags import SubjectAction


@pytest.fixture
def auditor(client_as, app, audit_settings, monkeypatch):
    # The app's runtime signs with this test's key and reads this test's checkpoint folder.
    rt = app.extensions["govern"]
    monkeypatch.setattr(rt, "settings", dataclasses.replace(rt.settings, audit_signing_key_file=audit_settings.audit_signing_key_file, checkpoint_dir=audit_settings.checkpoint_dir))
    return client_as("auditor")


def test_an_auditor_searches_by_filters_with_a_cursor_and_the_search_is_audited(auditor, record_events, audit_events):
    record_events(5)
    record_events(2, action=SubjectAction.UPDATE)
    page = auditor.get("/api/v1/audit/events?action=subjects:profile:read&limit=3")
    assert page.status_code == 200, page.json
    assert [e["event"]["action"] for e in page.json["events"]] == ["subjects:profile:read"] * 3
    rest = auditor.get(f"/api/v1/audit/events?action=subjects:profile:read&limit=3&cursor={page.json['next_cursor']}")
    assert len(rest.json["events"]) == 2 and rest.json["next_cursor"] is None
    ids = [e["id"] for e in page.json["events"] + rest.json["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    prefix = auditor.get("/api/v1/audit/events?action=subjects:*&purpose=customer_service&outcome=allowed&actor=crm-sales")
    assert len(prefix.json["events"]) == 7
    searches = audit_events(action="audit:event:search")
    assert len(searches) == 3
    assert searches[-1].field_names == "action,actor,outcome,purpose"  # names of the filters, never values
    assert searches[-1].actor_name == auditor.name


def test_search_filters_by_subject_request_and_time(auditor, record_events):
    import uuid

    from govern.timeutil import utcnow

    start = utcnow()
    record_events(3)
    by_subject = auditor.get(f"/api/v1/audit/events?subject={uuid.UUID(int=2)}")
    assert [e["event"]["subject"] for e in by_subject.json["events"]] == [str(uuid.UUID(int=2))]
    by_request = auditor.get("/api/v1/audit/events?request_id=req-1")
    assert len(by_request.json["events"]) == 3
    later = auditor.get("/api/v1/audit/events", query_string={"from": utcnow().isoformat(), "action": "subjects:*"})
    assert later.json["events"] == []
    window = auditor.get("/api/v1/audit/events", query_string={"from": start.isoformat(), "to": utcnow().isoformat(), "action": "subjects:*"})
    assert len(window.json["events"]) == 3


def test_a_bad_cursor_is_a_400(auditor):
    assert auditor.get("/api/v1/audit/events?cursor=nonsense").status_code == 400


def test_a_role_without_audit_read_is_refused(client_as):
    assert client_as("sales_service").get("/api/v1/audit/events").status_code == 403


def test_an_exported_download_verifies_offline(auditor, record_events, checkpoint, audit_settings, tmp_path, audit_events):
    record_events(6)
    checkpoint()
    response = auditor.get("/api/v1/audit/export?format=ocsf")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    zipfile.ZipFile(io.BytesIO(response.data)).extractall(tmp_path)
    response.close()
    out = tmp_path / "audit-export"
    assert {p.name for p in out.iterdir()} == {"events.jsonl", "manifest.json", "events.ocsf.jsonl"}
    report = verify.verify_export(out, [audit_settings.audit_checkpoint_dir])
    assert report.ok, report.render()
    assert report.events >= 6 and report.checkpoints_verified == 1
    assert len(audit_events(action="audit:export:create")) == 1


def test_checkpoints_and_an_inclusion_proof(auditor, record_events, checkpoint):
    record_events(4)
    checkpoint()
    cps = auditor.get("/api/v1/audit/checkpoints")
    assert cps.status_code == 200
    assert [c["body"]["tree_size"] for c in cps.json["checkpoints"]] == [5]  # 4 + the auditor's own creation
    assert cps.json["keys"][0]["key_id"] == cps.json["checkpoints"][0]["body"]["key_id"]
    proof = auditor.get("/api/v1/audit/proofs/3")
    assert proof.status_code == 200, proof.json
    assert verify.verify_proof(proof.json, None).ok
    assert auditor.get("/api/v1/audit/proofs/99").status_code == 404
