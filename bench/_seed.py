"""Shared by the benchmarks: real-shaped 8-field profiles, a bulk seeder that writes the rows govern's own
`subjects.service.create` writes (a per-subject data key wrapped by the master key, every value sealed with
AES-256-GCM under it with the same associated data, blind indexes for the searchable fields) and a plain,
unencrypted twin table for the baselines.

Seeding through the service costs several round trips and flushes per subject; here one COPY per batch carries
thousands of subjects, so a million subjects take minutes instead of hours. The cryptography is not shortened:
every subject gets its own random data key and every value its own nonce.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from govern import validators
from govern.audit.service import Outcome, canonical_bytes
from govern.audit.tags import SubjectAction
from govern.crypto.envelope import Envelope
from govern.policy import Policy

# The 8-field profile both benchmarks use: every non-sensitive field of the catalog plus the two sensitive
# identifiers a CRM typically holds (ID card, bank card).
PROFILE_FIELDS = ("name", "birth_date", "gender", "mobile", "email", "address", "id_card_number", "bank_card_number")
PLAIN_TABLE = "bench_plain_profiles"
EXTERNAL_PREFIX = "bench-"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "军", "杰", "勇", "霞", "平", "刚")
_GENDERS = ("female", "male", "other", "undisclosed")
_STREETS = ("建国路", "长安街", "中山路", "人民路", "解放路", "南京路", "淮海路", "天河路")


def _luhn_digit(body: str) -> str:
    for d in "0123456789":
        if validators.luhn_valid(body + d):
            return d
    raise AssertionError("unreachable")


def external_ref(i: int) -> str:
    return f"{EXTERNAL_PREFIX}{i:07d}"


def mobile_of(i: int) -> str:
    """Unique per subject number: 13x/15x/18x followed by the subject's ordinal."""
    return f"1{'358'[i % 3]}{i:09d}"


def profile(i: int) -> dict[str, str]:
    """The i-th subject's 8 fields: deterministic (a resumed seed produces the same values) and valid."""
    year, month, day = 1960 + i % 45, 1 + i % 12, 1 + i % 28
    born = f"{year:04d}{month:02d}{day:02d}"
    id_body = f"110105{born}{i % 1000:03d}"
    card_body = f"622202{i:012d}"
    return {
        "name": _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i // 20) % len(_GIVEN)] + _GIVEN[(i // 320) % len(_GIVEN)],
        "birth_date": f"{year:04d}-{month:02d}-{day:02d}",
        "gender": _GENDERS[i % 4],
        "mobile": mobile_of(i),
        "email": f"customer{i}@example.cn",
        "address": f"北京市朝阳区{_STREETS[i % len(_STREETS)]}{i % 300 + 1}号{i % 20 + 1}单元",
        "id_card_number": id_body + validators.resident_id_check_char(id_body),
        "bank_card_number": card_body + _luhn_digit(card_body),
    }


# --- database helpers -----------------------------------------------------------------------------


def database_name(url: str) -> str:
    return make_url(url).database or ""


def ensure_database(url: str) -> bool:
    """Creates the PostgreSQL database named in `url` when missing; True when it was created."""
    import psycopg

    parsed = make_url(url)
    name = parsed.database
    admin = psycopg.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 5432, user=parsed.username or "postgres",
                            password=parsed.password, dbname="postgres", autocommit=True)
    try:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        admin.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        admin.close()


