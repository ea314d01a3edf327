"""An erasure certificate's digest is govern's own integrity value (issue 21): taken under the suite in force — SHA-256,
or SM3 under commercial_cn — and kept with the algorithm it names, in the request's response, the certificate route,
the audit resource, the console's headers and the PDF. A certificate made before `govern keys migrate-suite` stays
SHA-256 and still checks after it; one made before suites (only `certificate_sha256`) reads as SHA-256."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import update

from govern.audit import verifier
from govern.crypto import suites
from govern.crypto.cli import runtime_for
from govern.subject_requests import flows
from govern.subject_requests import service as requests
from govern.subject_requests.models import DataSubjectRequest
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import seed
from tests.subject_requests.conftest import CRM, STAFF

pytestmark = pytest.mark.skipif(not verifier.sm3_available(), reason="this Python's OpenSSL has no SM3")


def _canonical(cert: dict) -> bytes:  # as a requester recomputes it: sorted keys, no whitespace, UTF-8
    return json.dumps(cert, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _erase(rt, sid, ledgers):
    with rt.database.unit_of_work() as session:
        rid = requests.file(session=session, policy=rt.policy, envelope=rt.envelope, actor=CRM, subject_id=sid, type="erasure", channel="app").request.id
    with rt.database.unit_of_work() as session:
        assert requests.verify(session=session, policy=rt.policy, envelope=rt.envelope, actor=CRM, request_id=rid, method="crm_session", reference="s").verified
    with rt.database.unit_of_work() as session:
        return flows.complete(session=session, policy=rt.policy, envelope=rt.envelope, actor=STAFF, request_id=rid, ledgers=ledgers).response, rid


def _certificate(rt, rid) -> dict:
    with rt.database.unit_of_work() as session:
        return flows.certificate(session=session, policy=rt.policy, actor=STAFF, request_id=rid)


def test_a_certificate_follows_the_suite_in_force_and_one_made_before_the_migration_stays_sha256(runtime, cn_home, audit_events):  # noqa: F811
    before_sid, after_sid = seed(runtime, 2)
    rt = runtime_for(cn_home)
    try:
        old, old_rid = _erase(rt, before_sid, runtime.ledgers)
        assert old["digest_algorithm"] == "SHA-256" and old["certificate_digest"] == old["certificate_sha256"]
        assert old["certificate_sha256"] == hashlib.sha256(_canonical(old["certificate"])).hexdigest()
        _migrate(rt, cn_home)
        assert rt.envelope.suite.name == suites.COMMERCIAL_CN

        new, new_rid = _erase(rt, after_sid, runtime.ledgers)
        assert new["digest_algorithm"] == "SM3" and "certificate_sha256" not in new
        assert new["certificate_digest"] == hashlib.new("sm3", _canonical(new["certificate"])).hexdigest()  # all 256 bits, no prefix
        served = _certificate(rt, new_rid)
        assert served == {"certificate": new["certificate"], "digest": new["certificate_digest"], "digest_algorithm": "SM3"}
        assert [e.resource.rsplit("/", 1)[1] for e in audit_events(action="requests:certificate:read") if str(new_rid) in e.resource] == \
            [f"certificate-sm3:{new['certificate_digest']}"] * 2  # made, then read
        # The completion event names the algorithm too.
        with rt.database.unit_of_work() as session:
            completed = [e for e in requests.events_of(session=session, request_id=new_rid) if e.to_state == "completed"]
        assert completed[0].data == {"certificate_digest": new["certificate_digest"], "digest_algorithm": "SM3"}

        # The certificate made under international reads, after the migration, as it was made: SHA-256, and it checks.
        served = _certificate(rt, old_rid)
        assert served["digest_algorithm"] == "SHA-256" and served["sha256"] == served["digest"] == old["certificate_sha256"]
        assert hashlib.sha256(_canonical(served["certificate"])).hexdigest() == served["sha256"]
    finally:
        rt.database.dispose()


def test_a_certificate_made_before_suites_reads_as_sha256(runtime, make_subject):
    sid = make_subject()
    response, rid = _erase(runtime, sid, runtime.ledgers)
    with runtime.database.unit_of_work() as session:  # as stored before suites: the SHA-256 alone
        session.execute(update(DataSubjectRequest).where(DataSubjectRequest.id == rid).values(
            response={"certificate": response["certificate"], "certificate_sha256": response["certificate_sha256"]}))
    served = _certificate(runtime, rid)
    assert (served["digest_algorithm"], served["digest"], served["sha256"]) == ("SHA-256", response["certificate_sha256"], response["certificate_sha256"])

