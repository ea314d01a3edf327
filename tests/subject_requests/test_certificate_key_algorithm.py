"""An erasure certificate is evidence, so it names the algorithm of the data key that was actually destroyed: AES-256-GCM
for a key of the international suite, SM4-GCM for one of commercial_cn — the key's own, read when it is destroyed,
not the suite in force (a subject `govern keys migrate-suite` has not reached yet still has an AES key). The
certificate keeps it as data (`key_algorithm`) and says it in its English `method`; an erasure that found the subject
already erased names the key its tombstone recorded when it was destroyed (none, null, for a tombstone kept before
tombstones recorded it)."""

from __future__ import annotations

import hashlib
import json

import pytest

from govern.audit import verifier
from govern.crypto import migration, suites
from govern.crypto.cli import normaliser, runtime_for
from govern.crypto.models import SubjectKey
from govern.identity.actor import Actor
from govern.subject_requests import flows
from govern.subject_requests import service as requests
from govern.subjects import erasure
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import seed
from tests.subject_requests.conftest import CRM, STAFF

needs_sm3 = pytest.mark.skipif(not verifier.sm3_available(), reason="this Python's OpenSSL has no SM3 (commercial_cn cannot run)")


def _erase(rt, sid, ledgers, before_completion=None, **details) -> dict:
    """Files, verifies and completes an erasure of `sid` (limited by `details`: fields, record_types) on runtime `rt`;
    `before_completion()` runs between the verification and the completion."""
    with rt.database.unit_of_work() as session:
        rid = requests.file(session=session, policy=rt.policy, envelope=rt.envelope, actor=CRM, subject_id=sid, type="erasure", channel="app",
                            details=details or None).request.id
    with rt.database.unit_of_work() as session:
        assert requests.verify(session=session, policy=rt.policy, envelope=rt.envelope, actor=CRM, request_id=rid, method="crm_session", reference="s").verified
    if before_completion is not None:
        before_completion()
    with rt.database.unit_of_work() as session:
        return flows.complete(session=session, policy=rt.policy, envelope=rt.envelope, actor=STAFF, request_id=rid, ledgers=ledgers).response


def _key_format(rt, sid) -> int:
    with rt.database.unit_of_work() as session:
        return session.get(SubjectKey, sid).wrapped_key[0]


def _digest_checks(response: dict) -> None:
    """The field is inside what the digest covers: a requester recomputing it over the certificate gets it."""
    canonical = json.dumps(response["certificate"], sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    name = {"SHA-256": "sha256", "SM3": "sm3"}[response["digest_algorithm"]]
    assert hashlib.new(name, canonical).hexdigest() == response["certificate_digest"]


def test_under_the_international_suite_a_certificate_names_the_aes_key_it_destroyed(runtime, make_subject):
    sid = make_subject()
    assert _key_format(runtime, sid) == suites.AES_GCM
    response = _erase(runtime, sid, runtime.ledgers)
    cert = response["certificate"]
    assert cert["key_algorithm"] == "AES-256-GCM" and cert["subject_status"] == "erased"
    assert "the subject's data key (AES-256-GCM) was destroyed first" in cert["method"]
    _digest_checks(response)


@needs_sm3
def test_under_commercial_cn_a_certificate_names_the_sm4_key_and_a_subject_not_yet_converted_its_aes_key(runtime, cn_home):  # noqa: F811
    converted, not_reached = seed(runtime, 2)
    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        assert rt.envelope.suite.name == suites.COMMERCIAL_CN
        # A subject the migration has not reached yet (it converts in batches while the service runs): its data key and
        # values still AES, put back that way by the migration's own conversion.
        with rt.database.unit_of_work() as session:
            migration.convert_subject(session, rt.envelope, session.get(SubjectKey, not_reached), suites.suite(suites.INTERNATIONAL), normaliser(rt.policy))
        assert (_key_format(rt, converted), _key_format(rt, not_reached)) == (suites.SM4_GCM, suites.AES_GCM)

        sm4 = _erase(rt, converted, runtime.ledgers)
        cert = sm4["certificate"]
        assert cert["key_algorithm"] == "SM4-GCM" and sm4["digest_algorithm"] == "SM3"
        assert "the subject's data key (SM4-GCM) was destroyed first" in cert["method"] and "AES" not in cert["method"]
        _digest_checks(sm4)

        aes = _erase(rt, not_reached, runtime.ledgers)
        assert aes["certificate"]["key_algorithm"] == "AES-256-GCM" and aes["digest_algorithm"] == "SM3"  # the key's, not the suite's
        assert "the subject's data key (AES-256-GCM) was destroyed first" in aes["certificate"]["method"]
        _digest_checks(aes)
    finally:
        rt.database.dispose()


@needs_sm3
def test_a_limited_erasure_records_the_algorithm_of_the_key_it_replaced_and_destroyed(runtime, cn_home):  # noqa: F811
    (sid,) = seed(runtime, 1)
    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        response = _erase(rt, sid, runtime.ledgers, fields=["email"])
        cert = response["certificate"]
        assert cert["subject_status"] == "active" and cert["destroyed"]["fields"] == ["email"]
        assert cert["key_algorithm"] == "SM4-GCM"  # the old key, destroyed; what stays is sealed under a new one
        assert _key_format(rt, sid) == suites.SM4_GCM
        _digest_checks(response)
    finally:
        rt.database.dispose()


def _erase_after_a_purge(runtime, sid, after_purge=None) -> dict:
    def purge() -> None:  # a purge gets there first, between verification and completion, in whichever suite is in force
        with runtime.database.unit_of_work() as session:
            erasure.shred(session=session, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, reason="retention_purge")
            if after_purge is not None:
                after_purge(session)

    return _erase(runtime, sid, runtime.ledgers, purge)


def test_an_erasure_that_found_the_subject_already_erased_names_the_key_its_tombstone_recorded(runtime, make_subject):
    sid = make_subject()
    response = _erase_after_a_purge(runtime, sid)
    cert = response["certificate"]
    assert cert["key_algorithm"] == "AES-256-GCM" and cert["already_erased"]["reason"] == "retention_purge"
    assert cert["method"].startswith("crypto-shredding: the subject's data key (AES-256-GCM) had already been destroyed")
    _digest_checks(response)


def test_a_tombstone_kept_before_it_recorded_the_key_gives_a_certificate_naming_no_algorithm(runtime, make_subject):
    sid = make_subject()

    def as_an_older_tombstone(session) -> None:
        session.flush()
        session.get(erasure.Tombstone, sid).key_format = None

    response = _erase_after_a_purge(runtime, sid, as_an_older_tombstone)
    cert = response["certificate"]
    assert "key_algorithm" in cert and cert["key_algorithm"] is None
    assert cert["method"].startswith("crypto-shredding: the subject's data key had already been destroyed")
    assert "AES" not in cert["method"] and "SM4" not in cert["method"]
    _digest_checks(response)