def reset_schema(engine: Engine) -> None:
    """Drops every table of the database (the benchmark's own database only)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def create_plain_table(engine: Engine) -> None:
    columns = ", ".join(f"{name} text" for name in PROFILE_FIELDS)
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE IF NOT EXISTS {PLAIN_TABLE} (id uuid PRIMARY KEY, external_ref varchar(200) UNIQUE, "
            f"jurisdiction varchar(16) NOT NULL, language varchar(8) NOT NULL, status varchar(16) NOT NULL, "
            f"version integer NOT NULL, {columns})"
        ))
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{PLAIN_TABLE}_mobile ON {PLAIN_TABLE} (mobile)"))


def subject_id_of(i: int, namespace: uuid.UUID) -> uuid.UUID:
    """Deterministic per (keyring, ordinal) so a resumed run never collides with the rows it already wrote."""
    return uuid.uuid5(namespace, external_ref(i))


def keyring_namespace(envelope: Envelope) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.sha256(b"govern-bench|" + envelope.keyring.index_key).digest()[:16])


# --- the bulk seeder ------------------------------------------------------------------------------


@dataclass
class SeedStats:
    seeded: int = 0
    seconds: float = 0.0


def _audit_row(subject_id: uuid.UUID, names: Iterable[str], now: datetime) -> tuple:
    names = sorted(names)
    request_id = uuid.uuid4().hex
    body = {
        "time": now.isoformat(timespec="microseconds"),
        "actor": {"id": None, "name": "bench-seed", "kind": "system"},
        "roles": ["system"],
        "action": str(SubjectAction.CREATE),
        "resource": f"subject:{subject_id}",
        "subject": str(subject_id),
        "fields": names,
        "purpose": None,
        "outcome": str(Outcome.ALLOWED),
        "reason": None,
        "request": request_id,
        "client": None,
    }
    return (now, None, "bench-seed", "system", str(SubjectAction.CREATE), f"subject:{subject_id}", subject_id,
            ",".join(names), None, str(Outcome.ALLOWED), None, request_id, None, canonical_bytes(body))


def bulk_seed(
    *, engine: Engine, policy: Policy, envelope: Envelope, start: int, stop: int, batch_size: int = 5000,
    with_audit: bool = True, with_plain: bool = True, progress: Callable[[int, int, float], None] | None = None,
) -> SeedStats:
    """Writes subjects start..stop-1 (ordinals), one committed COPY batch at a time, so an interrupted seed
    resumes from the last committed batch. Same rows as `govern.subjects.service.create`: subjects,
    subject_keys (a fresh 256-bit data key per subject wrapped under the active master key), profile_fields
    (AES-256-GCM, AAD bound to subject and field, blind index where the catalog says searchable) and, when
    `with_audit`, the `subjects:profile:create` audit event per subject (field names only)."""
    namespace = keyring_namespace(envelope)
    searchable = {n for n in PROFILE_FIELDS if policy.catalog.fields[n].searchable}
    rules = {n: policy.catalog.fields[n] for n in PROFILE_FIELDS}
    stats = SeedStats()
    began = time.perf_counter()
    for lo in range(start, stop, batch_size):
        hi = min(stop, lo + batch_size)
        now = datetime.now(timezone.utc)
        subjects, keys, fields, audits, plains = [], [], [], [], []
        for i in range(lo, hi):
            sid = subject_id_of(i, namespace)
            values = profile(i)
            dek, wrapped, version = envelope.new_data_key(sid)
            subjects.append((sid, external_ref(i), "CN", "zh", "active", 1, None, now, now))
            keys.append((sid, wrapped, version, now, None))
            for name, raw in values.items():
                value, normal = validators.clean(rules[name].validator, rules[name].validator_options, raw)
                blob = envelope.seal(dek, sid, f"field:{name}", value.encode())
                index = envelope.blind_index(name, normal) if name in searchable else None
                fields.append((sid, name, blob, index, now, now))
            if with_audit:
                audits.append(_audit_row(sid, values, now))
            if with_plain:
                plains.append((sid, external_ref(i), "CN", "zh", "active", 1, *(values[n] for n in PROFILE_FIELDS)))
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            _copy(cur, "subjects (id, external_ref, jurisdiction, language, status, version, created_by, created_at, updated_at)", subjects)
            _copy(cur, "subject_keys (subject_id, wrapped_key, master_key_version, created_at, rewrapped_at)", keys)
            _copy(cur, "profile_fields (subject_id, name, ciphertext, blind_index, collected_at, updated_at)", fields)
            if audits:
                _copy(cur, "audit_events (occurred_at, actor_id, actor_name, roles, action, resource, subject_id, field_names, "
                           "purpose, outcome, reason, request_id, client_addr, canonical)", audits)
            if plains:
                _copy(cur, f"{PLAIN_TABLE} (id, external_ref, jurisdiction, language, status, version, {', '.join(PROFILE_FIELDS)})", plains)
            raw.commit()
        finally:
            raw.close()
        stats.seeded += hi - lo
        stats.seconds = time.perf_counter() - began
        if progress:
            progress(hi, stop, stats.seeded / max(stats.seconds, 1e-9))
    return stats


def _copy(cursor, target: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def print_progress(done: int, total: int, rate: float) -> None:
    left = (total - done) / rate if rate else float("inf")
    sys.stderr.write(f"\r  seeded {done:,}/{total:,} ({100 * done / max(total, 1):.1f}%)  {rate:,.0f} subjects/s  ~{left:,.0f}s left   ")
    sys.stderr.flush()
    if done >= total:
        sys.stderr.write("\n")


def count_bench_subjects(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM subjects WHERE external_ref LIKE :p"), {"p": EXTERNAL_PREFIX + "%"}).scalar_one()

