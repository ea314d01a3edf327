"""The frozen list of affected subjects is proved unchanged by a hash govern keeps of its own data (issue 21): it is
taken under the suite in force — SM3 under commercial_cn, named by its `sm3:` prefix — and checked under the algorithm
it names, so a list frozen before a suite migration still checks after it, and a changed list checks under neither."""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import update

from govern.breach import flows
from govern.breach.models import AffectedSnapshot, AffectedSubject
from govern.crypto import suites
from tests.breach.test_scope import _incident, _tick

LISTING = [["6f1d0c1e-0000-4000-8000-000000000001", "CN", ["mobile", "name"]]]
CANONICAL = json.dumps(LISTING, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_under_commercial_cn_the_list_is_hashed_with_sm3_and_says_so():
    stored = flows.digest(LISTING, suites.suite(suites.COMMERCIAL_CN))
    assert stored == "sm3:" + hashlib.new("sm3", CANONICAL).hexdigest()[:60] and len(stored) == 64
    assert suites.named_hash_matches(stored, CANONICAL)


def test_under_international_the_list_is_the_bare_sha256_every_list_was_frozen_under_before():
    stored = flows.digest(LISTING, suites.suite(suites.INTERNATIONAL))
    assert stored == hashlib.sha256(CANONICAL).hexdigest() and suites.named_hash_matches(stored, CANONICAL)


def test_a_changed_list_checks_under_neither_algorithm():
    changed = json.dumps([[*LISTING[0][:2], ["mobile"]]], sort_keys=True, separators=(",", ":")).encode()
    for name in suites.NAMES:
        assert not suites.named_hash_matches(flows.digest(LISTING, suites.suite(name)), changed)


def test_a_list_frozen_under_sm3_reads_as_intact_and_names_its_algorithm_until_a_row_changes(client_as, dpo, make_subject, runtime):
    crm = client_as("sales_service")
    sid = make_subject()
    start = _tick()
    crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    iid = _incident(dpo, [crm.name], start)
    assert dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).json["digest_algorithm"] == "SHA-256"  # the suite in force
    [row] = (frozen := dpo.get(f"/api/v1/incidents/{iid}/scope").json)["affected"]
    assert frozen["intact"]
    # The same list as a commercial_cn process freezes it.
    with runtime.database.unit_of_work() as session:
        sm3 = flows.digest([[row["subject_id"], row["jurisdiction"], row["fields"]]], suites.suite(suites.COMMERCIAL_CN))
        session.execute(update(AffectedSnapshot).where(AffectedSnapshot.incident_id == uuid.UUID(iid)).values(digest=sm3))
    listed = dpo.get(f"/api/v1/incidents/{iid}/scope").json
    assert listed["intact"] and listed["digest_algorithm"] == "SM3" and listed["digest"].startswith("sm3:")
    with runtime.database.unit_of_work() as session:
        session.execute(update(AffectedSubject).where(AffectedSubject.subject_id == uuid.UUID(str(sid))).values(fields=["name"]))
    assert not dpo.get(f"/api/v1/incidents/{iid}/scope").json["intact"]

