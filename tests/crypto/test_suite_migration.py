"""`govern keys migrate-suite`: every subject's data key, values and blind indexes, and every webhook endpoint's key and
secret, converted to the suite policies/crypto.yaml names, resumably; the service keeps reading and finding subjects
throughout; the recorded suite switches at the end; a second run has nothing to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import LargeBinary, select

from govern.crypto import migration, recorded_suite, suites
from govern.crypto.cli import normaliser, runtime_for
from govern.crypto.models import KeyCheck, SubjectKey
from govern.identity.actor import Actor
from tests.consent.conftest import consent, crm, years_ago  # noqa: F401  (fixtures)
from tests.crypto.test_suites import home_with, lookup, read, seed, stored

CN = suites.suite(suites.COMMERCIAL_CN)


@pytest.fixture
def cn_home(runtime, tmp_path, settings):
    """The installation's keyring in a GOVERN_HOME of its own whose policy names commercial_cn: what an operator has
    after editing policies/crypto.yaml (the session's keyring file is left as it is for the other tests)."""
    cn = home_with(tmp_path, settings, suites.COMMERCIAL_CN, name="cn-home")
    shutil.copy2(settings.keyring_path, cn.keyring_path)
    return cn


def _migrate(rt, cn, **kw) -> migration.MigrationResult:
    return migration.migrate(database=rt.database, envelope=rt.envelope, settings=cn, actor=Actor.operator(),
                             normalise=normaliser(rt.policy), settle_seconds=0, **kw)


def _endpoint(runtime) -> uuid.UUID:
    from govern.crypto.envelope import Envelope
    from govern.webhooks.models import WebhookEndpoint

    eid = uuid.uuid4()
    dek, wrapped, version = runtime.envelope.new_data_key(eid)
    with runtime.database.unit_of_work() as session:
        session.add(WebhookEndpoint(
            id=eid, name="crm", url="https://crm.example.cn/hook", owner_kind="principal", owner_id=uuid.uuid4(), event_types=["subject.erased"],
            wrapped_key=wrapped, master_key_version=version, secret_generation=2, sealed_secret=Envelope.seal(dek, eid, "webhook-secret:2", b"whsec_new"),
            previous_sealed_secret=Envelope.seal(dek, eid, "webhook-secret:1", b"whsec_old"), previous_valid_until=datetime(2999, 1, 1, tzinfo=timezone.utc),
            created_by="t",
        ))
    return eid


def _secrets(rt, eid) -> list[str]:
    from govern.webhooks import service
    from govern.webhooks.models import WebhookEndpoint

    with rt.database.unit_of_work() as session:
        return service.signing_secrets(envelope=rt.envelope, endpoint=session.get(WebhookEndpoint, eid), now=datetime.now(timezone.utc))


def _add_record(rt, sid) -> uuid.UUID:
    from govern.subjects import service

    with rt.database.unit_of_work() as session:
        return service.add_record(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), subject_id=sid, type="purchase",
                                  occurred_at=datetime(2026, 1, 2, tzinfo=timezone.utc), payload={"sku": "A-1", "amount": 12}).id


def _record_payload(rt, sid, rid) -> Any:
    import json

    from govern.subjects.models import Record

    with rt.database.unit_of_work() as session:
        row = session.get(Record, rid)
        dek = rt.envelope.unwrap(sid, session.get(SubjectKey, sid).wrapped_key)
        return row.ciphertext[0], json.loads(rt.envelope.open(dek, sid, f"record:{rid}", row.ciphertext))


