"""A missing or wrong keyring stops govern, naming the problem, instead of being replaced: the database keeps a
key-check value per master-key version, for the blind-index key and for the audit signing key's public half."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import delete, select

from govern.crypto import checks
from govern.crypto.keyring import Keyring
from govern.crypto.models import KeyCheck


@pytest.fixture
def recorded(runtime):
    """The database as govern leaves it: check values recorded from the installation's own keys."""
    checks.ensure(database=runtime.database, keyring=runtime.keyring, settings=runtime.settings)
    with runtime.database.unit_of_work() as session:
        return checks.recorded(session)


@pytest.fixture
def other_home(tmp_path, settings):
    """Another GOVERN_HOME against the same database (the audit signing key and checkpoints stay the installation's)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return replace(settings, home=home, audit_signing_key_file=settings.audit_key_path, checkpoint_dir=settings.audit_checkpoint_dir)


def _write(path, doc) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)


def _own_keyring_doc(settings) -> dict:
    return json.loads(settings.keyring_path.read_text())


def _start(s):
    from govern.runtime import build_runtime

    rt = build_runtime(s)
    rt.database.dispose()
    return rt


def _env(s) -> dict:
    return {
        **os.environ, "GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_POLICIES": str(s.policies_dir),
        "GOVERN_AUDIT_SIGNING_KEY_FILE": str(s.audit_key_path), "GOVERN_CHECKPOINT_DIR": str(s.audit_checkpoint_dir), "GOVERN_LOG_LEVEL": "WARNING",
    }


def _govern(s, *args):
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], env=_env(s), capture_output=True, text=True, timeout=120)


def _no_audit_key_recorded(runtime) -> None:
    """A database whose audit signing key is not recorded yet: the installation's own key may have been made and
    recorded by an earlier test (the harness empties key_checks after each test, so nothing needs putting back)."""
    with runtime.database.unit_of_work() as session:
        session.execute(delete(KeyCheck).where(KeyCheck.kind == checks.AUDIT_SIGNING))


def test_check_values_are_neither_the_keys_nor_their_plain_hashes(runtime, recorded):
    import hashlib

    keys = [runtime.keyring.master_key(v) for v in runtime.keyring.versions] + [runtime.keyring.index_key]
    forbidden = {k.hex() for k in keys} | {hashlib.sha256(k).hexdigest() for k in keys} | {base64.b64encode(k).decode() for k in keys}
    assert {(checks.MASTER, v) for v in runtime.keyring.versions} | {(checks.INDEX, 1)} <= set(recorded)
    assert not forbidden & set(recorded.values())


def test_a_deleted_keyring_stops_start_up_and_is_not_replaced(recorded, make_subject, other_home):
    make_subject()
    with pytest.raises(checks.KeyMismatch, match="no keyring at .* restore the keyring") as refused:
        _start(other_home)
    assert refused.value.problem == checks.MISSING_KEYRING
    assert not other_home.keyring_path.exists()


def test_init_and_serve_refuse_to_create_a_keyring_for_a_database_that_holds_data(recorded, make_subject, other_home):
    make_subject()
    for command in (["init"], ["serve", "--dev", "--port", "1"], ["keys", "status"]):
        result = _govern(other_home, *command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "no keyring at" in result.stderr and "restore the keyring" in result.stderr
        assert "Traceback" not in result.stderr
        assert not other_home.keyring_path.exists()


def test_a_database_with_check_values_but_no_subjects_still_needs_its_keyring(recorded, other_home):
    result = _govern(other_home, "init")
    assert result.returncode == 2 and "restore the keyring" in result.stderr
    assert not other_home.keyring_path.exists()


def test_a_keyring_from_another_installation_is_refused(recorded, make_subject, other_home):
    make_subject()
    Keyring.create(other_home.keyring_path)
    with pytest.raises(checks.KeyMismatch) as refused:
        _start(other_home)
    assert refused.value.problem == checks.VERSION_MISMATCH
    assert "master key version 1 does not match" in str(refused.value)
    assert "blind-index key changed" in str(refused.value)
    result = _govern(other_home, "principals", "list")
    assert result.returncode == 2 and "does not match" in result.stderr and "Traceback" not in result.stderr


def test_a_removed_version_is_named(runtime, recorded, other_home):
    doc = _own_keyring_doc(runtime.settings)
    doc["master_keys"].append({"version": max(runtime.keyring.versions) + 1, "key": base64.b64encode(os.urandom(32)).decode(), "created_at": "2026-12-04T00:00:00+00:00"})
    _write(other_home.keyring_path, doc)
    _start(other_home)  # a version the database has not seen yet is recorded (a rotation's), not refused
    doc["master_keys"] = [e for e in doc["master_keys"] if e["version"] != 1]
    doc["active"] = doc["master_keys"][-1]["version"]
    _write(other_home.keyring_path, doc)
    with pytest.raises(checks.KeyMismatch, match="master key version 1 is missing from the keyring") as refused:
        _start(other_home)
    assert refused.value.problem == checks.VERSION_MISSING


def test_a_swapped_index_key_is_named(runtime, recorded, other_home):
    doc = _own_keyring_doc(runtime.settings)
    doc["index_key"] = base64.b64encode(os.urandom(32)).decode()
    _write(other_home.keyring_path, doc)
    with pytest.raises(checks.KeyMismatch, match="blind-index key changed") as refused:
        _start(other_home)
    assert refused.value.problem == checks.INDEX_KEY_CHANGED


def test_an_older_database_restored_under_a_newer_keyring_starts(runtime, recorded, make_subject, other_home):
    """The keyring still holds every version the database knows; the newer ones are recorded on start."""
    sid = make_subject()
    doc = _own_keyring_doc(runtime.settings)
    newer = max(runtime.keyring.versions) + 1
    doc["master_keys"].append({"version": newer, "key": base64.b64encode(os.urandom(32)).decode(), "created_at": "2026-12-04T00:00:00+00:00"})
    doc["active"] = newer
    _write(other_home.keyring_path, doc)
    rt = _start(other_home)
    assert rt.keyring.active_version == newer
    with runtime.database.unit_of_work() as session:
        assert (checks.MASTER, newer) in checks.recorded(session)
    from govern.access import reads
    from govern.identity.actor import Actor

    with rt.database.unit_of_work() as session:
        read = reads.read(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor(name="t", kind="staff", roles=("dpo",)), subject_id=sid, purpose="legal_compliance")
    rt.database.dispose()
    assert read.fields["name"] == "张三"


def test_first_start_of_an_existing_database_records_its_keys_once_and_audits_it(runtime, make_subject, audit_events):
    make_subject()
    first = checks.ensure(database=runtime.database, keyring=runtime.keyring, settings=runtime.settings)
    again = checks.ensure(database=runtime.database, keyring=runtime.keyring, settings=runtime.settings)
    assert f"{checks.MASTER}:{runtime.keyring.active_version}" in first and f"{checks.INDEX}:1" in first
    assert again == []
    events = [e for e in audit_events() if e.action == "crypto:key-check:record"]
    assert len(events) == 1 and events[0].reason == "first_use"
    with runtime.database.unit_of_work() as session:
        assert {r.recorded_how for r in session.scalars(select(KeyCheck))} == {"first_use"}


def test_first_use_still_refuses_a_keyring_that_does_not_open_the_data(runtime, make_subject, other_home):
    """Trust on first use is tested against the data: a foreign keyring cannot be recorded over existing data."""
    make_subject()
    foreign = Keyring.create(other_home.keyring_path)
    while foreign.active_version < runtime.keyring.active_version:  # the same versions as the installation's (an earlier test may have rotated)
        foreign.begin_rotation()
        foreign.finish_rotation(0)
    with pytest.raises(checks.KeyMismatch, match="does not unwrap this database's data keys"):
        _start(other_home)


def test_rotation_records_the_new_versions_check_value(runtime, settings, make_subject, recorded):
    make_subject()
    before = runtime.keyring.active_version
    result = _govern(settings, "keys", "rotate", "--json")
    assert result.returncode == 0, result.stderr
    runtime.keyring.reload_if_changed(every_seconds=0)
    with runtime.database.unit_of_work() as session:
        row = session.get(KeyCheck, (checks.MASTER, before + 1))
    assert row is not None and row.recorded_how == "rotation"
    assert row.check_value == checks.master_check(runtime.keyring.master_key(before + 1), before + 1)


def test_readiness_fails_while_the_keyring_on_disk_is_wrong_and_the_instance_keeps_its_keys(app, runtime, recorded):
    path = runtime.settings.keyring_path
    own = path.read_bytes()
    stat = path.stat()
    doc = json.loads(own)
    doc["index_key"] = base64.b64encode(os.urandom(32)).decode()
    try:
        _write(path, doc)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        ready = app.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"]["keyring"]["ok"] is False
        assert ready.json["checks"]["keyring"]["problem"] == checks.INDEX_KEY_CHANGED
        assert runtime.keyring.index_key != base64.b64decode(doc["index_key"])  # the swapped file was not adopted
        with pytest.raises(checks.KeyMismatch):  # what every later look at the file meets, until it is put right
            runtime.keyring.reload_if_changed(every_seconds=0)
        path.unlink()
        gone = app.test_client().get("/readyz")
        assert gone.status_code == 503 and gone.json["checks"]["keyring"]["problem"] == checks.MISSING_KEYRING
    finally:
        _write(path, json.loads(own))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert app.test_client().get("/readyz").status_code == 200


def test_a_swapped_audit_signing_key_stops_start_up_until_rotated_properly(runtime, recorded, other_home, tmp_path):
    from govern.audit import signing

    _no_audit_key_recorded(runtime)
    s = replace(other_home, audit_signing_key_file=tmp_path / "audit-signing-key.json", checkpoint_dir=tmp_path / "checkpoints")
    _write(s.keyring_path, _own_keyring_doc(runtime.settings))
    signing.load(s)  # made at first use
    _start(s)  # and recorded at the next start
    own = s.audit_key_path.read_bytes()
    s.audit_key_path.unlink()
    with pytest.raises(checks.KeyMismatch, match="audit signing key .* is missing") as missing:
        _start(s)
    assert missing.value.problem == checks.AUDIT_KEY_MISSING
    signing._write_key_file(s.audit_key_path, signing.Ed25519PrivateKey.generate())
    with pytest.raises(checks.KeyMismatch) as changed:
        _start(s)
    assert changed.value.problem == checks.AUDIT_KEY_CHANGED
    s.audit_key_path.write_bytes(own)
    rotated = _govern(s, "audit", "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    _start(s)  # the new key was recorded with its rotation


def test_an_audit_signing_key_from_the_environment_is_checked_alike_and_changed_only_on_purpose(runtime, recorded, other_home, tmp_path):
    from govern.audit import signing

    def env_key() -> str:
        return base64.b64encode(signing._raw(signing.Ed25519PrivateKey.generate())).decode()

    _no_audit_key_recorded(runtime)
    _write(other_home.keyring_path, _own_keyring_doc(runtime.settings))
    first = replace(other_home, audit_signing_key=env_key(), audit_signing_key_file=None, checkpoint_dir=tmp_path / "checkpoints")
    _start(first)
    changed = replace(first, audit_signing_key=env_key())
    with pytest.raises(checks.KeyMismatch, match="accept-audit-key") as refused:
        _start(changed)
    assert refused.value.problem == checks.AUDIT_KEY_CHANGED
    accepted = subprocess.run(
        [sys.executable, "-m", "govern.cli", "keys", "accept-audit-key", "--reason", "yearly rotation of the signing key", "--json"],
        env={**_env(changed), "GOVERN_AUDIT_SIGNING_KEY": changed.audit_signing_key}, capture_output=True, text=True, timeout=120,
    )
    assert accepted.returncode == 0, accepted.stderr
    _start(changed)
    with pytest.raises(checks.KeyMismatch):  # and the earlier key cannot come back unnoticed
        _start(first)


def test_a_signing_key_others_can_read_stops_a_command_with_a_sentence_not_a_traceback(runtime, recorded, other_home, tmp_path):
    from govern.audit import signing

    s = replace(other_home, audit_signing_key_file=tmp_path / "audit-signing-key.json")
    _write(s.keyring_path, _own_keyring_doc(runtime.settings))
    signing.load(s)
    s.audit_key_path.chmod(0o644)
    result = _govern(s, "principals", "list")
    assert result.returncode == 2 and "chmod 600" in result.stderr and "Traceback" not in result.stderr


def test_a_data_key_under_a_version_the_keyring_lacks_answers_503_not_500(runtime, make_subject, client_as):
    from sqlalchemy import update

    from govern.crypto.models import SubjectKey

    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        wrapped = session.get(SubjectKey, sid).wrapped_key
        forged = wrapped[:1] + (99).to_bytes(4, "big") + wrapped[5:]  # the header's key version (format byte, then version)
        session.execute(update(SubjectKey).where(SubjectKey.subject_id == sid).values(wrapped_key=forged, master_key_version=99))
    read = client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert read.status_code == 503 and read.json["code"] == "keyring_unavailable"
