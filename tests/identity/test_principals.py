"""Operators create principals whose key is shown once and stored only as a hash; disabling one stops its key."""

import json
import os
import subprocess
import sys

from sqlalchemy import text


def _govern(settings, *args):
    env = dict(os.environ, GOVERN_HOME=str(settings.home), GOVERN_DATABASE_URL=settings.database_url, GOVERN_POLICIES=str(settings.policies_dir))
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_created_principal_gets_a_working_key_that_is_stored_only_as_a_hash(settings, runtime, app, make_subject):
    out = _govern(settings, "principals", "create", "--name", "crm-sales", "--role", "sales_service", "--json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    key = created["api_key"]
    assert key.startswith("gv_") and created["roles"] == ["sales_service"]
    with runtime.database.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM principals")) for v in row)
    assert key not in dump and key.split("_", 2)[2] not in dump  # the secret: everything after gv_<prefix>_ (it may hold "_")
    sid = make_subject()
    r = app.test_client().get(f"/api/v1/subjects/{sid}", headers={"Authorization": f"Bearer {key}", "X-Purpose": "order_fulfilment"})
    assert r.status_code == 200


def test_listing_never_shows_a_key_and_disabling_stops_it(settings, app, make_subject):
    key = json.loads(_govern(settings, "principals", "create", "--name", "crm-support", "--role", "support_service", "--json").stdout)["api_key"]
    listing = _govern(settings, "principals", "list", "--json")
    rows = json.loads(listing.stdout)
    assert [r["name"] for r in rows] == ["crm-support"] and key not in listing.stdout
    assert _govern(settings, "principals", "disable", "crm-support").returncode == 0
    sid = make_subject()
    r = app.test_client().get(f"/api/v1/subjects/{sid}", headers={"Authorization": f"Bearer {key}", "X-Purpose": "customer_service"})
    assert r.status_code == 401


def test_an_unknown_role_or_a_duplicate_name_is_refused(settings):
    bad = _govern(settings, "principals", "create", "--name", "x-svc", "--role", "superuser")
    assert bad.returncode != 0 and "unknown role" in bad.stderr
    assert _govern(settings, "principals", "create", "--name", "dup", "--role", "admin").returncode == 0
    again = _govern(settings, "principals", "create", "--name", "dup", "--role", "admin")
    assert again.returncode != 0 and "already exists" in again.stderr


def test_the_principals_api_is_for_admin_and_security_and_never_shows_keys(client_as, make_principal):
    _, key = make_principal("sales_service", name="crm-x")
    admin = client_as("admin")
    r = admin.get("/api/v1/principals")
    assert r.status_code == 200
    names = {p["name"] for p in r.json["items"]}
    assert "crm-x" in names and key not in r.get_data(as_text=True)
    assert client_as("security").get("/api/v1/principals").status_code == 200
    assert client_as("sales_service").get("/api/v1/principals").status_code == 403
