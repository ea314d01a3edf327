"""Erasure is crypto-shredding: the data key is destroyed, the rows deleted, a tombstone kept, and a restore of an
older backup re-applies the erasure before anything is served."""

import uuid

from sqlalchemy import select

from govern.crypto import suites
from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.retention import shredding
from govern.subjects import erasure
from govern.subjects.models import ProfileField, Record
from tests.backups import backup, restore


def _shred(runtime, sid, reference="req-1"):
    with runtime.database.unit_of_work() as session:
        return erasure.shred(
            session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request", reference=reference,
            ledger=runtime.ledgers.tombstones,
        )


def test_a_shredded_subject_is_gone_and_answers_410(client_as, make_subject, runtime, audit_events):
    sid = make_subject()
    sales = client_as("sales_service")
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200  # its key is now cached
    _shred(runtime, sid)
    r = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert r.status_code == 410 and r.json["code"] == "subject_erased"
    with runtime.database.unit_of_work() as session:
        assert session.get(SubjectKey, sid) is None
        assert session.scalars(select(ProfileField).where(ProfileField.subject_id == sid)).all() == []
        assert session.scalars(select(Record).where(Record.subject_id == sid)).all() == []
        assert erasure.is_erased(session=session, subject_id=sid)
    [event] = audit_events(action=erasure.ErasureAction.SHRED)
    assert (event.subject_id, event.reason, event.resource) == (sid, "erasure_request", "req-1")


def test_shredding_twice_is_harmless(make_subject, runtime):
    sid = make_subject()
    assert _shred(runtime, sid).already_erased is False
    assert _shred(runtime, sid).already_erased is True


def test_a_cached_data_key_cannot_outlive_the_shredding(make_subject, runtime):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        wrapped = session.get(SubjectKey, sid).wrapped_key
    runtime.envelope.unwrap(sid, wrapped)
    _shred(runtime, sid)
    assert runtime.envelope.cache.get(wrapped) is None


def test_the_tombstone_holds_no_personal_data(make_subject, runtime):
    sid = make_subject()
    _shred(runtime, sid, reference="req-77")
    text = runtime.ledgers.tombstones.path.read_text()
    assert str(sid) in text and "req-77" in text
    assert "张三" not in text and "13812345678" not in text


def test_a_restored_backup_reapplies_erasures_before_serving(client_as, make_subject, runtime, tmp_path):
    keep, gone = make_subject(), make_subject()
    snapshot = backup(runtime, tmp_path / "before-erasure.backup")
    _shred(runtime, gone)
    restore(runtime, snapshot)  # the old database holds the erased subject again, key and all
    with runtime.database.unit_of_work() as session:
        assert session.get(SubjectKey, gone) is not None
    with runtime.database.unit_of_work() as session:
        again = shredding.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=runtime.ledgers.tombstones)
    assert again == 1
    sales = client_as("sales_service")
    assert sales.get(f"/api/v1/subjects/{gone}", purpose="order_fulfilment").status_code == 410
    assert sales.get(f"/api/v1/subjects/{keep}", purpose="order_fulfilment").status_code == 200


def test_the_tombstone_records_the_destroyed_keys_format_and_a_restore_puts_it_back(make_subject, runtime):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        key_format = session.get(SubjectKey, sid).wrapped_key[0]
    _shred(runtime, sid)
    with runtime.database.unit_of_work() as session:
        assert session.get(erasure.Tombstone, sid).key_format == key_format == suites.AES_GCM
        session.delete(session.get(erasure.Tombstone, sid))  # a restored database that lost the tombstone (the key is gone)
    with runtime.database.unit_of_work() as session:
        shredding.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=runtime.ledgers.tombstones)
    with runtime.database.unit_of_work() as session:
        assert session.get(erasure.Tombstone, sid).key_format == suites.AES_GCM  # from the ledger's line


def test_erasing_some_fields_leaves_the_rest_readable(client_as, make_subject, runtime):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        erased = erasure.erase_fields(session=session, actor=Actor.operator(), subject_id=sid, names=["address", "email", "religion"], reason="retention")
    assert erased == ["address", "email"]
    fields = client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").json["fields"]
    assert set(fields) == {"name", "mobile"}


