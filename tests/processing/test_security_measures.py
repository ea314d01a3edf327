"""The security measures of the records of processing (GDPR Art. 30(1)(g); PIPL Art. 51, 54–56) state the cryptography
govern actually runs: the technical measures are generated from the suite in force (policies/crypto.yaml,
govern/crypto/suites.py) and from where the master keys live (GOVERN_KEK: the keyring file, or an HSM through
PKCS#11), in Chinese and English, before the organisational measures of processing.yaml — which may not name an
algorithm or a key store (refused at start-up). A change of suite or provider stores a new version of the controller's
record when it takes effect, and "as of" an earlier date still shows what was stated then."""

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from govern.audit import chain
from govern.config import PROJECT_ROOT
from govern.crypto import suites
from govern.crypto.policy import CryptoPolicy
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.processing import measures, pack, service
from govern.processing.policy import naming_cryptography
from govern.timeutil import utcnow
from tests.processing.test_pack import _unpack

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
OPERATOR = Actor.operator()
TOKEN = "pkcs11:token=govern;object=govern-kek?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:GOVERN_HSM_PIN"


def _cn(policy):
    return replace(policy, crypto=CryptoPolicy(suite=suites.COMMERCIAL_CN, source="test"))


def _measures(runtime, *, policy=None, settings=None, language="en", at=None) -> list[str]:
    """The security measures of the records read now (storing what took effect) or as of `at`."""
    with runtime.database.unit_of_work() as session:
        doc = service.records(session=session, policy=policy or runtime.policy, actor=OPERATOR, settings=settings or runtime.settings,
                              language=language, as_of=at)
    return doc["security_measures"]


def _sync(runtime, policy, settings, at):
    with runtime.database.unit_of_work() as session:
        return [(r.kind, r.key, r.version) for r in service.sync(session=session, policy=policy, actor=OPERATOR, settings=settings, now=at)]


def _text(items: list[str]) -> str:
    return "\n".join(items)


def test_under_the_international_suite_the_record_names_its_algorithms_and_the_keyring_file(runtime, client_as):
    assert runtime.policy.crypto.suite == suites.INTERNATIONAL and runtime.settings.kek is None
    en = client_as("dpo").get("/api/v1/processing/records?lang=en").json["security_measures"]
    text = _text(en)
    for name in ("AES-256-GCM", "HMAC-SHA256", "SHA-256", "Ed25519"):
        assert name in text, name
    assert "keyring file" in text and "HSM" not in text and "SM4" not in text and "SM3" not in text
    # The generated measures first, then the policy's organisational ones, as the policy words them.
    assert en[-len(runtime.policy.processing.security_measures["en"]):] == runtime.policy.processing.security_measures["en"]
    zh = _text(_measures(runtime, language="zh"))
    assert all(name in zh for name in ("AES-256-GCM", "HMAC-SHA256", "SHA-256", "Ed25519")) and "密钥环文件" in zh
    assert "按目的与角色控制访问，按角色掩码显示" in zh
    # The CSV's column (g) carries them too.
    csv_text = client_as("auditor").get("/api/v1/processing/records?lang=en&format=csv").get_data(as_text=True)
    assert "AES-256-GCM" in csv_text and "keyring file" in csv_text


def test_under_commercial_cn_the_record_names_sm4_hmac_sm3_and_sm3_and_never_the_international_algorithms(runtime):
    for language in ("en", "zh"):
        text = _text(_measures(runtime, policy=_cn(runtime.policy), language=language))
        for name in ("SM4-GCM", "HMAC-SM3", "SM3", "Ed25519", "GB/T 39786-2021"):
            assert name in text, (language, name)
        for name in ("AES", "HMAC-SHA256", "SHA-256"):
            assert name not in text, (language, name)


