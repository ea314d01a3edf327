"""The cryptography suite as policy: policies/crypto.yaml chooses international (AES-256-GCM, HMAC-SHA256) or
commercial_cn (SM4-GCM, HMAC-SM3); every ciphertext, wrapped key and stored keyed digest records its algorithm, so
both are read side by side; a policy naming another suite than the data's stops start-up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import uuid
from dataclasses import replace

import pytest
import yaml
from sqlalchemy import select

from govern.crypto import recorded_suite, suites
from govern.crypto.envelope import CiphertextRejected, DataKey, DataKeyCache, Envelope
from govern.crypto.keyring import Keyring
from govern.crypto.models import KeyCheck, SubjectKey
from govern.identity.actor import Actor
from tests.conftest import VALID_FIELDS, empty_all_tables, fixture_collection

DPO = Actor(name="t", kind="staff", roles=("dpo",))


def policies_with(tmp_path, settings, suite: str):
    where = tmp_path / f"policies-{suite}"
    if not where.exists():
        shutil.copytree(settings.policies_dir, where)
        doc = yaml.safe_load((where / "crypto.yaml").read_text())
        doc["crypto"]["suite"] = suite
        (where / "crypto.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    return where


def home_with(tmp_path, settings, suite: str, name: str = "home"):
    """A GOVERN_HOME of its own (keyring, policies naming `suite`) against the test database; the installation's
    audit signing key."""
    home = tmp_path / name
    home.mkdir(mode=0o700, exist_ok=True)
    return replace(settings, home=home, policies_dir=policies_with(tmp_path, settings, suite),
                   audit_signing_key_file=settings.audit_key_path, checkpoint_dir=settings.audit_checkpoint_dir)


@pytest.fixture
def cn_settings(runtime, settings, tmp_path):
    """An installation set up with `suite: commercial_cn` on an empty database (govern init, as an operator would)."""
    from govern.cli_support import initialise

    empty_all_tables(runtime)
    cn = home_with(tmp_path, settings, suites.COMMERCIAL_CN)
    initialise(cn)
    return cn


@pytest.fixture
def cn_runtime(cn_settings):
    from govern.runtime import build_runtime

    rt = build_runtime(cn_settings)
    yield rt
    rt.database.dispose()


def seed(rt, n: int = 1, **fields) -> list[uuid.UUID]:
    from govern.subjects import service

    with rt.database.unit_of_work() as session:
        return [service.create(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), jurisdiction="CN",
                               fields={**VALID_FIELDS, "email": f"s{i}@example.cn", **fields}, collection=fixture_collection("CN")).id
                for i in range(n)]


def read(rt, sid) -> dict:
    from govern.access import reads

    with rt.database.unit_of_work() as session:
        return reads.read(session=session, policy=rt.policy, envelope=rt.envelope, actor=DPO, subject_id=sid, purpose="legal_compliance").fields


def lookup(rt, field: str, value: str) -> list[uuid.UUID]:
    from govern.access import reads

    with rt.database.unit_of_work() as session:
        return reads.lookup(session=session, policy=rt.policy, envelope=rt.envelope, actor=DPO, field=field, value=value, purpose="legal_compliance")


def stored(rt, sid) -> tuple[bytes, list[tuple[str, bytes, str | None]]]:
    from govern.subjects.models import ProfileField

    with rt.database.unit_of_work() as session:
        key = session.get(SubjectKey, sid)
        fields = [(r.name, r.ciphertext, r.blind_index) for r in session.scalars(select(ProfileField).where(ProfileField.subject_id == sid))]
        return key.wrapped_key, fields


# --- the algorithms -----------------------------------------------------------------------------------------------


def test_sm3_gives_the_gb_t_32905_value():
    assert suites.suite(suites.COMMERCIAL_CN).hash(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_a_value_sealed_with_sm4_opens_by_its_format_byte_and_fails_when_altered():
    sid = uuid.uuid4()
    sm4 = DataKey(bytes(range(16)), suites.SM4_GCM)
    blob = Envelope.seal(sm4, sid, "field:name", "张三".encode())
    assert blob[0] == suites.SM4_GCM
    assert Envelope.open(sm4, sid, "field:name", blob).decode() == "张三"
    with pytest.raises(CiphertextRejected):
        Envelope.open(sm4, sid, "field:email", blob)  # moved to another slot
    with pytest.raises(CiphertextRejected):
        Envelope.open(sm4, sid, "field:name", blob[:-1] + bytes([blob[-1] ^ 1]))
    aes = DataKey(bytes(32), suites.AES_GCM)
    old = Envelope.seal(aes, sid, "field:name", b"x")
    assert old[0] == suites.AES_GCM and Envelope.open(aes, sid, "field:name", old) == b"x"
    with pytest.raises(CiphertextRejected, match="another suite"):
        Envelope.open(aes, sid, "field:name", blob)  # an SM4 value is never opened with an AES key as if it were AES
    with pytest.raises(CiphertextRejected, match="unknown ciphertext format 3"):
        Envelope.open(sm4, sid, "field:name", bytes([3]) + blob[1:])


# --- the policy and the recorded suite ----------------------------------------------------------------------------


def test_the_policy_names_a_known_suite(tmp_path, settings):
    from govern.policies import load_policy
    from govern.policy import PolicyError

    assert load_policy(settings.policies_dir).crypto.suite == suites.INTERNATIONAL
    bad = policies_with(tmp_path, settings, "rot13")
    with pytest.raises(PolicyError, match=r"crypto.yaml: crypto.suite: Must be one of: international, commercial_cn"):
        load_policy(bad)


def test_a_new_installation_records_the_policys_suite_and_writes_under_it(cn_runtime):
    with cn_runtime.database.unit_of_work() as session:
        assert recorded_suite.state(session) == recorded_suite.SuiteState(suites.COMMERCIAL_CN, None, 1)
    doc = json.loads(cn_runtime.settings.keyring_path.read_text())
    assert doc["format"] == 2 and all(len(base64.b64decode(e["sm4_key"])) == 16 for e in doc["master_keys"])
    [sid] = seed(cn_runtime)
    wrapped, fields = stored(cn_runtime, sid)
    assert wrapped[0] == suites.SM4_GCM
    assert {blob[0] for _, blob, _ in fields} == {suites.SM4_GCM}
    assert len(cn_runtime.envelope.unwrap(sid, wrapped)) == 16  # a 128-bit SM4 data key
    assert read(cn_runtime, sid)["name"] == "张三"
    index = dict((n, i) for n, _, i in fields)["email"]
    expected = hmac.new(cn_runtime.keyring.index_key, "email\x00s0@example.cn".encode(), "sm3").hexdigest()
    assert index == expected  # HMAC-SM3 under the index key
    assert lookup(cn_runtime, "email", "s0@example.cn") == [sid]


def test_data_written_before_suites_is_international_and_a_policy_naming_another_suite_stops_start_up(runtime, make_subject, tmp_path, settings):
    from govern.runtime import build_runtime

    make_subject()
    with runtime.database.unit_of_work() as session:
        session.execute(KeyCheck.__table__.delete().where(KeyCheck.kind == recorded_suite.SUITE))  # as before suites existed
    cn = replace(settings, policies_dir=policies_with(tmp_path, settings, suites.COMMERCIAL_CN))
    with pytest.raises(recorded_suite.SuiteRefused) as refused:
        build_runtime(cn)
    assert refused.value.problem == recorded_suite.SUITE_MISMATCH
    assert "names the commercial_cn suite, but this database's data is under international" in str(refused.value)
    assert "govern keys migrate-suite" in str(refused.value)
    with runtime.database.unit_of_work() as session:
        assert recorded_suite.state(session) == recorded_suite.SuiteState(suites.INTERNATIONAL, None, 1)
        assert session.scalar(select(KeyCheck.recorded_how).where(KeyCheck.kind == recorded_suite.SUITE)) == "first_use"
    assert runtime.keyring.suite == suites.INTERNATIONAL  # the running installation is untouched


def test_a_commercial_database_started_with_the_international_policy_is_refused(cn_runtime, cn_settings, settings):
    from govern.runtime import build_runtime

    seed(cn_runtime)
    with pytest.raises(recorded_suite.SuiteRefused, match="names the international suite, but this database's data is under commercial_cn"):
        build_runtime(replace(cn_settings, policies_dir=settings.policies_dir))


def test_the_command_line_names_the_mismatch_without_a_traceback(cn_runtime, cn_settings, settings):
    import os
    import subprocess
    import sys

    seed(cn_runtime)
    env = {**os.environ, "GOVERN_HOME": str(cn_settings.home), "GOVERN_DATABASE_URL": cn_settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir),
           "GOVERN_AUDIT_SIGNING_KEY_FILE": str(cn_settings.audit_key_path), "GOVERN_CHECKPOINT_DIR": str(cn_settings.audit_checkpoint_dir)}
    run = subprocess.run([sys.executable, "-m", "govern.cli", "keys", "status"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "suite" in run.stderr and "migrate-suite" in run.stderr and "Traceback" not in run.stderr


def test_a_format_1_keyring_is_still_read_and_cannot_wrap_sm4_until_given_sm4_keys(tmp_path):
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    doc = json.loads(path.read_text())
    doc["format"] = 1
    for entry in doc["master_keys"]:
        del entry["sm4_key"]
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    old = Keyring.load(path)
    env = Envelope(old, DataKeyCache(10, 60))
    sid = uuid.uuid4()
    _, wrapped, _ = env.new_data_key(sid)
    assert wrapped[0] == suites.AES_GCM
    assert "no SM4 keys" in (old.supports(suites.SM4_GCM) or "")
    assert old.add_sm4_keys() is True
    assert old.supports(suites.SM4_GCM) is None and json.loads(path.read_text())["format"] == 2
    assert env.unwrap(sid, wrapped)  # what was wrapped before is untouched
    old.suite = suites.COMMERCIAL_CN
    dek, wrapped2, _ = env.new_data_key(sid)
    assert wrapped2[0] == suites.SM4_GCM and len(dek) == 16
    env.cache.clear()
    assert env.unwrap(sid, wrapped2) == dek
    assert ring.versions == [1]


def test_a_rotation_gives_the_new_master_key_an_sm4_key_and_rewraps_under_it(cn_runtime):
    from govern.crypto import service

    sids = seed(cn_runtime, 3)
    result = service.rotate(database=cn_runtime.database, envelope=cn_runtime.envelope, actor=Actor.operator())
    assert result.rewrapped == 3
    doc = json.loads(cn_runtime.settings.keyring_path.read_text())
    assert [bool(e.get("sm4_key")) for e in doc["master_keys"]] == [True, True]
    cn_runtime.envelope.cache.clear()
    for sid in sids:
        wrapped, _ = stored(cn_runtime, sid)
        assert wrapped[0] == suites.SM4_GCM and int.from_bytes(wrapped[1:5], "big") == 2
        assert read(cn_runtime, sid)["name"] == "张三"


# --- keyed digests ------------------------------------------------------------------------------------------------


def test_a_stored_keyed_digest_records_its_algorithm_and_is_compared_under_it(runtime):
    intl = runtime.envelope.keyed_digest("idempotency-fingerprint", "POST", "/x")
    assert len(intl) == 64 and ":" not in intl  # HMAC-SHA256 as it always was
    cn_ring = type("Ring", (), {"index_key": runtime.keyring.index_key, "suite": suites.COMMERCIAL_CN, "suite_migration": None,
                   "reload_if_changed": lambda self, every_seconds=2.0: None})()
    cn = Envelope(cn_ring, DataKeyCache(0, 0)).keyed_digest("idempotency-fingerprint", "POST", "/x")  # type: ignore[arg-type]
    assert cn.startswith("sm3:") and len(cn) == 64  # fits every column made for the first
    assert cn.matches(intl) and intl.matches(cn) and cn.matches(cn)
    assert not cn.matches("sm3:" + "0" * 60) and not cn.matches("0" * 64)
    other = runtime.envelope.keyed_digest("dsr-otp", "POST", "/x")
    assert not other.matches(intl)  # a digest for one purpose is worth nothing for another


def test_an_idempotent_retry_is_recognised_across_suites(cn_runtime, runtime):
    from govern import idempotency
    from govern.errors import Problem

    principal = uuid.uuid4()
    payload = {"fields": {"email": "a@example.cn"}}
    before = idempotency.fingerprint(runtime.envelope, "POST", "/api/v1/subjects", payload)  # the installation's old suite
    cn_runtime.keyring.index_key = runtime.keyring.index_key  # the same keyring, converted: only the suite differs
    with cn_runtime.database.unit_of_work() as session:
        idempotency.remember(session=session, principal_id=principal, key="k1", request_fingerprint=before, status=201, body={"id": 1}, headers={})
    after = idempotency.fingerprint(cn_runtime.envelope, "POST", "/api/v1/subjects", payload)
    assert after.startswith("sm3:")
    with cn_runtime.database.unit_of_work() as session:
        assert idempotency.replay(session=session, principal_id=principal, key="k1", request_fingerprint=after).status == 201
        changed = idempotency.fingerprint(cn_runtime.envelope, "POST", "/api/v1/subjects", {"fields": {}})
        with pytest.raises(Problem) as refused:
            idempotency.replay(session=session, principal_id=principal, key="k1", request_fingerprint=changed)
        assert refused.value.code == "idempotency_key_reused"


def test_sha256_hex_still_equals_the_old_blind_index(runtime, make_subject):
    sid = make_subject()
    _, fields = stored(runtime, sid)
    index = dict((n, i) for n, _, i in fields)["email"]
    assert index == hmac.new(runtime.keyring.index_key, f"email\x00{VALID_FIELDS['email']}".encode(), hashlib.sha256).hexdigest()


def test_an_sm4_key_that_is_not_the_datas_stops_start_up_and_so_does_a_keyring_without_it(cn_runtime, cn_settings):
    from govern.crypto import checks
    from govern.runtime import build_runtime

    seed(cn_runtime)
    with cn_runtime.database.unit_of_work() as session:
        assert (checks.MASTER_SM4, 1) in checks.recorded(session)
    path = cn_settings.keyring_path
    original = path.read_text()
    doc = json.loads(original)
    doc["master_keys"][0]["sm4_key"] = base64.b64encode(bytes(16)).decode()
    path.write_text(json.dumps(doc))
    with pytest.raises(checks.KeyMismatch, match="the SM4 key of master key version 1 does not match") as refused:
        build_runtime(cn_settings)
    assert refused.value.problem == checks.VERSION_MISMATCH
    del doc["master_keys"][0]["sm4_key"]
    path.write_text(json.dumps(doc))
    with pytest.raises(checks.KeyMismatch, match="the SM4 key of master key version 1 is missing"):
        build_runtime(cn_settings)
    path.write_text(original)
