"""Audit-log fixtures: per-test signing key and checkpoint folder, events made through append(), exports, the
verifier run in-process, and a connection that bypasses the append-only triggers as a superuser would."""

from __future__ import annotations

import dataclasses
import json
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from govern.audit import chain, checkpoints, export, service
from govern.audit import verifier as verify
from govern.audit.tags import SubjectAction
from govern.identity.actor import Actor

ACTOR = Actor(name="crm-sales", kind="service", roles=("sales_service",), principal_id=uuid.UUID(int=7), request_id="req-1", client_addr="10.0.0.1")


@pytest.fixture
def audit_settings(settings, tmp_path):
    """The session's settings with this test's own signing key and checkpoint folder."""
    return dataclasses.replace(settings, audit_signing_key_file=tmp_path / "audit-key.json", checkpoint_dir=tmp_path / "checkpoints")


@pytest.fixture
def record_events(runtime):
    """record_events(n) → n events written through append(), each in its own transaction."""

    def make(n: int, **kw) -> None:
        for i in range(n):
            with runtime.database.unit_of_work() as session:
                service.append(
                    session=session, actor=ACTOR, action=kw.get("action", SubjectAction.READ), subject_id=uuid.UUID(int=i + 1),
                    field_names=["name", "mobile"], purpose="customer_service", reason=kw.get("reason"),
                )

    return make


@pytest.fixture
def checkpoint(runtime, audit_settings):
    def issue() -> dict:
        return checkpoints.issue(database=runtime.database, settings=audit_settings).line

    return issue


@pytest.fixture
def make_export(runtime, audit_settings, tmp_path):
    counter = iter(range(1000))

    def make(**kw) -> Path:
        out = tmp_path / f"export-{next(counter)}"
        export.export(database=runtime.database, settings=audit_settings, out=out, **kw)
        return out

    return make


@pytest.fixture
def verify_export(audit_settings):
    """verify_export(dir) → the verifier's report, with the auditor's own copy of the checkpoints and keys."""

    def run(out: Path, *, pinned: bool = True) -> verify.Report:
        return verify.verify_export(out, [audit_settings.audit_checkpoint_dir] if pinned else [])

    return run


@pytest.fixture
def tamper(runtime, is_postgres):
    """A transaction that bypasses the append-only triggers, as a superuser with direct database access would."""

    @contextmanager
    def conn():
        with runtime.database.engine.begin() as c:
            if is_postgres:
                c.execute(text("SET LOCAL session_replication_role = replica"))
            yield c

    return conn


def read_lines(out: Path) -> list[bytes]:
    return (out / "events.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(out: Path, lines: list[bytes]) -> None:
    (out / "events.jsonl").write_bytes(b"".join(lines))


def kinds(report: verify.Report) -> list[str]:
    return [f.kind for f in report.findings]


def relink(lines: list[bytes], start_prev: bytes = verify.GENESIS) -> list[bytes]:
    """What a forger with the whole file does: renumber and recompute every hash so the chain links again."""
    out, prev = [], start_prev
    for seq, line in enumerate(lines, 1):
        doc_start = line.index(b',"event":') + len(b',"event":')
        body = line[doc_start:].rstrip(b"\n")[:-1]
        digest = verify.chain_hash(prev, seq, verify.leaf_hash(body))
        event_id = json.loads(line)["id"]
        out.append(b'{"seq":%d,"id":%d,"prev":"%s","hash":"%s","event":%s}\n' % (seq, event_id, prev.hex().encode(), digest.hex().encode(), body))
        prev = digest
    return out


def seal_all(runtime) -> None:
    chain.seal(database=runtime.database, full=True)


@pytest.fixture
def long_ago(monkeypatch, runtime, audit_settings):
    """long_ago(days) → a context in which events are recorded and checkpoints signed `days` ago (the clock of
    service.append and checkpoints.sign moved back; the signing key published before that), as a log that old is."""
    from datetime import timedelta

    from govern.audit import signing
    from govern.timeutil import utcnow
    from tests.conftest import empty_all_tables

    empty_all_tables(runtime)  # nothing written at start-up (the policy load) may fall into the old part of the log
    signing.publish(audit_settings, signing.load(audit_settings), at=utcnow() - timedelta(days=3650))

    @contextmanager
    def back(days: int):
        then = utcnow() - timedelta(days=days)
        with monkeypatch.context() as m:
            m.setattr(service, "utcnow", lambda: then)
            m.setattr(checkpoints, "utcnow", lambda: then)
            yield then

    return back


@pytest.fixture
def purged_log(runtime, record_events, checkpoint, long_ago, audit_settings):
    """Six events and a checkpoint two years old, three recent events and a checkpoint, then a retention purge of the
    six (a signed purge checkpoint, #3). Returns the purge result."""
    from govern.audit import integrity

    with long_ago(730):
        record_events(6)
        checkpoint()
    record_events(3)
    checkpoint()
    return integrity.purge(database=runtime.database, settings=audit_settings, actor=Actor.operator(), keep_days=365, dry_run=False)
