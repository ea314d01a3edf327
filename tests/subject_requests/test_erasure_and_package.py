"""Erasure keeps what the law obliges the company to keep (restricted to storage and that purpose) and destroys the
rest by crypto-shredding, in the database, in a restored older backup and in the export; the access package holds
every field and record of the subject, its consent history and disclosures, and nothing of anyone else."""

import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from govern.identity.actor import Actor
from govern.subject_requests import flows
from govern.subjects import facts as subject_facts
from govern.subjects import service as subjects
from govern.subjects.models import ProfileField, Record
from tests.backups import backup, restore
from tests.subject_requests.conftest import CRM

NOW = datetime.now(timezone.utc)


def _records(runtime, sid, specs):
    ids = {}
    with runtime.database.unit_of_work() as session:
        for name, rtype, age_days in specs:
            r = subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type=rtype,
                                    occurred_at=NOW - timedelta(days=age_days), payload={"label": name, "amount": age_days})
            ids[name] = r.id
    return ids


def _complete(act, rid, runtime):

    return act(flows.complete, request_id=rid, ledgers=runtime.ledgers)


def _unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_erasure_keeps_legally_retained_records_restricted_and_destroys_the_rest(
    client_as, make_subject, file_request, act, verify_by_session, runtime, tmp_path, valid_fields,
):
    sid = make_subject()
    ids = _records(runtime, sid, [("invoice", "purchase", 200), ("old-invoice", "purchase", 4 * 366), ("chat", "communication", 10)])
    snapshot = backup(runtime, tmp_path / "before.backup")
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    done = _complete(act, rid, runtime)
    cert = done.response["certificate"]
    assert cert["subject_status"] == "restricted" and sorted(cert["destroyed"]["fields"]) == sorted(valid_fields)
    assert cert["destroyed"]["records"] == {"communication": 1, "purchase": 1}
    [kept] = cert["kept"]
    assert kept["what"] == "record:purchase" and kept["count"] == 1 and "E-Commerce Law" in kept["legal_basis"] and kept["until"]

    def check_erased():
        with runtime.database.unit_of_work() as session:
            assert session.scalars(select(ProfileField).where(ProfileField.subject_id == sid)).all() == []
            assert set(session.scalars(select(Record.id).where(Record.subject_id == sid))) == {ids["invoice"]}
        sales, dpo = client_as("sales_service"), client_as("dpo")
        assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["reason"] == "subject_restricted"
        r = dpo.get(f"/api/v1/subjects/{sid}/records", purpose="legal_compliance")
        assert [x["payload"]["label"] for x in r.json["records"]] == ["invoice"]  # readable, only for its purpose
        lookup = client_as("sales_service").post("/api/v1/subjects/lookup", json={"field": "email", "value": valid_fields["email"]}, purpose="order_fulfilment")
        assert lookup.status_code == 404

    check_erased()
    assert client_as("privacy_staff").get(f"/api/v1/requests/{rid}/certificate").json["sha256"] == done.response["certificate_sha256"]
    # A backup taken before the erasure, once restored, holds it all again until the erasure is re-applied.
    restore(runtime, snapshot)
    with runtime.database.unit_of_work() as session:
        again = flows.reapply_erasures(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=runtime.ledgers.request_erasures)
    assert again == 1
    check_erased()
    # And the export: an access package of the subject now holds only what is kept.
    access = file_request(sid, "access")
    verify_by_session(access)
    files = _unzip(act(flows.package, request_id=access).content)
    data = json.loads(files["data.json"])
    assert data["fields"] == [] and [r["payload"]["label"] for r in data["records"]] == ["invoice"]


def test_a_legal_hold_keeps_its_records_through_an_erasure(client_as, make_subject, file_request, act, verify_by_session, runtime):
    from govern.retention import service as retention

    sid = make_subject()
    ids = _records(runtime, sid, [("ticket", "service_ticket", 20), ("chat", "communication", 10)])
    with runtime.database.unit_of_work() as session:
        retention.place_hold(session=session, policy=runtime.policy, actor=Actor.operator(), subject_id=sid, reason="litigation", record_type="service_ticket")
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    cert = _complete(act, rid, runtime).response["certificate"]
    assert [(k["what"], k["reason"]) for k in cert["kept"]] == [("record:service_ticket", "legal_hold:litigation")]
    with runtime.database.unit_of_work() as session:
        assert set(session.scalars(select(Record.id).where(Record.subject_id == sid))) == {ids["ticket"]}


