"""The routes marked @audited_read (on PostgreSQL they run without an explicit transaction, each statement committing
as it runs) are the ones that only read personal data: they change nothing but the audit log, one event per read."""

from govern.identity.guard import is_audited_read


def test_only_the_pure_reads_are_marked(app):
    marked = sorted(endpoint for endpoint in app.view_functions if is_audited_read(app, endpoint))
    assert marked == ["subjects.list_records", "subjects.lookup_subject", "subjects.read_subject"]


def test_a_marked_read_writes_its_audit_event_and_nothing_else(client_as, make_subject, row_counts, valid_fields):
    sales = client_as("sales_service")
    sid = make_subject()
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200  # first use of the key
    before = row_counts()
    reads = (
        sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment"),
        sales.get(f"/api/v1/subjects/{sid}/records", purpose="order_fulfilment"),
        sales.post("/api/v1/subjects/lookup", json={"field": "email", "value": valid_fields["email"]}, purpose="order_fulfilment"),
    )
    assert [r.status_code for r in reads] == [200, 200, 200]
    after = row_counts()
    changed = {table: after[table] - before[table] for table in after if after[table] != before[table]}
    assert changed == {"audit_events": 3}
