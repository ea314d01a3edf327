"""SQLAlchemy 2.0 engine and sessions: one transaction per request or per CLI batch, committed in one place."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Iterable, Iterator

from sqlalchemy import BigInteger, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint identity.
BigIntegerPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str, *, lock_timeout_ms: int | None = None, statement_timeout_ms: int = 0) -> Engine:
    if url.startswith("sqlite"):
        # SQLite's only lock is the database's write lock: wait for it as long as lock_timeout_ms says (default 30 s).
        busy_ms = 30000 if lock_timeout_ms is None else lock_timeout_ms
        engine = create_engine(url, connect_args={"timeout": busy_ms / 1000, "check_same_thread": False})
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, busy_ms))
        # Every request writes (at least its audit event), so take the write lock up front: a deferred
        # transaction that reads first and writes later fails at once with SQLITE_BUSY under WAL
        # instead of waiting its turn.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # No pre-ping: it costs a round trip on every checkout, on every request. A connection the server dropped
    # fails that one request (which rolls back) and is replaced; recycling keeps idle connections fresh.
    # Timeouts travel in the connection's startup packet (no round trip): a statement blocked by a lock longer than
    # lock_timeout fails (55P03) instead of holding its request, which then answers 503 (govern/input_limits.py).
    lock_ms = 5000 if lock_timeout_ms is None else lock_timeout_ms
    options = " ".join(f"-c {name}={ms}" for name, ms in (("lock_timeout", lock_ms), ("statement_timeout", statement_timeout_ms)) if ms)
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800, connect_args={"options": options} if options else {})


def _sqlite_pragmas(dbapi_conn, _record, busy_ms: int = 30000) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    # PostgreSQL's sha256(bytea), so a query can compare fingerprints of stored values on either database.
    dbapi_conn.create_function("sha256", 1, _sha256, deterministic=True)


def _sha256(value: bytes | None) -> bytes | None:
    return None if value is None else hashlib.sha256(value).digest()


class Database:
    """Owns the engine and hands out sessions; the caller decides when to commit."""

    def __init__(self, url: str, *, lock_timeout_ms: int | None = None, statement_timeout_ms: int = 0) -> None:
        self.url = url
        self.engine = make_engine(url, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One CLI batch: commits when the block ends normally, rolls back otherwise."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


class HotStatement:
    """A statement on every request's path (authenticate, read, audit), compiled once per dialect.

    On PostgreSQL it runs on the session's own DBAPI connection, in the session's transaction, without SQLAlchemy's
    per-execution work (cache lookup, execution context, result metadata, type processing): for these three
    statements that work cost more CPU than the statements themselves (bench/read_path.py). Their columns need no
    type processing there: psycopg returns uuid, datetime, bytes and json values as they are. Elsewhere (SQLite) the
    statement runs through SQLAlchemy as usual. Rows are named tuples either way; driver errors surface as
    SQLAlchemy's DBAPIError, as they would through SQLAlchemy.
    """

    def __init__(self, statement, column_keys: Iterable[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._sql: dict[str, str] = {}

    def _compiled(self, dialect) -> str:
        sql = self._sql.get(dialect.name)
        if sql is None:
            sql = self._sql[dialect.name] = str(self.statement.compile(dialect=dialect, column_keys=self.column_keys))
        return sql

    def rows(self, session: Session, params: dict) -> list:
        connection = session.connection()
        if connection.dialect.name != "postgresql":
            return connection.execute(self.statement, params).all()
        from psycopg.rows import namedtuple_row

        sql = self._compiled(connection.dialect)
        try:
            with connection.connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as exc:
            if connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, None):
                connection.invalidate(exc)  # as SQLAlchemy would: the pool must not hand out a dead connection
            raise DBAPIError.instance(sql, params, exc, connection.dialect.loaded_dbapi.Error) from exc
