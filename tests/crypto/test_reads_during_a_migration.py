"""A running service while `govern keys migrate-suite` converts its data: the service is started as an operator leaves it
(the policy it loaded still names international) over the keyring file the command changes, and its workers learn of
the migration only through that file. Its audited hot reads answer throughout; once the migration ends it writes and
looks up in the new suite."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import delete

from govern.audit.tags import SubjectAction
from govern.crypto import checks, migration, suites
from govern.crypto.cli import normaliser, runtime_for
from govern.crypto.models import KeyCheck
from govern.identity.actor import Actor
from tests.conftest import ApiClient
from tests.crypto.test_suite_migration import cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import lookup, seed, stored

SUBJECTS = 40
READERS = 4


@pytest.fixture(params=[2, 1], ids=["keyring format 2", "keyring format 1"])
def service(request, runtime, cn_home, settings):  # noqa: F811  (the fixture imported above)
    """The service as it runs when the operator edits policies/crypto.yaml: its policy loaded before (international), its
    keyring the file the command will change (an app of its own; the session's app keeps the session's keyring). A
    keyring made before suites existed (format 1) has no SM4 keys until the command gives it some."""
    from govern.app import create_app
    from govern.runtime import build_runtime

    if request.param == 1:
        doc = json.loads(cn_home.keyring_path.read_text())
        doc["format"] = 1
        for entry in doc["master_keys"]:
            del entry["sm4_key"]
        cn_home.keyring_path.write_text(json.dumps(doc))
        with runtime.database.engine.begin() as conn:  # nor had its database an SM4 key to check
            conn.execute(delete(KeyCheck).where(KeyCheck.kind == checks.MASTER_SM4))
    rt = build_runtime(replace(cn_home, policies_dir=settings.policies_dir))
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    yield rt, app
    rt.database.dispose()


def _migrate(cn, **kw) -> migration.MigrationResult:
    """The command as `govern keys migrate-suite` runs it: its own runtime, small batches, the real settling pause."""
    rt = runtime_for(cn)
    try:
        return migration.migrate(database=rt.database, envelope=rt.envelope, settings=cn, actor=Actor.operator(), normalise=normaliser(rt.policy), batch_size=2, **kw)
    finally:
        rt.database.dispose()


def test_audited_hot_reads_during_the_migration_all_answer_the_right_values_and_the_verification_passes(
    runtime, service, cn_home, make_principal, audit_events,  # noqa: F811
):
    svc, app = service
    sids = [seed(runtime, 1, name=f"张{i}", email=f"p{i}@example.cn")[0] for i in range(SUBJECTS)]
    principal, key = make_principal("sales_service")
    crm = ApiClient(app.test_client(), key, principal.id, principal.name)
    expected = {}
    for sid in sids:
        first = crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
        assert first.status_code == 200
        expected[sid] = first.get_data()
    assert {expected[sid].count(f"p{i}@".encode()) for i, sid in enumerate(sids)} == {1}  # each body names its own subject

    converting, done = threading.Event(), threading.Event()  # the first batch committed; the command returned
    answers: list[tuple[bool, int, bool]] = []  # (while subjects were converted, status, body as before)
    errors: list[BaseException] = []

    def reader(offset: int) -> None:
        client = ApiClient(app.test_client(), key, principal.id, principal.name)
        try:
            n = offset
            while not done.is_set() or n < offset + SUBJECTS:
                sid = sids[n % SUBJECTS]
                during = converting.is_set() and not done.is_set()
                r = client.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
                answers.append((during, r.status_code, r.get_data() == expected[sid]))
                n += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def between_batches(_progress) -> None:
        converting.set()
        time.sleep(0.1)  # the readers get a turn between every two batches, half the subjects in each suite midway

    threads = [threading.Thread(target=reader, args=(i * SUBJECTS // READERS,)) for i in range(READERS)]
    for t in threads:
        t.start()
    try:
        result = _migrate(cn_home, on_progress=between_batches)  # MigrationIncomplete if its verification fails
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert (result.converted, result.total, result.suite) == (SUBJECTS, SUBJECTS, suites.COMMERCIAL_CN)
    assert {stored(svc, sid)[0][0] for sid in sids} == {suites.SM4_GCM}
    assert sum(1 for during, _, _ in answers if during) >= SUBJECTS // 2  # reads ran while some subjects were converted and others not
    bad = [(status, same) for _, status, same in answers if status != 200 or not same]
    assert bad == [], f"{len(bad)} of {len(answers)} reads failed or answered other bytes: {bad[:5]}"
    reads = audit_events(action=SubjectAction.READ, actor_id=principal.id)
    assert len(reads) == SUBJECTS + len(answers)  # every read is audited


def test_a_running_service_writes_and_finds_in_the_new_suite_once_the_migration_ends(runtime, service, cn_home):  # noqa: F811
    svc, _ = service
    [old] = seed(runtime, 1, email="old@example.cn")
    assert svc.envelope.suite.name == suites.INTERNATIONAL
    _migrate(cn_home)
    time.sleep(2.1)  # the service looks at its keyring file at most every 2 s
    assert svc.envelope.suite.name == suites.COMMERCIAL_CN
    assert lookup(svc, "email", "old@example.cn") == [old]  # its index was recomputed under HMAC-SM3
    [new] = seed(svc, 1, email="new@example.cn")
    wrapped, fields = stored(svc, new)
    assert wrapped[0] == suites.SM4_GCM and dict((n, i) for n, _, i in fields)["email"] == svc.envelope.blind_index("email", "new@example.cn")
    assert lookup(svc, "email", "new@example.cn") == [new]
