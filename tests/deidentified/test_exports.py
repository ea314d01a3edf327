"""De-identified exports (PIPL Art. 73(3)-(4), GDPR Art. 4(5), Recital 26): a pseudonymised export carries keyed
pseudonyms, never ids or direct identifiers, and stays inside rights handling (an erased subject is gone from later
exports); an anonymised aggregate suppresses every cell below the minimum group size. Both are audited with their
purpose, and the export key lives in its own file, rotate-able."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from govern.cli import main
from govern.deidentified import keys
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.subjects import erasure


@pytest.fixture
def export_keys(runtime):
    return keys.load(keys.path_in(runtime.settings.home))  # made by `govern init` (the suite's runtime is initialised)


@pytest.fixture
def dpo(client_as):
    return client_as("dpo")


def _purchase(client, sid, **payload):
    r = client.post(f"/api/v1/subjects/{sid}/records", json={
        "type": "purchase", "occurred_at": datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc).isoformat(), "payload": payload,
    })
    assert r.status_code == 201, r.json


def _grant_marketing(client, sid):
    r = client.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "marketing", "notice_version": "2026-06", "channel": "app", "evidence": "form-9"})
    assert r.status_code == 201, r.json


def test_a_pseudonymised_export_carries_keyed_pseudonyms_and_no_identifier_and_leaves_out_an_erased_subject(
    export_keys, dpo, client_as, make_subject, runtime, audit_events,
):
    crm = client_as("sales_service")
    kept, erased = make_subject(), make_subject(fields={"name": "李四", "mobile": "13912345678", "gender": "female"})
    for sid in (kept, erased):
        _purchase(crm, sid, amount=42, currency="CNY", sku="A-1", note="call 张三 about the delivery")

    r = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance"})
    assert r.status_code == 200, r.json
    doc = r.json
    assert (doc["format"], doc["kind"], doc["personal_data"], doc["key_version"]) == ("govern-pseudonymised/1", "pseudonymised", True, export_keys.active)
    rows = {row["pseudonym"]: row for row in doc["subjects"]}
    assert set(rows) == {export_keys.pseudonym(kept), export_keys.pseudonym(erased)}
    assert rows[export_keys.pseudonym(erased)]["fields"] == {"gender": "female"}  # the name and mobile are left out
    [purchase] = rows[export_keys.pseudonym(kept)]["records"]
    assert purchase == {"type": "purchase", "occurred_on": "2026-03-14", "data": {"amount": 42, "currency": "CNY", "sku": "A-1"}}
    body = r.get_data(as_text=True)
    for leak in (str(kept), str(erased), "李四", "13912345678", "张三", "note", "15:09"):
        assert leak not in body
    [event] = audit_events(action="deidentified:pseudonymised:export")
    assert event.purpose == "legal_compliance" and event.resource.startswith(f"deidentified-export:{doc['export_id']}/key:v{export_keys.active}")
    # Each subject's read is in the log too, under the export's reference (the subject's own history shows it).
    assert {e.subject_id for e in audit_events(action="subjects:profile:export")} == {kept, erased}

    with runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=erased, reason="erasure_request", reference="test")
    later = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance"}).json
    assert [row["pseudonym"] for row in later["subjects"]] == [export_keys.pseudonym(kept)]


def test_an_export_is_refused_without_its_permission_purpose_or_key(export_keys, dpo, client_as, monkeypatch):
    marketing = client_as("marketing_service")
    assert marketing.post("/api/v1/deidentified/pseudonymised", json={"purpose": "marketing"}).status_code == 403  # aggregates only
    refused = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "marketing"})  # not a purpose of the dpo's role
    assert refused.status_code == 403 and refused.json["reason"] == "purpose_not_permitted"
    bad = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance", "fields": ["mobile"]})
    assert bad.status_code == 400 and "fields" in bad.json["errors"]
    monkeypatch.setattr(keys, "FILE_NAME", "no-such-export-keys.json")
    missing = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance"})
    assert missing.status_code == 503 and missing.json["code"] == "export_key_missing"


def test_rotating_the_export_key_gives_every_subject_a_new_pseudonym(export_keys, dpo, make_subject, settings):
    sid = make_subject()
    before = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance"}).json
    env = {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir)}
    runner = CliRunner()
    assert runner.invoke(main, ["deidentified", "key", "create"], env=env).exit_code == 1  # never replaced silently
    rotated = runner.invoke(main, ["deidentified", "key", "rotate", "--json"], env=env)
    assert rotated.exit_code == 0, rotated.output
    shown = json.loads(rotated.stdout)
    assert shown["active"] == export_keys.active + 1 and "key" not in json.dumps(shown["versions"])
    after = dpo.post("/api/v1/deidentified/pseudonymised", json={"purpose": "legal_compliance"}).json
    assert after["key_version"] == before["key_version"] + 1
    [old], [new] = [r["pseudonym"] for r in before["subjects"]], [r["pseudonym"] for r in after["subjects"]]
    assert old != new and new == keys.load(keys.path_in(settings.home)).pseudonym(sid)


def test_an_aggregate_counts_only_subjects_the_purpose_may_use_and_suppresses_small_cells(client_as, make_subject, runtime, monkeypatch, audit_events):
    small = replace(runtime.policy.deidentified, min_group_size=3)
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, deidentified=small))
    crm, marketing = client_as("sales_service"), client_as("marketing_service")
    for _ in range(3):
        sid = make_subject(fields={"name": "王五"})
        _grant_marketing(crm, sid)
        _purchase(crm, sid, amount=1)
    for _ in range(2):  # no marketing consent: not counted at all
        _purchase(crm, make_subject(fields={"name": "赵六"}), amount=1)
    for _ in range(2):  # consented, but too few to publish
        sid = make_subject(fields={"name": "Eve"}, jurisdiction="EU", member_state="DE")
        _grant_marketing(crm, sid)

    r = marketing.post("/api/v1/deidentified/aggregate", json={"purpose": "marketing", "dimensions": ["jurisdiction"]})
    assert r.status_code == 200, r.json
    doc = r.json
    assert (doc["kind"], doc["personal_data"], doc["min_group_size"]) == ("anonymised_aggregate", False, 3)
    assert doc["cells"] == [{"dimensions": {"jurisdiction": "CN"}, "subjects": 3}] and doc["suppressed_cells"] == 1
    by_month = marketing.post("/api/v1/deidentified/aggregate", json={"purpose": "marketing", "dimensions": ["record_type", "month"]}).json
    assert by_month["cells"] == [{"dimensions": {"record_type": "purchase", "month": "2026-03"}, "subjects": 3, "records": 3}]
    [first, _] = audit_events(action="deidentified:aggregate:export")
    assert first.purpose == "marketing" and "/by:jurisdiction/k:3/cells:1" in first.resource
    bad = marketing.post("/api/v1/deidentified/aggregate", json={"purpose": "marketing", "dimensions": ["mobile"]})
    assert bad.status_code == 400
    assert client_as("support_service").post("/api/v1/deidentified/aggregate", json={"purpose": "marketing", "dimensions": ["jurisdiction"]}).status_code == 403


def test_the_policy_refuses_a_direct_identifier_in_a_pseudonymised_export(tmp_path, settings):
    import shutil

    shutil.copytree(settings.policies_dir, tmp_path / "policies")
    target = tmp_path / "policies" / "deidentified.yaml"
    target.write_text(target.read_text().replace("fields: [gender]", "fields: [gender, mobile]"))
    with pytest.raises(PolicyError, match="mobile"):
        load_policy(tmp_path / "policies")
