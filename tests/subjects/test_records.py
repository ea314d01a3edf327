"""Typed records of a subject: added with encrypted payloads, checked before anything is written. (Listing them is a
purpose-bound read: tests/access/test_reads_records.py.)"""

from datetime import datetime, timedelta, timezone


def _add(client, sid, type_, when, payload):
    return client.post(f"/api/v1/subjects/{sid}/records", json={"type": type_, "occurred_at": when.isoformat(), "payload": payload})


def test_record_payloads_are_stored_encrypted(client_as, make_subject, runtime):
    from sqlalchemy import select

    from govern.subjects.models import Record

    sid = make_subject()
    _add(client_as("sales_service"), sid, "purchase", datetime.now(timezone.utc), {"note": "送货到家门口"})
    with runtime.database.unit_of_work() as session:
        blob = session.scalar(select(Record.ciphertext))
    assert "送货".encode() not in blob and b"note" not in blob


def test_bad_records_are_refused(client_as, make_subject, row_counts):
    sid = make_subject()
    sales = client_as("sales_service")
    before = row_counts()
    assert _add(sales, sid, "horoscope", datetime.now(timezone.utc), {}).status_code == 400
    assert _add(sales, sid, "purchase", datetime.now(timezone.utc) + timedelta(days=2), {}).status_code == 400
    naive = sales.post(f"/api/v1/subjects/{sid}/records", json={"type": "purchase", "occurred_at": "2026-01-01T00:00:00", "payload": {}})
    assert naive.status_code == 400
    assert row_counts() == before
