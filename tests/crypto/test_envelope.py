"""Each ciphertext is bound to its subject and slot: moved to another row or subject, it fails loudly."""

import uuid

import pytest
from sqlalchemy import select

from govern.crypto.envelope import CiphertextRejected
from govern.crypto.models import SubjectKey
from govern.subjects.models import ProfileField


def _field(session, sid, name):
    return session.get(ProfileField, (sid, name))


def test_a_field_ciphertext_moved_to_another_field_of_the_same_subject_fails(client_as, make_subject, runtime, capsys):
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        _field(session, sid, "email").ciphertext = _field(session, sid, "mobile").ciphertext
    r = client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert r.status_code == 500
    assert r.json["code"] == "ciphertext_rejected"
    assert f"field:email of subject {sid}" in r.json["detail"]
    assert "13812345678" not in r.get_data(as_text=True) + capsys.readouterr().out


def test_a_ciphertext_swapped_between_subjects_fails(client_as, make_subject, runtime, valid_fields):
    a = make_subject()
    b = make_subject({**valid_fields, "mobile": "13999999999"})
    with runtime.database.unit_of_work() as session:
        _field(session, b, "mobile").ciphertext = _field(session, a, "mobile").ciphertext
    r = client_as("sales_service").get(f"/api/v1/subjects/{b}", purpose="order_fulfilment")
    assert r.status_code == 500 and r.json["code"] == "ciphertext_rejected"


def test_a_wrapped_data_key_swapped_between_subjects_fails(make_subject, runtime):
    a, b = make_subject(), make_subject()
    with runtime.database.unit_of_work() as session:
        session.get(SubjectKey, b).wrapped_key = session.get(SubjectKey, a).wrapped_key
    runtime.envelope.cache.clear()
    with runtime.database.unit_of_work() as session:
        wrapped = session.get(SubjectKey, b).wrapped_key
    with pytest.raises(CiphertextRejected, match=f"data key of subject {b}"):
        runtime.envelope.unwrap(b, wrapped)


def test_a_flipped_bit_fails(runtime):
    sid = uuid.uuid4()
    dek, _, _ = runtime.envelope.new_data_key(sid)
    blob = bytearray(runtime.envelope.seal(dek, sid, "field:name", "张三".encode()))
    blob[-1] ^= 1
    with pytest.raises(CiphertextRejected):
        runtime.envelope.open(dek, sid, "field:name", bytes(blob))


def test_each_encryption_uses_a_fresh_nonce_and_carries_format_and_key_version(runtime):
    sid = uuid.uuid4()
    dek, wrapped, version = runtime.envelope.new_data_key(sid)
    one = runtime.envelope.seal(dek, sid, "field:name", b"same")
    two = runtime.envelope.seal(dek, sid, "field:name", b"same")
    assert one != two
    assert one[0] == 1 and wrapped[0] == 1
    assert int.from_bytes(wrapped[1:5], "big") == version == runtime.keyring.active_version


def test_values_at_rest_are_not_plaintext(make_subject, runtime):
    make_subject()
    with runtime.database.unit_of_work() as session:
        blobs = list(session.scalars(select(ProfileField.ciphertext)))
    assert blobs and all(b"13812345678" not in blob and "张三".encode() not in blob for blob in blobs)
