"""An audited read takes its principal from the process's memory of the key and confirms it in the read's own audit
INSERT, which is written only while the principal is enabled with that key: one round trip fewer, and a key disabled
anywhere (another process, the command line) still gets nothing but 401 on its very next request, whatever it asks."""

import uuid

from sqlalchemy import update

from govern.identity import service as identity
from govern.identity.models import Principal
from govern.timeutil import utcnow


def _disable_elsewhere(runtime, principal_id):
    """As another process or the command line would: in the database only, this process's memory untouched."""
    with runtime.database.unit_of_work() as session:
        session.execute(update(Principal).where(Principal.id == principal_id).values(disabled_at=utcnow()))


def test_a_read_by_a_key_disabled_elsewhere_returns_401_and_no_data(client_as, make_subject, runtime, audit_events, valid_fields):
    sales = client_as("sales_service")
    sid = make_subject()
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200  # the key is now remembered
    _disable_elsewhere(runtime, sales.principal_id)
    r = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert r.status_code == 401 and r.json["reason"] == "credentials_rejected"
    assert valid_fields["email"] not in r.get_data(as_text=True) and "fields" not in r.json
    reads = audit_events(action="subjects:profile:read", actor_name=sales.name)
    assert len(reads) == 1  # the first read only: the refused one wrote no read event
    assert audit_events(action="identity:apikey:reject", actor_name=sales.name)[-1].reason == "credentials_rejected"


def test_a_disabled_key_learns_nothing_from_a_refusal_or_a_miss(client_as, make_subject, runtime):
    sales = client_as("sales_service")
    sid = make_subject()
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    _disable_elsewhere(runtime, sales.principal_id)
    # Enabled, these would answer 403 purpose_not_permitted and 404: disabled, both are 401.
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 401
    assert sales.get(f"/api/v1/subjects/{uuid.uuid4()}", purpose="order_fulfilment").status_code == 401
    assert sales.post("/api/v1/subjects/lookup", json={"field": "email", "value": "nobody@example.com"}, purpose="order_fulfilment").status_code == 401


def test_a_remembered_key_reads_without_asking_for_its_principal(client_as, make_subject, monkeypatch):
    sales = client_as("sales_service")
    sid = make_subject()
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    asked = []
    real = identity._BY_PREFIX.rows
    monkeypatch.setattr(identity._BY_PREFIX, "rows", lambda session, params: asked.append(params) or real(session, params))
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    assert asked == []
    # A route that is not an audited read asks every time.
    assert sales.get(f"/api/v1/subjects/{sid}/consents").status_code in (200, 403)
    assert len(asked) == 1


def test_a_wrong_key_with_a_remembered_prefix_is_rejected(client_as, make_subject):
    sales = client_as("sales_service")
    sid = make_subject()
    assert sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    key = sales.api_key
    forged = key[:-4] + ("0000" if not key.endswith("0000") else "1111")
    r = sales.client.get(f"/api/v1/subjects/{sid}", headers={"Authorization": f"Bearer {forged}", "X-Purpose": "order_fulfilment"})
    assert r.status_code == 401