def test_an_erasure_with_nothing_to_keep_shreds_the_subject_and_leaves_a_tombstone(client_as, make_subject, file_request, act, verify_by_session, runtime, audit_events):
    sid = make_subject()
    _records(runtime, sid, [("chat", "communication", 10)])
    rid = file_request(sid, "account_closure")
    verify_by_session(rid)
    done = _complete(act, rid, runtime)
    assert done.response["certificate"]["subject_status"] == "erased" and done.response["certificate"]["tombstone"]
    assert client_as("dpo").get(f"/api/v1/subjects/{sid}", purpose="legal_compliance").status_code == 410
    digest = done.response["certificate_sha256"]
    assert any(digest in (e.resource or "") for e in audit_events(action="requests:certificate:read"))
    # The request log outlives the subject.
    assert client_as("privacy_staff").get(f"/api/v1/requests/{rid}").json["state"] == "completed"


def test_account_closure_with_kept_records_records_when_the_account_closed(make_subject, file_request, act, verify_by_session, runtime):
    sid = make_subject()
    _records(runtime, sid, [("invoice", "purchase", 30)])
    rid = file_request(sid, "account_closure")
    verify_by_session(rid)
    _complete(act, rid, runtime)
    with runtime.database.unit_of_work() as session:
        subject = subject_facts.get_or_raise(session=session, subject_id=sid)
        assert subject.status == "restricted" and subject.closed_at is not None


def test_the_access_package_holds_every_field_record_consent_event_and_disclosure_and_nothing_else(
    client_as, make_subject, file_request, act, verify_by_session, runtime, valid_fields, audit_events,
):
    from govern.consent import service as consent
    from govern.sharing import service as sharing

    sid, other = make_subject(), make_subject(fields={**valid_fields, "name": "李四", "email": "li.si@example.cn"})
    ids = _records(runtime, sid, [(f"order-{i}", "purchase", 10 + i) for i in range(3)] + [("ticket", "service_ticket", 5)])
    _records(runtime, other, [("not-mine", "purchase", 3)])
    with runtime.database.unit_of_work() as session:
        consent.record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, action="grant",
                       purposes=["marketing"], channel="web", notice_version="2026-06", evidence="form-7")
        recipient = sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "顺丰速运", "contact": "dpo@sf.example", "purpose": "order_fulfilment", "categories": ["basic_identity", "contact"], "country": "CN",
            "agreement_ref": "DSA-2026-01", "agreement_expires_on": date(2099, 1, 1)})
        sharing.disclose(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, recipient_id=recipient.id,
                         fields=["name", "address"], purpose="order_fulfilment")
    rid = file_request(sid, "access")
    verify_by_session(rid)
    r = client_as("privacy_staff").get(f"/api/v1/requests/{rid}/package")  # staff, with their own credential
    assert r.status_code == 200 and r.mimetype == "application/zip"
    files = _unzip(r.data)
    assert {"data.json", "fields.csv", "records.csv", "consent_events.csv", "disclosures.csv", "summary.zh.txt", "manifest.json"} <= set(files)
    data = json.loads(files["data.json"])
    assert {f["name"]: f["value"] for f in data["fields"]} == valid_fields
    assert {r["id"] for r in data["records"]} == {str(i) for i in ids.values()}
    assert [(e["purpose"], e["action"]) for e in data["consent"]["events"]] == [("marketing", "grant")]
    assert [(d["recipient"]["name"], d["fields"]) for d in data["disclosures"]] == [("顺丰速运", ["address", "name"])]
    assert {p["purpose"] for p in data["processing"]} >= {"order_fulfilment", "marketing"} and data["retention"]
    blob = b"".join(files.values()).decode("utf-8")
    assert "李四" not in blob and "li.si@example.cn" not in blob and "not-mine" not in blob
    assert valid_fields["address"] in files["fields.csv"].decode("utf-8-sig")
    assert "营销推广" in files["summary.zh.txt"].decode() and "顺丰速运" in files["summary.zh.txt"].decode()
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json"} and manifest["digest_algorithm"] == "SHA-256"  # the suite in force
    assert all(manifest["files"][n] == hashlib.sha256(files[n]).hexdigest() for n in manifest["files"])
    [event] = audit_events(action="requests:package:create")
    # keyed (no guess of the content can be tried on the log), the download's header is the SHA-256 of the bytes themselves
    assert event.resource.endswith(runtime.envelope.keyed_digest("request-package", str(rid), r.data))
    [export] = audit_events(action="subjects:profile:export")
    assert export.purpose == "legal_compliance" and "email" in export.field_names


