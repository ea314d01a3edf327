"""Master keys in a PKCS#11 token (Debian's SoftHSM2, installed by `make install-test`): data keys are wrapped and
unwrapped inside the token, rotation makes the new version there and resumes after being killed, the key-check values
tell a foreign token key from the database's, bad configuration stops start-up naming the problem, and the data-key
cache keeps the token off the read path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import _softhsm
from govern.crypto import checks
from govern.crypto.models import KeyCheck, SubjectKey
from tests.conftest import VALID_FIELDS, empty_all_tables, fixture_collection

MODULE = _softhsm.MODULE
TOKEN, PIN = "govern-test", "314159"
OTHER_TOKEN, OTHER_PIN = "govern-other", "271828"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory) -> Path:
    """A SoftHSM2 configuration of the session's own, with two initialised tokens and a PIN file for each
    (bench/_softhsm.py, shared with bench/read_path.py --provider pkcs11)."""
    where = tmp_path_factory.mktemp("softhsm")
    _softhsm.configure(where)
    for label, pin in ((TOKEN, PIN), (OTHER_TOKEN, OTHER_PIN)):
        _softhsm.init_token(where, label, pin)
    return where


def _uri(softhsm: Path, *, token: str = TOKEN, label: str, module: str = MODULE, pin_file: str | None = None) -> str:
    return _softhsm.kek_uri(softhsm, token=token, label=label, module=module, pin_file=pin_file)


@pytest.fixture
def hsm_settings(runtime, settings, softhsm, tmp_path):
    """A GOVERN_HOME whose master keys are in the token (a key label of its own per test), against the test database
    emptied first: govern init there makes version 1 in the token."""
    from govern.cli_support import initialise

    empty_all_tables(runtime)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    hsm = replace(settings, home=home, kek=_uri(softhsm, label=f"kek-{uuid.uuid4().hex[:8]}"),
                  audit_signing_key_file=settings.audit_key_path, checkpoint_dir=settings.audit_checkpoint_dir)
    initialise(hsm)
    return hsm


@pytest.fixture
def hsm_runtime(hsm_settings):
    from govern.runtime import build_runtime

    rt = build_runtime(hsm_settings)
    yield rt
    rt.keyring.close()
    rt.database.dispose()


def _env(settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOVERN_HOME=str(settings.home), GOVERN_DATABASE_URL=settings.database_url, GOVERN_POLICIES=str(settings.policies_dir),
               GOVERN_AUDIT_SIGNING_KEY_FILE=str(settings.audit_key_path), GOVERN_CHECKPOINT_DIR=str(settings.audit_checkpoint_dir))
    if settings.kek:
        env["GOVERN_KEK"] = settings.kek
    return env


def _govern(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], env=_env(settings), capture_output=True, text=True, timeout=120)


def _seed(rt, n: int) -> list[uuid.UUID]:
    from govern.identity.actor import Actor
    from govern.subjects import service

    with rt.database.unit_of_work() as session:
        return [service.create(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), jurisdiction="CN",
                               fields={**VALID_FIELDS, "email": f"h{i}@example.cn"}, collection=fixture_collection("CN")).id for i in range(n)]


def _read_all(rt, ids) -> None:
    from govern.access import reads
    from govern.identity.actor import Actor

    actor = Actor(name="t", kind="staff", roles=("dpo",))
    with rt.database.unit_of_work() as session:
        for sid in ids:
            assert reads.read(session=session, policy=rt.policy, envelope=rt.envelope, actor=actor, subject_id=sid, purpose="legal_compliance").fields["name"] == "张三"


def _versions(rt) -> dict[int, int]:
    with rt.database.unit_of_work() as session:
        return dict(session.execute(select(SubjectKey.master_key_version, func.count()).group_by(SubjectKey.master_key_version)).all())


def _token_keys(rt) -> list:
    from govern.crypto import hsm

    return hsm._find(rt.keyring._session, rt.keyring.address.label)


def test_data_keys_are_wrapped_in_the_token_whose_key_cannot_be_read_out(hsm_runtime):
    from pkcs11 import Attribute
    from pkcs11.exceptions import AttributeSensitive

    ids = _seed(hsm_runtime, 3)
    hsm_runtime.envelope.cache.clear()
    before = hsm_runtime.keyring.token_calls
    _read_all(hsm_runtime, ids)
    assert hsm_runtime.keyring.token_calls - before == 3  # each cold data key was unwrapped by the token
    (key,) = _token_keys(hsm_runtime)
    assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
    with pytest.raises(AttributeSensitive):
        key[Attribute.VALUE]
    state = json.loads((hsm_runtime.settings.home / "kek-state.json").read_text())
    assert state["active"] == 1 and state["label"] == hsm_runtime.keyring.address.label
    assert not (hsm_runtime.settings.home / "keyring.json").exists()  # no key material on disk at all
    again = _govern(hsm_runtime.settings, "init")  # safe to run twice; says where the master keys are
    assert again.returncode == 0, again.stderr
    assert f"master keys in PKCS#11 token 'govern-test', key label '{state['label']}'" in again.stdout


def test_init_adopts_a_key_made_in_the_token_at_a_key_ceremony(runtime, settings, softhsm, tmp_path):
    """An operator who generated the key in the HSM beforehand (no CKA_ID) gets it used as version 1, not a second one."""
    import pkcs11
    from pkcs11 import Attribute, KeyType

    from govern.cli_support import initialise
    from govern.runtime import build_runtime

    label = f"ceremony-{uuid.uuid4().hex[:8]}"
    session = pkcs11.lib(MODULE).get_token(token_label=OTHER_TOKEN).open(user_pin=OTHER_PIN, rw=True)
    try:
        session.generate_key(KeyType.AES, 256, label=label, store=True, template={
            Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True, Attribute.DECRYPT: True, Attribute.SIGN: True})
        empty_all_tables(runtime)
        home = tmp_path / "home"
        home.mkdir(mode=0o700)
        adopted = replace(settings, home=home, kek=_uri(softhsm, token=OTHER_TOKEN, label=label),
                          audit_signing_key_file=settings.audit_key_path, checkpoint_dir=settings.audit_checkpoint_dir)
        initialise(adopted)
        rt = build_runtime(adopted)
        try:
            assert rt.keyring.versions == [1] and len(_token_keys(rt)) == 1
            _read_all(rt, _seed(rt, 2))
        finally:
            rt.keyring.close()
            rt.database.dispose()
    finally:
        session.close()


def test_key_check_values_come_from_the_token_and_refuse_another_tokens_key(hsm_runtime, hsm_settings, softhsm, tmp_path):
    from govern.runtime import build_runtime

    _seed(hsm_runtime, 2)
    with hsm_runtime.database.unit_of_work() as session:
        master = session.get(KeyCheck, ("master", 1))
    assert master is not None and master.check_value == hsm_runtime.keyring.check_value(1)
    # The same label in another token, made by another govern init: version 1 again, but not this database's key.
    foreign_home = tmp_path / "foreign"
    foreign_home.mkdir(mode=0o700)
    from govern.crypto.hsm import TokenKeyring

    TokenKeyring.create(_uri(softhsm, token=OTHER_TOKEN, label=hsm_runtime.keyring.address.label), foreign_home).close()
    with pytest.raises(checks.KeyMismatch) as refused:
        build_runtime(replace(hsm_settings, home=foreign_home, kek=_uri(softhsm, token=OTHER_TOKEN, label=hsm_runtime.keyring.address.label)))
    assert refused.value.problem == checks.VERSION_MISMATCH


@pytest.mark.slow
def test_rotation_makes_the_new_version_in_the_token_and_resumes_after_being_killed(hsm_runtime, hsm_settings):
    ids = _seed(hsm_runtime, 60)
    proc = subprocess.Popen([sys.executable, "-m", "govern.cli", "keys", "rotate", "--batch-size", "5", "--pause", "0.2"],
                            env=_env(hsm_settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not 0 < _versions(hsm_runtime).get(1, 0) < 60:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    half = _versions(hsm_runtime)
    assert set(half) == {1, 2}, half  # genuinely interrupted
    hsm_runtime.envelope.cache.clear()
    _read_all(hsm_runtime, ids)  # half-rotated: both token keys unwrap

    done = _govern(hsm_settings, "keys", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["resumed"] is True and result["version"] == 2 and result["rewrapped"] == half[1]
    assert _versions(hsm_runtime) == {2: 60}
    assert sorted(k.id for k in _token_keys(hsm_runtime)) == [(1).to_bytes(4, "big"), (2).to_bytes(4, "big")]
    hsm_runtime.envelope.cache.clear()
    hsm_runtime.keyring.reload_if_changed(every_seconds=0)
    _read_all(hsm_runtime, ids)
    status = json.loads(_govern(hsm_settings, "keys", "status", "--json").stdout)
    assert status["provider"] == "pkcs11" and status["active"] == 2 and status["rotation"] is None
    with hsm_runtime.database.unit_of_work() as session:
        assert session.get(KeyCheck, ("master", 2)).check_value == hsm_runtime.keyring.check_value(2)


def test_the_token_is_called_once_per_cold_data_key_not_per_read(hsm_runtime):
    """1,000 reads of 20 subjects: 20 token calls (one per subject whose data key was not cached), then none."""
    ids = _seed(hsm_runtime, 20)
    hsm_runtime.envelope.cache.clear()
    reads = [ids[i % len(ids)] for i in range(1000)]
    before = hsm_runtime.keyring.token_calls
    _read_all(hsm_runtime, reads)
    assert hsm_runtime.keyring.token_calls - before == 20
    before = hsm_runtime.keyring.token_calls
    _read_all(hsm_runtime, reads)
    assert hsm_runtime.keyring.token_calls - before == 0  # warm cache: the token is off the read path


def _refused(settings, uri: str) -> str:
    run = _govern(replace(settings, kek=uri), "keys", "status")
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr
    return run.stderr


def test_bad_token_configuration_stops_start_up_naming_the_problem(hsm_settings, softhsm, tmp_path):
    label = hsm_settings.kek.split("object=")[1].split("?")[0]
    wrong_pin = tmp_path / "wrong.pin"
    wrong_pin.write_text("000000\n")
    assert "wrong PIN for PKCS#11 token 'govern-test'" in _refused(hsm_settings, _uri(softhsm, label=label, pin_file=str(wrong_pin)))
    assert "no PKCS#11 token labelled 'absent'" in _refused(hsm_settings, _uri(softhsm, token="absent", label=label))
    assert "PKCS#11 module /opt/nowhere/libhsm.so does not exist" in _refused(hsm_settings, _uri(softhsm, label=label, module="/opt/nowhere/libhsm.so"))
    assert "PIN file /opt/nowhere/pin" in _refused(hsm_settings, _uri(softhsm, label=label, pin_file="/opt/nowhere/pin"))
    assert "no key labelled 'ghost' in PKCS#11 token 'govern-test'" in _refused(hsm_settings, _uri(softhsm, label="ghost"))
    assert "names no module-path" in _refused(hsm_settings, f"pkcs11:token={TOKEN};object={label}?pin-source=file:/x")


def test_a_missing_state_file_over_encrypted_data_is_refused_not_replaced(hsm_runtime, hsm_settings, tmp_path):
    _seed(hsm_runtime, 1)
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    run = _govern(replace(hsm_settings, home=empty), "init")
    assert run.returncode == 2 and "kek-state.json" in run.stderr and "holds data encrypted under one" in run.stderr
    assert not (empty / "kek-state.json").exists()


def test_the_default_provider_is_the_file_keyring_and_loads_nothing_of_pkcs11(runtime, settings):
    """`make run` needs no token: without GOVERN_KEK, start-up uses keyring.json and never imports the PKCS#11 binding."""
    probe = "import sys; from govern.runtime import build_runtime; from govern.config import Settings; " \
            "rt = build_runtime(Settings.from_env()); print(rt.keyring.kind, 'pkcs11' in sys.modules)"
    env = {k: v for k, v in _env(settings).items() if k != "GOVERN_KEK"}
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["file", "False"]


def test_the_commercial_suite_is_refused_with_a_token_before_anything_is_made(hsm_runtime, hsm_settings, softhsm, tmp_path):
    """SoftHSM2 has no SM4: commercial_cn with GOVERN_KEK=pkcs11 stops start-up (and `govern init` before it generates a
    key in the token) rather than wrapping SM4 data keys with AES."""
    from tests.crypto.test_suites import policies_with

    cn_policies = policies_with(tmp_path, hsm_settings, "commercial_cn")
    run = _govern(replace(hsm_settings, policies_dir=cn_policies), "keys", "status")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "names the commercial_cn suite, but this database's data is under international" in run.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    empty_all_tables(hsm_runtime)
    label = f"kek-{uuid.uuid4().hex[:8]}"
    run = _govern(replace(hsm_settings, home=fresh, policies_dir=cn_policies, kek=_uri(softhsm, label=label)), "init")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "commercial_cn suite cannot be used with the PKCS#11 provider" in run.stderr and "SoftHSM2 has no SM4" in run.stderr
    assert not (fresh / "kek-state.json").exists()
    from govern.crypto import hsm

    assert hsm._find(hsm_runtime.keyring._session, label) == []  # no key was generated for a deployment that cannot start