def test_changing_the_suite_stores_a_new_controller_version_and_as_of_shows_what_was_stated_then(runtime):
    first = _sync(runtime, runtime.policy, runtime.settings, T0)
    assert ("controller", "controller", 1) in first
    assert _sync(runtime, _cn(runtime.policy), runtime.settings, T1) == [("controller", "controller", 2)]
    assert _sync(runtime, _cn(runtime.policy), runtime.settings, T1 + timedelta(days=1)) == []  # nothing stored twice
    before = _text(_measures(runtime, policy=_cn(runtime.policy), at=T1 - timedelta(days=1)))
    after = _text(_measures(runtime, policy=_cn(runtime.policy), at=T1 + timedelta(days=2)))
    assert "AES-256-GCM" in before and "SM4-GCM" not in before
    assert "SM4-GCM" in after and "AES-256-GCM" not in after


def test_with_the_pkcs11_provider_the_record_says_the_master_keys_are_kept_in_an_hsm(runtime):
    token = replace(runtime.settings, kek=TOKEN)
    _sync(runtime, runtime.policy, runtime.settings, T0)
    # Moving the master keys into a token is a change of the measures: the controller's record gets a new version.
    assert _sync(runtime, runtime.policy, token, T1) == [("controller", "controller", 2)]
    en = _text(_measures(runtime, settings=token))
    assert "hardware security module (HSM)" in en and "PKCS#11" in en and "keyring file" not in en
    zh = _text(_measures(runtime, settings=token, language="zh"))
    assert "硬件安全模块（HSM）" in zh and "PKCS#11" in zh and "密钥环文件" not in zh
    assert "keyring file" in _text(_measures(runtime, at=T1 - timedelta(seconds=1)))


@pytest.mark.parametrize("suite", suites.NAMES)
def test_the_phrasing_follows_the_provider_kind_and_the_suite(suite):
    s = suites.suite(suite)
    for kind, says, never in (("file", "keyring file", "HSM"), ("pkcs11", "HSM", "keyring file")):
        c = measures.CryptoInForce(s, kind, s.hash_label)
        en, zh = measures.cryptographic(c, "en"), measures.cryptographic(c, "zh")
        assert len(en) == len(zh) == 5
        assert says in _text(en) and never not in _text(en)
        assert s.cipher_label in _text(en) and s.cipher_label in _text(zh) and s.mac_label in _text(zh)
    with pytest.raises(ValueError, match="unknown master-key provider"):
        measures.cryptographic(measures.CryptoInForce(s, "vault", s.hash_label), "en")


def test_an_audit_log_that_turned_sm3_is_stated_as_sm3_after_a_return_to_international(runtime):
    with runtime.database.unit_of_work() as session:
        assert measures.in_force(session=session, policy=runtime.policy, settings=runtime.settings).audit_chain_hash == "SHA-256"
        chain.switch_to_sm3(session, OPERATOR, "test: the commercial_cn suite was in force")
    with runtime.database.unit_of_work() as session:
        c = measures.in_force(session=session, policy=runtime.policy, settings=runtime.settings)
    assert (c.suite.name, c.audit_chain_hash) == (suites.INTERNATIONAL, "SM3")
    assert "audit log hash-chained with SM3" in _text(measures.cryptographic(c, "en"))


def test_while_a_suite_migration_runs_the_record_says_what_is_not_converted_yet_and_once_it_is_done_no_more(runtime):
    from govern.crypto.models import KeyCheck
    from govern.crypto.recorded_suite import MIGRATED, MIGRATING, SUITE

    with runtime.database.unit_of_work() as session:  # what `govern keys migrate-suite` records when it begins
        version = max(session.scalars(select(KeyCheck.version).where(KeyCheck.kind == SUITE)).all() or [0]) + 1
        session.add(KeyCheck(kind=SUITE, version=version, check_value=suites.COMMERCIAL_CN, recorded_how=MIGRATING))
    during = {lang: _text(_measures(runtime, policy=_cn(runtime.policy), language=lang)) for lang in ("en", "zh")}
    assert "being converted from AES-256-GCM/HMAC-SHA256 by `govern keys migrate-suite`" in during["en"]
    assert "still sealed with AES-256-GCM and indexed with HMAC-SHA256" in during["en"]
    assert "正在由 AES-256-GCM/HMAC-SHA256 转换为 SM4-GCM/HMAC-SM3" in during["zh"]
    with runtime.database.unit_of_work() as session:  # and what it records when every value is converted and verified
        session.get(KeyCheck, (SUITE, version)).recorded_how = MIGRATED
    done = _text(_measures(runtime, policy=_cn(runtime.policy)))
    assert "SM4-GCM" in done and "AES" not in done and "converted" not in done


