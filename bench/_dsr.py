"""Shared by the data-subject request benchmarks (erasure.py, access_package.py): a runtime on the benchmark's own
database (PostgreSQL or SQLite), a subject created through govern's service with many records written in bulk, and a
verified request for it.

The records are what `subjects.service.add_record` writes — a JSON payload sealed with AES-256-GCM under the subject's
data key, its AAD bound to the subject and the record id, one fresh nonce each — inserted in bulk (COPY on PostgreSQL,
one executemany on SQLite) instead of one round trip and one audit event per record.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

PROFILE = {
    "name": "张三", "mobile": "13812345678", "email": "zhang.san@example.cn", "address": "北京市朝阳区建国路1号",
    "id_card_number": "11010519491231002X", "birth_date": "1985-06-15", "gender": "male",
}
ACTOR_NAME = "bench-crm"
# The ID card number is sensitive (PIPL Art. 28): written, like govern demo's, on the anti-fraud real-name duty.
SENSITIVE_BASIS = {"basis": "legal_obligation", "reference": "benchmark: real-name check", "purpose": "fraud_prevention"}


def prepare_database(url: str, force: bool = False) -> str:
    """Wipes the benchmark's database: PostgreSQL (its name must contain 'bench') or a SQLite file. Returns its label."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if url.startswith("sqlite"):
        path = Path(parsed.database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"SQLite {path}"
    from _seed import ensure_database, reset_schema

    if "bench" not in (parsed.database or "") and not force:
        sys.exit(f"refusing to wipe database '{parsed.database}': its name has no 'bench' in it (use --force)")
    ensure_database(url)
    engine = create_engine(url)
    reset_schema(engine)
    engine.dispose()
    return f"PostgreSQL {parsed.database}"


def default_url(kind: str, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='govern-bench-')) / 'govern.db'}"
    return PG_DEFAULT.format(name=name)


def argument_parser(doc: str, env: str, name: str):
    """The options both benchmarks share: which databases, the PostgreSQL URL (env var `env`, default database `name`)."""
    import argparse
    import os

    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--databases", default="postgresql,sqlite", help="postgresql, sqlite or both (default %(default)s)")
    p.add_argument("--pg-url", default=os.environ.get(env, PG_DEFAULT.format(name=name)))
    p.add_argument("--force", action="store_true", help="allow a PostgreSQL database whose name does not contain 'bench'")
    return p


def database_urls(kinds: str, pg_url: str, name: str) -> list[str]:
    """The URL of each database kind named in a --databases option ("postgresql,sqlite"): pg_url, or a new SQLite file."""
    out = []
    for kind in (k.strip() for k in kinds.split(",") if k.strip()):
        if kind not in ("postgresql", "sqlite"):
            sys.exit(f"unknown database kind {kind!r}: postgresql or sqlite")
        out.append(pg_url if kind == "postgresql" else default_url("sqlite", name))
    return out


def banner(name: str, what: str) -> str:
    import os
    import platform

    return f"{name}: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · load average {os.getloadavg()[0]:.2f} · {what}"


def runtime_for(url: str, home: Path | None = None):
    from govern.cli_support import initialise
    from govern.config import PROJECT_ROOT, Settings
    from govern.logging import configure_logging
    from govern.runtime import build_runtime

    home = home or Path(tempfile.mkdtemp(prefix="govern-bench-home-"))
    settings = Settings(home=home, database_url=url, policies_dir=PROJECT_ROOT / "policies", log_level="WARNING")
    configure_logging("WARNING", stream=sys.stderr)
    initialise(settings)
    return build_runtime(settings)


def crm_actor():
    from govern.identity.actor import Actor

    # A service sees only the requests it filed: the benchmark's CRM keeps one principal id.
    return Actor(name=ACTOR_NAME, kind="service", roles=("sales_service",), principal_id=uuid.UUID(int=0xC0DE))


def staff_actor():
    from govern.identity.actor import Actor

    return Actor(name="bench-privacy-officer", kind="staff", roles=("privacy_staff",))


def make_subject(rt, *, records: int, record_type: str, language: str = "zh") -> tuple[uuid.UUID, float]:
    """A subject created through the service, with `records` sealed records of `record_type` bulk-inserted; returns
    (subject id, seconds spent on the records)."""
    from govern.consent.collection import Collection, StatedBasis
    from govern.crypto.models import SubjectKey
    from govern.subjects import service as subjects

    with rt.database.unit_of_work() as session:
        subject = subjects.create(session=session, policy=rt.policy, envelope=rt.envelope, actor=crm_actor(), jurisdiction="CN",
                                  fields=dict(PROFILE), language=language, collection=Collection(stated=StatedBasis(**SENSITIVE_BASIS)))
        sid = subject.id
        wrapped = session.get(SubjectKey, sid).wrapped_key
    t0 = time.perf_counter()
    if records:
        insert_records(rt, sid, wrapped, records, record_type)
    return sid, time.perf_counter() - t0


def insert_records(rt, sid: uuid.UUID, wrapped: bytes, n: int, record_type: str, chunk: int = 20_000) -> None:
    dek = rt.envelope.unwrap(sid, wrapped)
    now = datetime.now(timezone.utc)
    pg = rt.database.dialect == "postgresql"
    for lo in range(0, n, chunk):
        rows = []
        for i in range(lo, min(n, lo + chunk)):
            rid = uuid.uuid4()
            payload = {"channel": "app", "summary": f"客服对话 #{i}: 订单查询与售后", "agent": f"agent-{i % 40}", "minutes": i % 30, "order": f"SO-{i:07d}"}
            blob = rt.envelope.seal(dek, sid, f"record:{rid}", json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
            rows.append((rid, sid, record_type, now - timedelta(minutes=n - i), blob, now))
        if pg:
            raw = rt.database.engine.raw_connection()
            try:
                cur = raw.cursor()
                with cur.copy("COPY records (id, subject_id, type, occurred_at, ciphertext, created_at) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
                raw.commit()
            finally:
                raw.close()
        else:
            from govern.subjects.models import Record

            with rt.database.engine.begin() as conn:
                conn.execute(Record.__table__.insert(), [
                    {"id": r[0], "subject_id": r[1], "type": r[2], "occurred_at": r[3], "ciphertext": r[4], "created_at": r[5]} for r in rows
                ])
    if pg:
        with rt.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE records")
    else:
        with rt.database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def verified_request(rt, sid: uuid.UUID, type: str) -> uuid.UUID:
    """A request of `type` for the subject, filed and identity-verified by the CRM (crm_session): ready to complete."""
    from govern.subject_requests import service as requests

    with rt.database.unit_of_work() as session:
        filed = requests.file(session=session, policy=rt.policy, envelope=rt.envelope, actor=crm_actor(), subject_id=sid, type=type, channel="app")
        rid = filed.request.id
    with rt.database.unit_of_work() as session:
        result = requests.verify(session=session, policy=rt.policy, envelope=rt.envelope, actor=crm_actor(), request_id=rid, method="crm_session",
                                 reference="bench-session")
        assert result.verified, result
    return rid


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
