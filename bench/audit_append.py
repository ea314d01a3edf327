"""Benchmark: audited appends/s at 1, 4, 8 and 16 concurrent clients on PostgreSQL, side by side in one run with
plain inserts of the same rows into an untriggered, unchained twin table.

    .venv/bin/python bench/audit_append.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_audit_bench]

Each client is a process with its own connection that loops "begin; write one event; commit" for --duration
seconds. The audited side calls govern's real `audit.service.append()` (the append-only table with its
triggers) while a sealer process runs `govern audit seal` logic continuously, so the chain's cost is in the figure;
the plain side inserts the same column values with one INSERT. Bar (issue 3): at 8 clients the audited rate is at
least 0.7 x the plain rate. Exit status 0 when met. The database is WIPED first. Not a test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_audit_bench"
BAR = 0.7
PLAIN = """INSERT INTO plain_events (occurred_at, actor_id, actor_name, roles, action, resource, subject_id, field_names, purpose,
 outcome, reason, request_id, client_addr, canonical) VALUES (:occurred_at, :actor_id, :actor_name, :roles, :action, :resource,
 :subject_id, :field_names, :purpose, :outcome, :reason, :request_id, :client_addr, :canonical)"""


def _actor():
    from govern.identity.actor import Actor

    return Actor(name="crm-sales", kind="service", roles=("sales_service",), principal_id=uuid.uuid4(), request_id=uuid.uuid4().hex, client_addr="10.0.0.1")


def client(url: str, mode: str, start_at: float, stop_at: float, counter) -> None:
    from govern.audit import service
    from govern.audit.tags import SubjectAction
    from govern.db import Database

    database = Database(url)
    if mode == "twin":
        # The very same append() call, pointed at an identical table in schema `plain` (no triggers, no chain, no sealer).
        database.engine = database.engine.execution_options(schema_translate_map={None: "plain"})
        database.sessions.configure(bind=database.engine)
    actor = _actor()
    done = 0
    session = database.sessions()
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < stop_at:
        subject = uuid.uuid4()
        if mode in ("audited", "twin"):
            service.append(session=session, actor=actor, action=SubjectAction.READ, subject_id=subject,
                           field_names=["name", "mobile", "email", "address"], purpose="customer_service", resource=f"subject:{subject}")
        else:
            # The same row append() writes, built the same way, inserted plainly.
            names = ["address", "email", "mobile", "name"]
            now = service.utcnow()
            body = {"time": now.isoformat(timespec="microseconds"), "actor": {"id": str(actor.principal_id), "name": actor.name, "kind": actor.kind},
                    "roles": list(actor.roles), "action": "subjects:profile:read", "resource": f"subject:{subject}", "subject": str(subject),
                    "fields": names, "purpose": "customer_service", "outcome": "allowed", "reason": None, "request": actor.request_id, "client": actor.client_addr}
            session.execute(text(PLAIN), {
                "occurred_at": now, "actor_id": actor.principal_id, "actor_name": actor.name, "roles": "sales_service", "action": body["action"],
                "resource": body["resource"], "subject_id": subject, "field_names": ",".join(names), "purpose": "customer_service", "outcome": "allowed",
                "reason": None, "request_id": actor.request_id, "client_addr": actor.client_addr, "canonical": service.canonical_bytes(body)})
        session.commit()
        done += 1
    session.close()
    database.dispose()
    with counter.get_lock():
        counter.value += done


def sealer(url: str, stop_at: float, sealed) -> None:
    from govern.audit import chain
    from govern.db import Database

    database = Database(url)
    total = 0
    while time.time() < stop_at:
        total += chain.seal(database=database, batch_size=5000).sealed
        time.sleep(0.5)  # as `govern audit seal --follow 0.5` would
    database.dispose()
    with sealed.get_lock():
        sealed.value += total


def run(url: str, mode: str, clients: int, duration: float, warmup: float) -> tuple[float, int]:
    counter = mp.Value("q", 0)
    sealed = mp.Value("q", 0)
    start_at = time.time() + warmup
    stop_at = start_at + duration
    procs = [mp.Process(target=client, args=(url, mode, start_at, stop_at, counter)) for _ in range(clients)]
    if mode == "audited":
        procs.append(mp.Process(target=sealer, args=(url, stop_at, sealed)))
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return counter.value / duration, sealed.value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--clients", default="1,4,8,16")
    p.add_argument("--duration", type=float, default=3.0, help="measured seconds per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="alternating plain/audited rounds per client count; medians reported (default %(default)s)")
    p.add_argument("--warmup", type=float, default=1.0)
    args = p.parse_args()

    from govern.db import Database
    from govern.migrate import upgrade

    admin = create_engine(args.database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = args.database_url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("DROP SCHEMA IF EXISTS plain CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    database = Database(args.database_url)
    upgrade(database.engine)
    with engine.connect() as conn:
        # Same columns, indexes and id default (LIKE copies the identity's sequence default), no triggers, no chain.
        conn.execute(text("CREATE TABLE plain_events (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY)"))
        conn.execute(text("CREATE SCHEMA plain"))
        conn.execute(text("CREATE TABLE plain.audit_events (LIKE public.audit_events INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING IDENTITY)"))

    print(f"PostgreSQL {args.database_url.rsplit('@', 1)[-1]}; {os.cpu_count()} CPUs; {args.duration:.0f}s per run; one process per client; median of {args.rounds} alternating rounds")
    print("plain = one INSERT of the same row (text SQL); twin = the same append() call into an untriggered, unchained twin table;")
    print("audited = append() into audit_events (append-only triggers) with a sealer process chaining concurrently")
    print(f"{'clients':>7} {'plain/s':>10} {'twin/s':>10} {'audited/s':>10} {'aud/plain':>9} {'aud/twin':>9} {'sealed':>8}")
    ratios, twin_ratios = {}, {}
    import statistics

    for n in [int(c) for c in args.clients.split(",")]:
        # Alternate the two sides so that load from anything else on the machine falls on both alike.
        plains, twins, auditeds, sealed = [], [], [], 0
        for _ in range(args.rounds):
            plains.append(run(args.database_url, "plain", n, args.duration, args.warmup)[0])
            twins.append(run(args.database_url, "twin", n, args.duration, args.warmup)[0])
            rate, s = run(args.database_url, "audited", n, args.duration, args.warmup)
            auditeds.append(rate)
            sealed += s
        plain, twin, audited = statistics.median(plains), statistics.median(twins), statistics.median(auditeds)
        ratios[n] = audited / plain if plain else 0.0
        twin_ratios[n] = audited / twin if twin else 0.0
        print(f"{n:>7} {plain:>10.0f} {twin:>10.0f} {audited:>10.0f} {ratios[n]:>9.2f} {twin_ratios[n]:>9.2f} {sealed:>8}")
    from govern.audit import chain

    t0 = time.perf_counter()
    rest = chain.seal(database=database, batch_size=10_000, full=True)
    took = time.perf_counter() - t0
    with engine.connect() as conn:
        events = conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
        linked = conn.execute(text("SELECT count(*) FROM audit_chain")).scalar_one()
    print(f"final seal: {rest.sealed} left over sealed in {took:.2f}s; {linked}/{events} events chained, head seq {rest.head_seq}")
    ok = ratios.get(8, 0) >= BAR
    print(f"bar: audited >= {BAR} x plain at 8 clients: {'met' if ok else 'NOT met'} ({ratios.get(8, 0):.2f}); "
          f"against the same append() into the twin table: {twin_ratios.get(8, 0):.2f} ({'met' if twin_ratios.get(8, 0) >= BAR else 'NOT met'})")
    database.dispose()
    engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