def test_the_compliance_pack_records_state_the_suite_in_force(runtime, make_subject, tmp_path):
    make_subject()
    result = pack.build(database=runtime.database, settings=runtime.settings, policy=_cn(runtime.policy), actor=OPERATOR,
                        start=utcnow() - timedelta(days=1), end=utcnow() + timedelta(seconds=1), out=tmp_path / "pack.zip")
    root = tmp_path / "unpacked"
    _unpack(result.path, root)
    for language in ("en", "zh"):
        doc = json.loads((root / f"records/records-of-processing.{language}.json").read_text())
        text = _text(doc["security_measures"])
        assert "SM4-GCM" in text and "AES-256-GCM" not in text and "HMAC-SHA256" not in text


# --- the policy's own measures --------------------------------------------------------------------------------------


ORGANISATIONAL_EN = "    - Purpose- and role-based access control, with masking per role\n"
ORGANISATIONAL_ZH = "    - 按目的与角色控制访问，按角色掩码显示\n"


@pytest.mark.parametrize(("old", "new", "where", "named"), [
    (ORGANISATIONAL_EN, "    - Field-level AES-256-GCM encryption with a data key per subject\n", "security_measures.en.0", "AES"),
    (ORGANISATIONAL_EN, "    - Searchable fields keep only an HMAC-SHA256 blind index\n", "security_measures.en.0", "HMAC"),
    (ORGANISATIONAL_EN, "    - Hashes in SHA-256\n", "security_measures.en.0", "SHA-256"),
    (ORGANISATIONAL_EN, "    - Checkpoints signed with ed25519\n", "security_measures.en.0", "ed25519"),
    (ORGANISATIONAL_EN, "    - Master keys in a hardware security module\n", "security_measures.en.0", "hardware security module"),
    (ORGANISATIONAL_ZH, "    - 逐字段SM4加密\n", "security_measures.zh.0", "SM4"),
    (ORGANISATIONAL_ZH, "    - 审计日志采用SM3哈希链\n", "security_measures.zh.0", "SM3"),
])
def test_a_policy_measure_naming_an_algorithm_is_refused_at_start_up(policies, old, new, where, named):
    path = policies / "processing.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    message = str(err.value)
    assert message.startswith(f"processing.yaml: {where}: names a cryptographic algorithm or key store ({named!r} in ")
    assert "generate the cryptographic measures from the suite in force (crypto.yaml crypto.suite)" in message


@pytest.mark.parametrize("text", [
    "Erasure by crypto-shredding, with tombstones that hold no personal data", "Staff shall use strong passwords",
    "Messages and processes are reviewed", "删除采用密钥销毁（加密擦除）", "Access reviewed every quarter (PIPL Art. 51(3))",
])
def test_organisational_words_are_not_taken_for_an_algorithm(text):
    assert naming_cryptography(text) is None


def test_the_shipped_policy_names_no_algorithm_in_its_own_measures():
    p = load_policy(PROJECT_ROOT / "policies")
    assert all(naming_cryptography(m) is None for lang in ("zh", "en") for m in p.processing.security_measures[lang])
    assert set(p.processing.security_measures) == {"zh", "en"}
