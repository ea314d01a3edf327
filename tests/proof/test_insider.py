"""The database insider: a superuser who edits, inserts, deletes and reorders rows of the audit tables behind the
triggers' back (replica mode, or the triggers disabled outright on PostgreSQL), forges purge and checkpoint rows, and
stops the sealer. Whatever they do to what is sealed, `govern audit verify` fails and names the problem; what is not
sealed yet is bounded in time and flagged once older than the bound."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from govern.audit import chain, checkpoints, columns, integrity
from govern.audit import verifier as verify
from tests.audit.conftest import (  # noqa: F401 — the audit log's fixtures, used here as an insider would meet them
    audit_settings,
    checkpoint,
    long_ago,
    make_export,
    purged_log,
    record_events,
    tamper,
    verify_export,
)
from tests.audit.test_column_coverage import EDITS

pytestmark = pytest.mark.proof


@pytest.fixture
def sealed(record_events, checkpoint):  # noqa: F811
    """Ten events under checkpoint #1, four more under #2 (in the folder outside the database too)."""
    record_events(10)
    checkpoint()
    record_events(4)
    return checkpoint()["body"]


@pytest.fixture
def verify_live(runtime, audit_settings):  # noqa: F811
    return lambda: integrity.verify_live(database=runtime.database, settings=audit_settings)


@pytest.fixture
def superuser(runtime, is_postgres, tamper):  # noqa: F811
    """superuser(disable_triggers=True) → a transaction that has switched the audit triggers off outright (PostgreSQL:
    ALTER TABLE … DISABLE TRIGGER USER, turned back on before it commits, as a careful insider would)."""

    @contextmanager
    def conn(disable_triggers: bool = False):
        if not (disable_triggers and is_postgres):
            with tamper() as c:
                yield c
            return
        tables = ("audit_events", "audit_chain", "audit_checkpoints", "audit_purges", "audit_seal_runs")
        with runtime.database.engine.begin() as c:
            for table in tables:
                c.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield c
            for table in tables:
                c.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))

    return conn


def _event_id(conn, seq: int) -> int:
    return conn.execute(text("SELECT event_id FROM audit_chain WHERE seq = :s"), {"s": seq}).scalar_one()


def _found(report: verify.Report) -> list[tuple[str, int | None]]:
    return [(f.kind, f.seq) for f in report.findings]


# --- every column others rely on ------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edit_of_any_relied_on_column_is_named(column, sealed, superuser, verify_live, is_postgres):
    value = EDITS[column]
    if not is_postgres and isinstance(value, uuid.UUID):
        value = value.hex
    with superuser(disable_triggers=True) as conn:
        conn.execute(text(f"UPDATE audit_events SET {column} = :v WHERE id = :i"), {"v": value, "i": _event_id(conn, 7)})
    assert _found(verify_live()) == [("column_mismatch", 7)]


