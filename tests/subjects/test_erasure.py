"""Erasure is crypto-shredding: the data key is destroyed, the rows deleted, a tombstone kept, and a restore of an
older backup re-applies the erasure before anything is served."""

import uuid

from sqlalchemy import select

from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.subjects import erasure
from govern.subjects.models import ProfileField, Record
from tests.backups import backup, restore


def _shred(runtime, sid, reference="req-1"):
    with runtime.database.unit_of_work() as session:
        return erasure.shred(
            session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="erasure_request", reference=reference,
            tombstone_file=erasure.tombstone_log(runtime.settings.home),
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
    text = erasure.tombstone_log(runtime.settings.home).read_text()
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
        again = erasure.reapply(session=session, envelope=runtime.envelope, actor=Actor.operator(), tombstone_file=erasure.tombstone_log(runtime.settings.home))
    assert again == 1
    sales = client_as("sales_service")
    assert sales.get(f"/api/v1/subjects/{gone}", purpose="order_fulfilment").status_code == 410
    assert sales.get(f"/api/v1/subjects/{keep}", purpose="order_fulfilment").status_code == 200


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
