"""Test harness: a real database (SQLite by default, PostgreSQL when GOVERN_TEST_DATABASE_URL names one), the
real migrations, one app per session, and every table emptied after each test.

Tests commit for real (rather than rolling back a savepoint) because the behaviour under test includes the
commit itself: fail-closed audit, refusals kept after a rollback, subprocess CLI jobs and raw-file scans.

Under pytest-xdist (`make test` runs `-n 2`) each worker has a database of its own, since every test empties every
table: the worker gw1 of a run on …/test uses …/test_gw1, created from the named database's connection when missing.
Its temporary folders are its own already (xdist gives each worker its own basetemp); ports are chosen free.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from govern.config import PROJECT_ROOT, Settings
from govern.webhooks.egress import StaticResolver

PG_ENV = "GOVERN_TEST_DATABASE_URL"


def pytest_report_header(config):
    return f"govern test database: {os.environ.get(PG_ENV) or 'sqlite (temporary file)'}"


def _check_postgres(url: str) -> None:
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        # In CI a missing PostgreSQL is a failure, never a skip.
        pytest.exit(f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable: {type(exc).__name__}: {exc}", returncode=3)


def pytest_sessionstart(session):
    # Checked once before any worker starts: an unreachable PostgreSQL ends the run with one message (under xdist a
    # worker's pytest.exit would only be reported as a crashed worker).
    url = os.environ.get(PG_ENV)
    if url and not os.environ.get("PYTEST_XDIST_WORKER"):
        _check_postgres(url)


def _worker_database(url: str, worker: str) -> str:
    """The URL of this xdist worker's own database beside the named one (…/test → …/test_gw0), created if missing."""
    named = make_url(url)
    own = named.set(database=f"{named.database}_{worker}")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    engine.dispose()
    return own.render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("govern-home")
    url = os.environ.get(PG_ENV)
    if url:
        _check_postgres(url)
        if worker := os.environ.get("PYTEST_XDIST_WORKER"):
            url = _worker_database(url, worker)
        _reset_postgres(url)
    else:
        url = f"sqlite:///{home / 'govern.db'}"
    return Settings(home=home, database_url=url, policies_dir=PROJECT_ROOT / "policies", log_level="INFO")


# The names the suite's webhook URLs use, answered from a table (no network in tests): public addresses of example.com.
TEST_RESOLVER = StaticResolver({
    "crm.example.cn": ["93.184.215.14"], "x.example.cn": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "localhost": ["127.0.0.1", "::1"],
})


@pytest.fixture(scope="session")
def runtime(settings):
    from govern.cli_support import initialise
    from govern.runtime import build_runtime

    initialise(settings)
    rt = build_runtime(settings)
    rt.resolver = TEST_RESOLVER  # webhook host names are answered without a DNS server (govern.webhooks.egress)
    # The start-up's own rows (its key-check event) go as after every test: the first test of a worker starts from
    # the same empty tables as the others, whatever order the files run in.
    empty_all_tables(rt)
    yield rt
    rt.database.dispose()


@pytest.fixture(scope="session")
def app(runtime):
    from govern.app import create_app

    application = create_app(runtime=runtime)
    application.config["TESTING"] = True
    return application


@pytest.fixture(scope="session")
def is_postgres(runtime) -> bool:
    return runtime.database.dialect == "postgresql"


def _tables(runtime) -> list[str]:
    from govern.tables import metadata

    return [t.name for t in reversed(metadata.sorted_tables)]


def empty_all_tables(runtime) -> None:
    from sqlalchemy import inspect

    existing = set(inspect(runtime.database.engine).get_table_names())
    tables = [t for t in _tables(runtime) if t in existing]
    with runtime.database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Superuser in tests: replica mode skips the audit log's append-only triggers for the clean-up only.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    runtime.envelope.cache.clear()


@pytest.fixture(autouse=True)
def _clean_database(request):
    yield
    if "runtime" in request.fixturenames:
        empty_all_tables(request.getfixturevalue("runtime"))


@pytest.fixture(autouse=True)
def _fresh_rate_limits(request):
    """The app counts with the limits of policies/rate_limits.yaml, as production does; like the tables, the counts
    start empty for each test (tests/proof/test_abuse_counters.py sets tight limits on an app of its own)."""
    yield
    if "app" in request.fixturenames:
        limiter = request.getfixturevalue("app").extensions.get("govern_limiter")
        if limiter is not None:
            limiter.reset()


# --- factories --------------------------------------------------------------------------------------


@dataclass
class ApiClient:
    """A Flask test client that sends one principal's API key (and a purpose, when given)."""

    client: Any
    api_key: str
    principal_id: uuid.UUID
    name: str

    def _headers(self, purpose: str | None, headers: dict | None) -> dict:
        out = {"Authorization": f"Bearer {self.api_key}"}
        if purpose:
            out["X-Purpose"] = purpose
        out.update(headers or {})
        return out

    def get(self, url, purpose=None, headers=None, **kw):
        return self.client.get(url, headers=self._headers(purpose, headers), **kw)

    def post(self, url, json=None, purpose=None, headers=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(purpose, headers), **kw)

    def patch(self, url, json=None, purpose=None, headers=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(purpose, headers), **kw)

    def open(self, url, method, purpose=None, headers=None, **kw):
        return self.client.open(url, method=method, headers=self._headers(purpose, headers), **kw)


