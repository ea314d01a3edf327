"""Benchmark: the bulk consent check (`POST /api/v1/consents/check`, 10,000 subject ids, purpose marketing) on
PostgreSQL, side by side with a baseline measured in the same run: one plain indexed query for the granted rows of
the same ids, in the same kind of unit of work.

    .venv/bin/python bench/consent_check.py [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_bench_consent]

govern's side applies the whole rule of a read to every id: subject status and jurisdiction, the derived consent
state, re-consent, separate consent, and the minors' age — a grant given by an adult keeps a proof of age (the
minors' age checked and a fingerprint of the stored date of birth), and only a subject whose proof no longer fits has
its date of birth decrypted — and writes one audit event. It is measured at the service layer
(`access.service.allowed_subjects` in a unit of work, commit included) and through the HTTP API in process (Flask
test client: authentication, JSON of 10,000 ids in and out); then once more through the API with every proof removed
(the worst case: every granted subject's date of birth decrypted), reported but not held to the bar.

Bar (issue 4): p50 <= 300 ms for 10,000 ids through the API. Exit status 0 when met, 1 when not.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(ROOT))

from _load import percentile  # noqa: E402
from _seed import bulk_seed, database_name, ensure_database, keyring_namespace, reset_schema, subject_id_of  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench_consent"
BAR_P50_MS = 300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("BENCH_CONSENT_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--subjects", type=int, default=20_000, help="subjects seeded (default %(default)s)")
    p.add_argument("--ids", type=int, default=10_000, help="ids per check (default %(default)s)")
    p.add_argument("--rounds", type=int, default=15, help="measured checks per side (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--granted", type=float, default=0.7, help="share of subjects with a marketing grant (default %(default)s)")
    p.add_argument("--force", action="store_true", help="allow a database whose name does not contain 'bench'")
    return p.parse_args(argv)


def _stats(label: str, ms: list[float]) -> str:
    return f"{label:34} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   mean {statistics.mean(ms):7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    name = database_name(url)
    if not url.startswith("postgresql"):
        sys.exit("consent_check.py measures PostgreSQL: pass a postgresql+psycopg:// URL")
    if "bench" not in name and not args.force:
        sys.exit(f"refusing to use database '{name}': its name has no 'bench' in it (use --force)")
    home = Path(tempfile.mkdtemp(prefix="govern-bench-consent-"))
    os.environ.update({"GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": url, "GOVERN_POLICIES": str(ROOT / "policies"), "GOVERN_LOG_LEVEL": "WARNING"})
    print(f"consent_check: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {name}")

    from sqlalchemy import ARRAY, Uuid, any_, bindparam, insert, select, text

    from govern.access import service as access
    from govern.app import create_app
    from govern.cli_support import initialise
    from govern.config import Settings
    from govern.consent.models import ConsentState
    from govern.db import make_engine
    from govern.identity import service as identity
    from govern.identity.actor import Actor
    from govern.runtime import build_runtime
    from govern.timeutil import utcnow

    ensure_database(url)
    engine = make_engine(url)
    reset_schema(engine)
    engine.dispose()
    settings = Settings.from_env()
    initialise(settings)
    rt = build_runtime(settings)
    seeded = bulk_seed(engine=rt.database.engine, policy=rt.policy, envelope=rt.envelope, start=0, stop=args.subjects, with_audit=False, with_plain=False)
    namespace = keyring_namespace(rt.envelope)
    ids = [subject_id_of(i, namespace) for i in range(args.subjects)]
    rng = random.Random(4)
    now = utcnow()
    rows = []
    for sid in ids:
        roll = rng.random()
        if roll < args.granted:
            rows.append({"subject_id": sid, "purpose": "marketing", "status": "granted", "notice_version": "2026-06", "method": "explicit",
                         "separate": False, "guardian": False, "recipients": [], "occurred_at": now, "updated_at": now})
        elif roll < args.granted + 0.1:
            rows.append({"subject_id": sid, "purpose": "marketing", "status": "withdrawn", "notice_version": "2026-06", "method": "explicit",
                         "separate": False, "guardian": False, "recipients": [], "occurred_at": now, "updated_at": now})
    with rt.database.unit_of_work() as session:
        session.execute(insert(ConsentState), rows)
        # What consent.record keeps of a grant given by an adult: the minors' age checked and a fingerprint of the
        # stored date of birth (sha256 of its ciphertext, as subjects.birth_date_fingerprint computes it).
        for code, j in rt.policy.jurisdictions.items():
            session.execute(text(
                "UPDATE consent_states cs SET adult_at_age = :age, adult_evidence = sha256(pf.ciphertext) "
                "FROM profile_fields pf, subjects s WHERE pf.subject_id = cs.subject_id AND pf.name = 'birth_date' "
                "AND s.id = cs.subject_id AND s.jurisdiction = :code AND cs.status = 'granted'"
            ), {"age": j.minors_age, "code": code})
        issued = identity.create(session=session, policy=rt.policy, actor=Actor.operator(), name="bench-marketing", roles=["marketing_service"])
        session.execute(text("ANALYZE"))
    print(f"  seeded {seeded.seeded} subjects (8 encrypted fields each, birth_date among them) in {seeded.seconds:.1f}s; "
          f"{len(rows)} marketing states ({args.granted:.0%} granted, 10% withdrawn)")

    actor = Actor(name="bench-marketing", kind="service", roles=("marketing_service",), principal_id=issued.principal.id)
    samples = [rng.sample(ids, args.ids) for _ in range(args.rounds + args.warmup)]

    def govern_service(batch):
        with rt.database.unit_of_work() as session:
            return access.allowed_subjects(session=session, policy=rt.policy, envelope=rt.envelope, actor=actor, purpose_name="marketing", subject_ids=batch)

    def baseline(batch):
        # The best plain query: one array parameter (an IN list of 10,000 bound parameters costs more than the query).
        with rt.database.unit_of_work() as session:
            return session.scalars(select(ConsentState.subject_id).where(
                ConsentState.purpose == "marketing", ConsentState.status == "granted",
                ConsentState.subject_id == any_(bindparam("ids", list(batch), type_=ARRAY(Uuid))),
            )).all()

    app = create_app(runtime=rt)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {issued.api_key}"}

    def over_http(batch):
        r = client.post("/api/v1/consents/check", json={"purpose": "marketing", "subject_ids": [str(s) for s in batch]}, headers=headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["allowed"]

    # Same answer: with adults only and no re-consent, the rule and the plain query must agree.
    check = samples[0]
    assert sorted(map(str, govern_service(check))) == sorted(map(str, baseline(check))) == sorted(over_http(check))

    results = {}
    for label, fn in (("baseline (plain indexed query)", baseline), ("govern service layer", govern_service), ("govern HTTP API (in process)", over_http)):
        for batch in samples[:args.warmup]:
            fn(batch)
        ms = []
        for batch in samples[args.warmup:]:
            began = time.perf_counter()
            fn(batch)
            ms.append((time.perf_counter() - began) * 1000)
        results[label] = ms
        print("  " + _stats(label, ms))
    # The worst case: no grant carries a proof of age (recorded before govern kept one, or every date of birth
    # rectified since), so every granted subject's date of birth is decrypted.
    with rt.database.unit_of_work() as session:
        session.execute(text("UPDATE consent_states SET adult_evidence = NULL, adult_at_age = NULL"))
    worst = []
    for batch in samples[args.warmup:]:
        began = time.perf_counter()
        over_http(batch)
        worst.append((time.perf_counter() - began) * 1000)
    print("  " + _stats("govern HTTP API, every date decrypted", worst))
    base = percentile(results["baseline (plain indexed query)"], 50)
    api = percentile(results["govern HTTP API (in process)"], 50)
    print(f"  ratio govern API / baseline (p50): {api / base:.1f}×")
    ok = api <= BAR_P50_MS
    print(f"  bar: p50 <= {BAR_P50_MS:.0f} ms for {args.ids} ids through the API — {'MET' if ok else 'NOT MET'}")
    rt.database.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