def test_portability_is_machine_readable_json(client_as, make_subject, file_request, verify_by_session, runtime, valid_fields):
    sid = make_subject()
    _records(runtime, sid, [("order", "purchase", 3)])
    rid = file_request(sid, "portability")
    verify_by_session(rid)
    files = _unzip(client_as("dpo").get(f"/api/v1/requests/{rid}/package").data)
    data = json.loads(files["data.json"])
    assert data["format"] == "govern-portability/1" and data["fields"] == valid_fields and data["records"][0]["payload"]["label"] == "order"


def test_an_erasure_of_a_large_subject_is_certified_at_once_and_its_rows_swept_after(make_subject, file_request, act, verify_by_session, runtime, monkeypatch):
    from govern.subjects import erasure

    monkeypatch.setattr(erasure, "INLINE_RECORDS", 2)  # "more records than one batch", at test size
    sid = make_subject()
    # An invoice older than the 3 years the E-Commerce Law keeps it: nothing is kept, the whole subject is shredded.
    _records(runtime, sid, [("chat-1", "communication", 3), ("chat-2", "communication", 2), ("old-invoice", "purchase", 4 * 366)])
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    cert = _complete(act, rid, runtime).response["certificate"]
    assert (cert["subject_status"], cert["kept"], cert["tombstone"]) == ("erased", [], True)
    # The rows are not counted before the key goes (that would make unreadability wait on their number).
    assert cert["destroyed"]["records"] == {"communication": None, "purchase": None}
    assert "deleted in batches after this certificate" in cert["method"] and f"request:{rid}" in cert["method"]
    # The same facts as data, for the certificate in Chinese (console/certificate_pdf.py).
    assert cert["rows_deleted_after"] == {"more_than": 2, "audited_as": "subjects:record:erase", "reference": f"request:{rid}"}
    swept = erasure.sweep(database=runtime.database, actor=Actor.operator())
    assert swept.records == 3
    with runtime.database.unit_of_work() as session:
        assert session.scalars(select(Record.id).where(Record.subject_id == sid)).all() == []


def test_a_small_erasure_with_only_expired_records_to_keep_deletes_everything_in_its_own_transaction(make_subject, file_request, act, verify_by_session, runtime):
    sid = make_subject()
    _records(runtime, sid, [("chat", "communication", 3), ("old-invoice", "purchase", 4 * 366)])
    rid = file_request(sid, "account_closure")
    verify_by_session(rid)
    cert = _complete(act, rid, runtime).response["certificate"]
    assert cert["destroyed"]["records"] == {"communication": 1, "purchase": 1} and cert["subject_status"] == "erased"
    assert "after this certificate" not in cert["method"]
    with runtime.database.unit_of_work() as session:
        assert session.scalars(select(Record.id).where(Record.subject_id == sid)).all() == []


def test_an_erasure_that_finds_the_subject_erased_certifies_when_and_why_it_was(make_subject, file_request, act, verify_by_session, runtime):
    """A purge shredded the subject between the request's verification and its completion: the certificate says when
    and why, in its English method and as data a certificate in Chinese words again."""
    from govern.subjects import erasure

    sid = make_subject()
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    with runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="retention_purge")
        erased_at = session.get(erasure.Tombstone, sid).erased_at
    cert = _complete(act, rid, runtime).response["certificate"]
    assert (cert["subject_status"], cert["destroyed"], cert["kept"]) == ("erased", {"fields": [], "records": {}}, [])
    assert datetime.fromisoformat(cert["already_erased"]["erased_at"]) == erased_at.replace(tzinfo=erased_at.tzinfo or timezone.utc)
    assert cert["already_erased"]["reason"] == "retention_purge" and "had already been destroyed" in cert["method"]
