"""A record of processing's stored versions and the compliance pack's manifest are hashes govern keeps of its own data
(issue 21): taken under the suite in force — SHA-256, or SM3 under commercial_cn — and naming the algorithm, so a
version stored before a suite migration still checks (and is not stored again) after it."""

import csv
import hashlib
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from govern.crypto import suites
from govern.crypto.policy import CryptoPolicy
from govern.identity.actor import Actor
from govern.processing import pack, service
from govern.timeutil import utcnow
from tests.processing.test_pack import _signature_ok, _unpack
from tests.processing.test_records_kept import _relabel

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
OPERATOR = Actor.operator()
CANONICAL = {"sort_keys": True, "ensure_ascii": False, "separators": (",", ":")}


def _cn(policy):
    return replace(policy, crypto=CryptoPolicy(suite=suites.COMMERCIAL_CN, source="test"))


def _sync(runtime, policy, at) -> list[tuple]:
    with runtime.database.unit_of_work() as session:
        rows = service.sync(session=session, policy=policy, actor=OPERATOR, settings=runtime.settings, now=at)
        return [(r.kind, r.key, r.version, r.content_sha256, r.content) for r in rows]


def _history(runtime, key):
    with runtime.database.unit_of_work() as session:
        return service.history(session=session, actor=OPERATOR, kind="activity", key=key)


def test_versions_follow_the_suite_in_force_and_name_it_and_an_older_version_is_not_stored_again(runtime, audit_events):
    stored = _sync(runtime, runtime.policy, T0)
    assert stored and all(d == hashlib.sha256(json.dumps(c, **CANONICAL).encode()).hexdigest() for *_, d, c in stored)
    # The suite switched to commercial_cn: the controller's record states other security measures, so its new version
    # is stored (under SM3); no activity changed, so none is stored again (each checked under SHA-256, its own).
    [(kind, _, version, digest, _)] = _sync(runtime, _cn(runtime.policy), T1)
    assert (kind, version) == ("controller", 2) and digest.startswith("sm3:")
    [(_, _, version, digest, content)] = _sync(runtime, _cn(_relabel(runtime.policy, "marketing", "Marketing (renamed)")), T1)
    assert version == 2 and digest == "sm3:" + hashlib.new("sm3", json.dumps(content, **CANONICAL).encode()).hexdigest()[:60]

    v1, v2 = _history(runtime, "marketing")
    assert v1["digest_algorithm"] == "SHA-256" and v1["content_digest"] == v1["content_sha256"] == stored[[s[1] for s in stored].index("marketing")][3]
    assert v2["digest_algorithm"] == "SM3" and v2["content_digest"] == digest and "content_sha256" not in v2
    reasons = [e.reason for e in audit_events(action="processing:records:version") if e.resource == "activity:marketing:v2"]
    assert reasons == [f"in_force sm3={digest[4:20]}"]

    with runtime.database.unit_of_work() as session:
        doc = service.records_during(session=session, actor=OPERATOR, start=T1, end=T1 + timedelta(days=1), language="en")
    rows = {r["purpose"]: r for r in csv.DictReader(io.StringIO(service.as_csv(doc)))}
    assert (rows["marketing"]["content_digest"], rows["marketing"]["digest_algorithm"]) == (digest, "SM3")
    other = next(p for p in rows if p != "marketing")
    assert rows[other]["digest_algorithm"] == "SHA-256" and len(rows[other]["content_digest"]) == 64


def test_a_changed_content_checks_under_neither_algorithm():
    content = {"en": {"purpose_label": "Marketing"}, "zh": {"purpose_label": "营销"}}
    edited = {**content, "zh": {"purpose_label": "营销推广"}}
    for name in suites.NAMES:
        stored = service.digest(content, suites.suite(name))
        assert service.unchanged(stored, content) and not service.unchanged(stored, edited)


def test_the_pack_manifest_hashes_every_file_with_sm3_under_commercial_cn_and_says_so(runtime, make_subject, tmp_path):
    make_subject()
    result = pack.build(database=runtime.database, settings=runtime.settings, policy=_cn(runtime.policy), actor=OPERATOR,
                        start=utcnow() - timedelta(days=1), end=utcnow() + timedelta(seconds=1), out=tmp_path / "pack.zip")
    root = tmp_path / "unpacked"
    manifest = _unpack(result.path, root)
    assert manifest["digest_algorithm"] == "SM3" and _signature_ok(manifest)
    for f in manifest["files"]:
        assert "sha256" not in f and hashlib.new("sm3", (root / f["path"]).read_bytes()).hexdigest() == f["sm3"], f["path"]
    assert "SM3" in (root / "summary.en.md").read_text() and "SM3" in (root / "summary.zh.md").read_text()