def test_a_consistent_edit_of_text_and_columns_is_named_as_modified(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        event_id = _event_id(conn, 5)
        conn.execute(text("UPDATE audit_events SET canonical = replace(canonical, 'customer_service', 'marketing'), purpose = 'marketing' WHERE id = :i"), {"i": event_id})
    assert _found(verify_live()) == [("modified", 5)]


def test_a_rewrite_with_every_hash_recomputed_is_caught_by_the_checkpoints_outside(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        rows = conn.execute(text("SELECT c.seq, e.id, e.canonical FROM audit_chain c JOIN audit_events e ON e.id = c.event_id ORDER BY c.seq")).all()
        prev = verify.GENESIS
        for seq, event_id, canonical in rows:
            if seq == 3:
                canonical = canonical.replace("customer_service", "marketing")
                conn.execute(text("UPDATE audit_events SET canonical = :c, purpose = 'marketing' WHERE id = :i"), {"c": canonical, "i": event_id})
            leaf = verify.leaf_hash(canonical.encode())
            digest = verify.chain_hash(prev, seq, leaf)
            conn.execute(text("UPDATE audit_chain SET leaf = :l, prev_hash = :p, hash = :h WHERE seq = :s"), {"l": leaf.hex(), "p": prev.hex(), "h": digest.hex(), "s": seq})
            prev = digest
        conn.execute(text("UPDATE audit_checkpoints SET head_hash = :h"), {"h": prev.hex()})
    kinds = {kind for kind, _ in _found(verify_live())}
    assert "rewritten" in kinds and "checkpoint_inconsistent" in kinds


# --- deleted, inserted, reordered, cut ------------------------------------------------------------------------------


def test_a_deleted_event_is_named(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": _event_id(conn, 4)})
    assert _found(verify_live()) == [("deleted", 4)]


def test_swapped_events_are_named(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        a, b = _event_id(conn, 2), _event_id(conn, 3)
        ca = conn.execute(text("SELECT canonical FROM audit_events WHERE id = :i"), {"i": a}).scalar_one()
        cb = conn.execute(text("SELECT canonical FROM audit_events WHERE id = :i"), {"i": b}).scalar_one()
        conn.execute(text("UPDATE audit_events SET canonical = :c WHERE id = :i"), {"c": cb, "i": a})
        conn.execute(text("UPDATE audit_events SET canonical = :c WHERE id = :i"), {"c": ca, "i": b})
    assert _found(verify_live())[0] == ("reordered", 2)


def test_a_cut_tail_is_named_against_the_checkpoint_outside(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE seq > 11)"))
        conn.execute(text("DELETE FROM audit_chain WHERE seq > 11"))
        conn.execute(text("DELETE FROM audit_checkpoints WHERE number = 2"))
    assert ("truncated_end", 12) in _found(verify_live())


# --- purges ---------------------------------------------------------------------------------------------------------


def test_a_forged_purge_row_cannot_hide_deleted_events(sealed, superuser, verify_live):
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE seq <= 12)"))
        conn.execute(text("INSERT INTO audit_purges (purged_at, through_seq, checkpoint_number, events, actor_name) VALUES (CURRENT_TIMESTAMP, 12, 2, 12, 'cli:dba')"))
    found = _found(verify_live())
    assert found[0] == ("purge_unsigned", 12) and ("deleted", 1) in found and ("deleted", 12) in found


def test_a_widened_purge_row_is_named(purged_log, superuser, verify_live):  # noqa: F811
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("DELETE FROM audit_events"))  # the recent events too
        conn.execute(text("UPDATE audit_purges SET through_seq = 9, events = 9"))
    found = _found(verify_live())
    assert ("purge_unsigned", 9) in found and ("deleted", 7) in found


def test_a_forged_purge_checkpoint_is_not_trusted(sealed, superuser, verify_live):
    with superuser() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id IN (SELECT event_id FROM audit_chain WHERE seq <= 10)"))
        body = json.loads(conn.execute(text("SELECT body FROM audit_checkpoints WHERE number = 2")).scalar_one())
        body.update(number=3, kind="purge", purge={"first_seq": 1, "through_seq": 10, "through_hash": "00" * 32, "events": 10, "actor": "x"})
        conn.execute(text(
            "INSERT INTO audit_checkpoints (number, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier) "
            "SELECT 3, tree_size, head_hash, merkle_root, issued_at, key_id, signature, :b, frontier FROM audit_checkpoints WHERE number = 2"
        ), {"b": json.dumps(body, sort_keys=True, separators=(",", ":"))})
    found = _found(verify_live())
    assert ("checkpoint_signature_invalid", None) in found and ("deleted", 1) in found


# --- checkpoints and the sealer -------------------------------------------------------------------------------------


def test_forged_checkpoints_are_named_and_do_not_stop_the_next(sealed, superuser, record_events, checkpoint, verify_live):  # noqa: F811
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("UPDATE audit_checkpoints SET frontier = '[]' WHERE number = 2"))
        conn.execute(text(
            "INSERT INTO audit_checkpoints (number, tree_size, head_hash, merkle_root, issued_at, key_id, signature, body, frontier) "
            "SELECT 9, tree_size + 1000, head_hash, merkle_root, issued_at, key_id, signature, body, frontier FROM audit_checkpoints WHERE number = 2"
        ))
    record_events(1)
    assert checkpoint()["body"]["number"] == 10
    found = _found(verify_live())
    assert [kind for kind, _ in found] == ["checkpoint_inconsistent", "checkpoint_inconsistent"]


def test_a_forged_seal_run_cannot_make_the_sealer_skip_new_events(sealed, superuser, record_events, runtime):  # noqa: F811
    with superuser(disable_triggers=True) as conn:
        conn.execute(text("INSERT INTO audit_seal_runs (ran_at, max_event_id, sealed) VALUES (:t, 1000000000, 0)"), {"t": checkpoints.utcnow().replace(year=2020)})
    record_events(2)
    assert chain.seal(database=runtime.database).sealed == 2


def test_an_event_kept_unsealed_past_the_bound_is_flagged(record_events, long_ago, runtime, audit_settings):  # noqa: F811
    with long_ago(1):
        record_events(1)
    report = integrity.verify_live(database=runtime.database, settings=audit_settings, max_unsealed_seconds=300)
    assert [f.kind for f in report.findings] == ["unsealed"]


def test_every_audit_column_is_accounted_for():
    from govern.audit.models import AuditEvent

    assert {c.name for c in AuditEvent.__table__.columns} == {"id", *columns.HASHED, *columns.CHECKED}
