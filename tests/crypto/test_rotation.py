"""Master-key rotation rewraps every data key, resumes after being killed, refuses to run twice at once, and leaves
every subject readable."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from govern.crypto.models import SubjectKey
from tests.conftest import VALID_FIELDS, fixture_collection

pytestmark = pytest.mark.slow


def _env(settings):
    env = dict(os.environ)
    env.update(GOVERN_HOME=str(settings.home), GOVERN_DATABASE_URL=settings.database_url, GOVERN_POLICIES=str(settings.policies_dir))
    return env


def _govern(settings, *args, **kw):
    return subprocess.run([sys.executable, "-m", "govern.cli", *args], env=_env(settings), capture_output=True, text=True, timeout=120, **kw)


def _seed(runtime, n):
    from govern.identity.actor import Actor
    from govern.subjects import service

    ids = []
    with runtime.database.unit_of_work() as session:
        for i in range(n):
            ids.append(service.create(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), jurisdiction="CN", fields={**VALID_FIELDS, "email": f"c{i}@example.cn"}, collection=fixture_collection("CN")).id)
    return ids


def _versions(runtime):
    with runtime.database.unit_of_work() as session:
        return dict(session.execute(select(SubjectKey.master_key_version, func.count()).group_by(SubjectKey.master_key_version)).all())


def _all_readable(runtime, ids):
    from govern.access import reads
    from govern.identity.actor import Actor

    runtime.envelope.cache.clear()
    runtime.keyring.reload_if_changed(every_seconds=0)
    actor = Actor(name="t", kind="staff", roles=("dpo",))
    with runtime.database.unit_of_work() as session:
        for sid in ids:
            assert reads.read(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, subject_id=sid, purpose="legal_compliance").fields["name"] == "张三"


def test_rotation_killed_midway_resumes_and_leaves_every_subject_readable(runtime, settings):
    ids = _seed(runtime, 120)
    start_version = runtime.keyring.active_version
    proc = subprocess.Popen(
        [sys.executable, "-m", "govern.cli", "keys", "rotate", "--batch-size", "10", "--pause", "0.2"],
        env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        behind = _versions(runtime).get(start_version, 0)
        if 0 < behind < 120:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    half = _versions(runtime)
    assert len(half) == 2, half  # genuinely interrupted mid-way: keys on both versions
    _all_readable(runtime, ids)  # readable while half-rotated: the old version still decrypts

    done = _govern(settings, "keys", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["resumed"] is True and result["version"] == start_version + 1
    assert result["rewrapped"] == result["total"] == half[start_version]  # the counts agree with what was left to do
    assert _versions(runtime) == {start_version + 1: 120}
    _all_readable(runtime, ids)
    status = json.loads(_govern(settings, "keys", "status", "--json").stdout)
    assert status["rotation"] is None and status["active"] == start_version + 1


def test_a_second_rotation_at_the_same_time_is_refused(runtime, settings):
    _seed(runtime, 40)
    # Slow enough (20 batches, 2 s apart: 40 s) that the second command, a new interpreter started on a loaded machine,
    # always meets it running; it is killed once the second is refused, so the pause costs the test nothing.
    first = subprocess.Popen(
        [sys.executable, "-m", "govern.cli", "keys", "rotate", "--batch-size", "2", "--pause", "2"],
        env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and runtime.keyring.rotation is None:
            runtime.keyring.reload_if_changed(every_seconds=0)
            time.sleep(0.05)
        second = _govern(settings, "keys", "rotate")
        assert second.returncode == 3
        assert "another key rotation is running" in second.stderr
    finally:
        first.kill()
        first.communicate()
    assert _govern(settings, "keys", "rotate").returncode == 0


def test_rotation_is_audited(runtime, settings, audit_events):
    _seed(runtime, 3)
    assert _govern(settings, "keys", "rotate").returncode == 0
    actions = [e.action for e in audit_events() if e.action.startswith("crypto:")]
    assert [a for a in actions if a.startswith("crypto:master:")] == ["crypto:master:rotate-begin", "crypto:master:rotate-finish"]


def test_the_counts_rotate_prints_agree_with_its_progress_line(runtime, settings):
    _seed(runtime, 7)
    done = _govern(settings, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    assert "7 of 7 data keys and 0 webhook endpoint keys rewrapped" in done.stdout
    assert "7/7" in done.stderr.replace(" ", "")  # the progress line's last figure: the same 7