def test_unknown_subjects_are_not_erased(runtime):
    with runtime.database.unit_of_work() as session:
        assert not erasure.is_erased(session=session, subject_id=uuid.uuid4())


def _records(runtime, sid, n, rtype="communication"):
    from datetime import datetime, timedelta, timezone

    from govern.subjects import service as subjects

    with runtime.database.unit_of_work() as session:
        for i in range(n):
            subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, type=rtype,
                                occurred_at=datetime.now(timezone.utc) - timedelta(days=i + 1), payload={"n": i})


def test_a_subject_with_more_records_than_a_batch_is_unreadable_at_once_and_swept_in_batches_after(
    client_as, make_subject, runtime, audit_events, valid_fields,
):
    from govern.subjects.models import Subject

    sid = make_subject(external_ref="crm-42")
    _records(runtime, sid, 7)
    with runtime.database.unit_of_work() as session:
        result = erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request",
                               reference="req-9", inline_records=3)
    assert (result.records_deleted, result.rows_pending) == (None, True)
    # Committed: the key and the blind-indexed fields are gone, the records are ciphertext nobody can open.
    with runtime.database.unit_of_work() as session:
        assert session.get(SubjectKey, sid) is None and erasure.is_erased(session=session, subject_id=sid)
        assert session.scalars(select(ProfileField).where(ProfileField.subject_id == sid)).all() == []
        row = session.get(Subject, sid)
        assert (row.status, row.external_ref) == ("erased", None)  # the CRM's reference is free again
        assert erasure.pending_records(session=session) == 7
    sales = client_as("sales_service")
    for url in (f"/api/v1/subjects/{sid}", f"/api/v1/subjects/{sid}/records"):
        r = sales.get(url, purpose="order_fulfilment")
        assert (r.status_code, r.json["code"]) == (410, "subject_erased"), url
    assert sales.post("/api/v1/subjects/lookup", json={"field": "email", "value": valid_fields["email"]}, purpose="order_fulfilment").status_code == 404
    assert _shred(runtime, sid).already_erased is True
    with runtime.database.unit_of_work() as session:  # a restore-time re-application sees nothing resurrected
        assert shredding.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), ledger=runtime.ledgers.tombstones) == 0

    swept = erasure.sweep(database=runtime.database, actor=Actor.operator(), batch_size=3)
    assert (swept.subjects, swept.records) == (1, 7)
    with runtime.database.unit_of_work() as session:
        assert session.get(Subject, sid) is None and erasure.pending_records(session=session) == 0
        assert session.scalars(select(Record).where(Record.subject_id == sid)).all() == []
        assert erasure.is_erased(session=session, subject_id=sid)
    batches = audit_events(action=erasure.ErasureAction.RECORDS_ERASE, subject_id=sid)
    assert [(e.reason, e.resource, e.field_names) for e in batches] == [("erasure_request", "req-9", "record:communication")] * 3
    assert erasure.sweep(database=runtime.database, actor=Actor.operator()).records == 0  # nothing left: a second run is a no-op
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 410


def test_the_sweep_command_reports_what_it_deleted(make_subject, runtime):
    import json
    import os
    import subprocess
    import sys

    from govern.config import PROJECT_ROOT

    sid = make_subject()
    _records(runtime, sid, 4)
    with runtime.database.unit_of_work() as session:
        erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request", inline_records=1)
    env = {**os.environ, "GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url,
           "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "govern.cli", "requests", "sweep-erasures", "--batch-size", "3", "--json"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["subjects"], report["records"]) == (1, 4)
    assert "deleted 4/4 records" in done.stderr  # the progress line an operator sees


def test_two_sweeps_at_once_share_the_work_and_delete_each_row_once(make_subject, runtime):
    from concurrent.futures import ThreadPoolExecutor

    sids = [make_subject() for _ in range(3)]
    for sid in sids:
        _records(runtime, sid, 5)
        with runtime.database.unit_of_work() as session:
            erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request", inline_records=1)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: erasure.sweep(database=runtime.database, actor=Actor.operator(), batch_size=2), range(2)))
    assert sum(r.records for r in results) == 15 and sum(r.subjects for r in results) == 3
    with runtime.database.unit_of_work() as session:
        assert erasure.pending_records(session=session) == 0