def test_the_data_moves_to_sm4_and_sm3_and_the_recorded_suite_switches(runtime, cn_home, audit_events):
    sids = seed(runtime, 5)
    rid = _add_record(runtime, sids[0])
    eid = _endpoint(runtime)
    rt = runtime_for(cn_home)  # a policy naming the target is not a mismatch for the migration itself
    shown = []
    try:
        result = _migrate(rt, cn_home, batch_size=2, on_progress=shown.append)
        assert (result.suite, result.source, result.resumed, result.converted, result.total, result.endpoints) == (suites.COMMERCIAL_CN, suites.INTERNATIONAL, False, 5, 5, 1)
        assert result.values >= 5 * 6 + 1  # every field of every subject and the record
        assert [p.done for p in shown] == [2, 4, 5] and shown[-1].total == 5
        for sid in sids:
            wrapped, fields = stored(rt, sid)
            assert wrapped[0] == suites.SM4_GCM and {blob[0] for _, blob, _ in fields} == {suites.SM4_GCM}
            email = dict((n, i) for n, _, i in fields)["email"]
            assert email == CN.mac(rt.keyring.index_key, f"email\x00{read(rt, sid)['email']}".encode())
        assert _record_payload(rt, sids[0], rid) == (suites.SM4_GCM, {"sku": "A-1", "amount": 12})
        assert lookup(rt, "email", "s3@example.cn") == [sids[3]]
        assert _secrets(rt, eid) == ["whsec_new", "whsec_old"]
        with rt.database.unit_of_work() as session:
            assert recorded_suite.state(session) == recorded_suite.SuiteState(suites.COMMERCIAL_CN, None, 2)
        assert rt.keyring.suite == suites.COMMERCIAL_CN and rt.keyring.suite_migration is None
        assert migration.status(database=rt.database)["data_keys_by_suite"] == {suites.COMMERCIAL_CN: 5}
        actions = [(e.action, e.resource) for e in audit_events() if e.action.startswith("crypto:suite:")]
        assert actions == [("crypto:suite:migrate-begin", "suite:commercial_cn"), ("crypto:suite:migrate-finish", "suite:commercial_cn")]
        again = _migrate(rt, cn_home)
        assert again.already and again.converted == 0  # safe to run twice
        from govern.runtime import build_runtime

        started = build_runtime(cn_home)  # the commercial policy now starts as any other
        started.database.dispose()
        with pytest.raises(recorded_suite.SuiteRefused, match="data is under commercial_cn"):
            build_runtime(runtime.settings)  # and the international one no longer does
    finally:
        rt.database.dispose()


