"""Listing a subject's typed records is a purpose-bound read (govern/access/reads.py): newest first, cursor-paginated,
only the record types the purpose may use, audited with the types returned."""

from datetime import datetime, timedelta, timezone


def _add(client, sid, type_, when, payload):
    return client.post(f"/api/v1/subjects/{sid}/records", json={"type": type_, "occurred_at": when.isoformat(), "payload": payload})


def test_records_come_back_newest_first_across_pages(client_as, make_subject):
    sid = make_subject()
    sales = client_as("sales_service")
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(5):
        assert _add(sales, sid, "purchase", base + timedelta(days=i), {"order": f"SO-{i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        r = sales.get(f"/api/v1/subjects/{sid}/records?limit=2" + (f"&cursor={cursor}" if cursor else ""), purpose="order_fulfilment")
        assert r.status_code == 200, r.json
        seen += [rec["payload"]["order"] for rec in r.json["records"]]
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert seen == ["SO-4", "SO-3", "SO-2", "SO-1", "SO-0"]


def test_a_purpose_sees_only_its_record_types(client_as, make_subject):
    sid = make_subject()
    sales = client_as("sales_service")
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    _add(sales, sid, "purchase", now, {"order": "SO-1"})
    _add(sales, sid, "service_ticket", now, {"ticket": "T-1"})
    fulfilment = sales.get(f"/api/v1/subjects/{sid}/records", purpose="order_fulfilment").json["records"]
    assert [r["type"] for r in fulfilment] == ["purchase"]
    service = sales.get(f"/api/v1/subjects/{sid}/records", purpose="customer_service").json["records"]
    assert {r["type"] for r in service} == {"purchase", "service_ticket"}
    refused = sales.get(f"/api/v1/subjects/{sid}/records?type=service_ticket", purpose="order_fulfilment")
    assert refused.status_code == 403 and refused.json["reason"] == "record_type_not_in_purpose"


def test_listing_records_is_audited_with_the_types_returned(client_as, make_subject, audit_events):
    sid = make_subject()
    sales = client_as("sales_service")
    _add(sales, sid, "purchase", datetime.now(timezone.utc), {"order": "SO-1"})
    sales.get(f"/api/v1/subjects/{sid}/records", purpose="order_fulfilment")
    [event] = audit_events(action="subjects:record:read")
    assert (event.field_names, event.purpose, event.subject_id) == ("record:purchase", "order_fulfilment", sid)


def test_a_cursor_this_service_did_not_issue_is_refused(client_as, make_subject, row_counts):
    sid = make_subject()
    sales = client_as("sales_service")
    before = row_counts()
    assert sales.get(f"/api/v1/subjects/{sid}/records?cursor=garbage", purpose="order_fulfilment").status_code == 400
    assert row_counts() == before