@pytest.fixture
def make_principal(runtime):
    from govern.identity import service
    from govern.identity.actor import Actor

    counter = iter(range(10_000))

    def make(*roles: str, name: str | None = None):
        with runtime.database.unit_of_work() as session:
            issued = service.create(
                session=session, policy=runtime.policy, actor=Actor.operator(), name=name or f"p-{'-'.join(roles)}-{next(counter)}".replace("_", "-"),
                roles=list(roles),
            )
        return issued.principal, issued.api_key

    return make


@pytest.fixture
def client_as(app, make_principal):
    """client_as("sales_service") → an ApiClient for a new principal holding that role."""

    def make(*roles: str) -> ApiClient:
        principal, key = make_principal(*roles)
        return ApiClient(app.test_client(), key, principal.id, principal.name)

    return make


VALID_FIELDS = {
    "name": "张三",
    "mobile": "13812345678",
    "email": "zhang.san@example.cn",
    "address": "上海市浦东新区世纪大道100号",
    "id_card_number": "11010519491231002X",
    "bank_card_number": "6222020200112345679",
}


@pytest.fixture
def valid_fields() -> dict:
    return dict(VALID_FIELDS)


# The basis the factory's writes of sensitive fields name (govern/consent/collection.py): a basis each jurisdiction's
# policy accepts, for legal_compliance (a purpose that declares every field). Tests of the rule itself pass their own.
FIXTURE_BASES = {
    "CN": {"basis": "legal_obligation", "reference": "test fixture: statutory record", "purpose": "legal_compliance"},
    "EU": {"basis": "f", "reference": "test fixture: legal claims", "purpose": "legal_compliance"},
    "US-CA": {"basis": "notice_at_collection", "reference": "test fixture: notice at collection v1", "purpose": "legal_compliance"},
}


def fixture_collection(jurisdiction: str):
    from govern.consent.collection import Collection, StatedBasis

    return Collection(stated=StatedBasis(**FIXTURE_BASES[jurisdiction])) if jurisdiction in FIXTURE_BASES else None


@pytest.fixture
def make_subject(runtime):
    """Creates a subject through the service (as an operator) and returns its id. Its sensitive fields are written on
    the jurisdiction's fixture basis (FIXTURE_BASES). A CN minor (PIPL Art. 28, 31: every field needs the guardian's
    separate consent) is created as the CRM meets one: its fields first, then the date of birth that shows its age."""
    from datetime import date

    from govern.consent import service as consent
    from govern.identity.actor import Actor
    from govern.subjects import service

    def make(fields: dict | None = None, jurisdiction: str = "CN", **kw) -> uuid.UUID:
        values = dict(VALID_FIELDS if fields is None else fields)
        kw.setdefault("collection", fixture_collection(jurisdiction))
        later = {}
        terms = runtime.policy.collection.get(jurisdiction)
        if terms is not None and terms.minors_all_fields and "birth_date" in values:
            age = consent.minors_age(runtime.policy, jurisdiction, kw.get("member_state"))
            if consent.is_minor(date.fromisoformat(values["birth_date"]), age, date.today()):
                later = {"birth_date": values.pop("birth_date")}
        with runtime.database.unit_of_work() as session:
            subject = service.create(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), jurisdiction=jurisdiction,
                fields=values, **kw,
            )
            if later:
                service.update(
                    session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=subject.id,
                    expected_version=subject.version, fields=later, collection=kw["collection"],
                )
            return subject.id

    return make


@pytest.fixture
def policies(tmp_path) -> Path:
    """A copy of the shipped policies/ folder to edit: a test changes a file there and loads it as start-up does."""
    import shutil

    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


STAFF_PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_staff(runtime):
    """make_staff("dpo") → the new staff Principal (password STAFF_PASSWORD), named after its first role unless `name`."""
    from govern.identity import staff
    from govern.identity.actor import Actor

    counter = iter(range(10_000))

    def make(*roles: str, name: str | None = None, password: str = STAFF_PASSWORD):
        with runtime.database.unit_of_work() as session:
            return staff.create(
                session=session, policy=runtime.policy, actor=Actor.operator(), name=name or f"{roles[0].replace('_', '-')}-{next(counter)}",
                roles=list(roles), password=password,
            )

    return make


@pytest.fixture
def person(make_staff):
    """person("dpo", name=…) → (the new staff Principal, the Actor it acts as once signed in)."""
    from govern.identity.actor import Actor

    def make(*roles: str, name: str | None = None):
        p = make_staff(*roles, name=name)
        return p, Actor(name=p.name, kind="staff", roles=tuple(roles), principal_id=p.id)

    return make


@pytest.fixture
def audit_events(runtime):
    """audit_events() → every audit event so far, oldest first, as AuditEvent rows."""
    from sqlalchemy import select

    from govern.audit.models import AuditEvent

    def read(**filters):
        with runtime.database.unit_of_work() as session:
            query = select(AuditEvent).order_by(AuditEvent.id)
            for key, value in filters.items():
                query = query.where(getattr(AuditEvent, key) == value)
            return list(session.scalars(query))

    return read


@pytest.fixture
def row_counts(runtime):
    """row_counts() → {table: rows} for every table, to prove a refused request changed nothing."""

    def count() -> dict[str, int]:
        from sqlalchemy import inspect

        existing = set(inspect(runtime.database.engine).get_table_names())
        with runtime.database.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in _tables(runtime) if t in existing}

    return count


def repo_path(*parts: str) -> Path:
    return PROJECT_ROOT.joinpath(*parts)