def test_a_killed_migration_resumes_and_the_service_finds_subjects_under_either_suite_meanwhile(runtime, cn_home, monkeypatch):
    sids = seed(runtime, 6)
    rt = runtime_for(cn_home)
    calls = {"n": 0}
    real = migration.convert_subject

    def dies_on_the_fourth(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the process killed in its second batch: that batch's transaction rolls back
        return real(*args, **kw)

    try:
        monkeypatch.setattr(migration, "convert_subject", dies_on_the_fourth)
        with pytest.raises(KeyboardInterrupt):
            _migrate(rt, cn_home, batch_size=3)
        monkeypatch.setattr(migration, "convert_subject", real)
        formats = [stored(rt, sid)[0][0] for sid in sids]
        assert sorted(formats) == [suites.AES_GCM] * 3 + [suites.SM4_GCM] * 3  # the first batch committed whole, the second not at all
        with rt.database.unit_of_work() as session:
            state = recorded_suite.state(session)
        assert state == recorded_suite.SuiteState(suites.INTERNATIONAL, suites.COMMERCIAL_CN, 2)
        # Meanwhile: reads and look-ups of either kind of subject work, and a new subject is made in the target suite.
        for i, sid in enumerate(sids):
            assert read(rt, sid)["name"] == "张三"
            assert lookup(rt, "email", f"s{i}@example.cn") == [sid]
        [new] = seed(rt, 1, email="late@example.cn")
        assert stored(rt, new)[0][0] == suites.SM4_GCM
        # A service started now, with either policy, runs: a migration is under way.
        from govern.runtime import build_runtime

        for s in (runtime.settings, cn_home):
            build_runtime(s).database.dispose()
        result = _migrate(rt, cn_home, batch_size=3)
        assert result.resumed and result.converted == 3 and result.total == 3
        assert {stored(rt, sid)[0][0] for sid in [*sids, new]} == {suites.SM4_GCM}
        for i, sid in enumerate(sids):
            assert lookup(rt, "email", f"s{i}@example.cn") == [sid]
    finally:
        rt.database.dispose()


def test_a_subject_written_during_a_migration_keeps_blind_indexes_of_its_data_key_s_suite(runtime, cn_home, monkeypatch):
    from govern.subjects import service

    sids = seed(runtime, 4)
    rt = runtime_for(cn_home)
    real, calls = migration.convert_subject, {"n": 0}

    def dies_on_the_third(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed in its second batch: two subjects converted, two not
        return real(*args, **kw)

    def email_index(sid) -> tuple[int, str | None]:
        wrapped, fields = stored(rt, sid)
        return wrapped[0], next(index for name, _, index in fields if name == "email")

    try:
        monkeypatch.setattr(migration, "convert_subject", dies_on_the_third)
        with pytest.raises(KeyboardInterrupt):
            _migrate(rt, cn_home, batch_size=2)
        monkeypatch.setattr(migration, "convert_subject", real)
        for i, sid in enumerate(sids):  # a worker updates every subject while the migration is under way
            with rt.database.unit_of_work() as session:
                service.update(session=session, policy=rt.policy, envelope=rt.envelope, actor=Actor.operator(), subject_id=sid,
                               expected_version=service.get_or_raise(session=session, subject_id=sid).version, fields={"email": f"moved{i}@example.cn"})
        formats = set()
        for i, sid in enumerate(sids):
            fmt, index = email_index(sid)
            formats.add(fmt)
            assert index == rt.envelope.blind_index("email", f"moved{i}@example.cn", suites.of_format(fmt))  # its data key's suite
            assert lookup(rt, "email", f"moved{i}@example.cn") == [sid]
        assert formats == {suites.AES_GCM, suites.SM4_GCM}
        _migrate(rt, cn_home, batch_size=2)
        for i, sid in enumerate(sids):
            assert email_index(sid) == (suites.SM4_GCM, rt.envelope.blind_index("email", f"moved{i}@example.cn", CN))
    finally:
        rt.database.dispose()


def test_the_migration_refuses_while_a_rotation_is_unfinished_and_changes_nothing(runtime, cn_home):
    seed(runtime, 1)
    rt = runtime_for(cn_home)
    try:
        version = rt.keyring.begin_rotation()
        with pytest.raises(migration.MigrationRefused, match=f"rotation to v{version} is unfinished"):
            _migrate(rt, cn_home)
        with rt.database.unit_of_work() as session:
            assert session.scalars(select(KeyCheck.check_value).where(KeyCheck.kind == recorded_suite.SUITE)).all() == [suites.INTERNATIONAL]
    finally:
        rt.database.dispose()


def test_every_sealed_column_is_one_the_migration_converts():
    """A LargeBinary column is a ciphertext under a subject's key (listed in migration.SEALED), a wrapped key, an
    endpoint's secrets, or named here with what it holds instead."""
    from govern.tables import metadata

    not_sealed = {("consent_states", "adult_evidence")}  # a fingerprint of the birth date's ciphertext, not a value
    handled = {(s.table, s.column) for s in migration.SEALED} | {("subject_keys", "wrapped_key")} | {
        (migration.ENDPOINTS, c) for c in ("wrapped_key", "sealed_secret", "previous_sealed_secret")}
    binary = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns if isinstance(c.type, LargeBinary)}
    assert binary - handled - not_sealed == set()


def test_the_command_migrates_with_a_progress_line_and_a_rerun_has_nothing_to_do(runtime, cn_home):
    seed(runtime, 2)
    env = {**os.environ, "GOVERN_HOME": str(cn_home.home), "GOVERN_DATABASE_URL": cn_home.database_url, "GOVERN_POLICIES": str(cn_home.policies_dir),
           "GOVERN_AUDIT_SIGNING_KEY_FILE": str(cn_home.audit_key_path), "GOVERN_CHECKPOINT_DIR": str(cn_home.audit_checkpoint_dir), "GOVERN_LOG_LEVEL": "WARNING"}
    run = subprocess.run([sys.executable, "-m", "govern.cli", "keys", "migrate-suite", "--batch-size", "1"], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "converted 1/2 subjects (50.0%)" in run.stderr and "converted 2/2 subjects (100.0%)" in run.stderr
    assert "started migration from international to commercial_cn: 2 of 2 subjects" in run.stdout
    run = subprocess.run([sys.executable, "-m", "govern.cli", "keys", "migrate-suite"], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0 and "the data is under commercial_cn already" in run.stdout


def test_a_minors_guardian_details_in_the_append_only_consent_log_are_resealed_and_nothing_else_there_changes(
    runtime, cn_home, make_subject, valid_fields, is_postgres, request,
):
    from sqlalchemy import text

    client, grant = request.getfixturevalue("crm"), request.getfixturevalue("consent")

    sid = make_subject({**valid_fields, "birth_date": years_ago(13)})
    guardian = {"relationship": "parent", "name": "王小红", "verification": "household register seen in store 0451"}
    assert grant(client, sid, "grant", guardian=guardian, separate=True).status_code == 201
    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        with rt.database.engine.connect() as conn:
            sealed, receipt = conn.execute(text("SELECT guardian_sealed, receipt_id FROM consent_events WHERE guardian_sealed IS NOT NULL")).one()
        assert sealed[0] == suites.SM4_GCM
        with rt.database.unit_of_work() as session:
            dek = rt.envelope.unwrap(sid, session.get(SubjectKey, sid).wrapped_key)
        assert "王小红" in rt.envelope.open(dek, sid, f"consent-guardian:{uuid.UUID(str(receipt))}", sealed).decode()
        if is_postgres:  # the log stays append-only for anything but the re-seal
            from sqlalchemy.exc import DBAPIError

            with pytest.raises(DBAPIError, match="append-only"), rt.database.engine.begin() as conn:
                conn.execute(text("UPDATE consent_events SET purpose = 'analytics'"))
            with pytest.raises(DBAPIError, match="append-only"), rt.database.engine.begin() as conn:
                conn.execute(text("DELETE FROM consent_events"))
    finally:
        rt.database.dispose()
