"""SQLAlchemy 2.0 engine and sessions: one transaction per request or per CLI batch, committed in one place."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import namedtuple
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from psycopg import (
    RawCursor,  # $n placeholders (HotStatement._positional)
    pq,
)
from psycopg import errors as pg_errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.generators import execute as pg_execute
from psycopg.rows import namedtuple_row
from sqlalchemy import BigInteger, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
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


def make_engine(url: str, *, lock_timeout_ms: int | None = None, statement_timeout_ms: int = 0, autocommit: bool = False) -> Engine:
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
    # `autocommit`: every connection of the pool is in AUTOCOMMIT from its start (set once, never reset on check-in).
    # No reset on check-in either: such a connection never holds a transaction to roll back.
    more: dict = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800, connect_args={"options": options} if options else {}, **more)


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
        # PostgreSQL: a second pool, of connections in AUTOCOMMIT, for the audited reads (read_session). Its connections
        # are opened on first use only, so a command that never serves a read opens none.
        self.autocommit_engine = (
            make_engine(url, lock_timeout_ms=lock_timeout_ms, statement_timeout_ms=statement_timeout_ms, autocommit=True)
            if self.engine.dialect.name == "postgresql" else None
        )

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

    def read_session(self) -> Session:
        """A session for a unit of work that changes nothing but the audit log (an audited read, govern/app.py): on
        PostgreSQL it runs on one connection in AUTOCOMMIT for the whole unit (every statement — the hot ones and the
        ORM's — commits as it runs, so its audit event is durable before any data is returned, and there is no BEGIN
        or COMMIT to send). The connection is checked out here, once; `end` gives it back. Elsewhere: a plain session."""
        if self.autocommit_engine is None:
            return self.sessions()
        connection = self.autocommit_engine.connect()
        session = self.sessions(bind=connection)
        session.info[HOT_CONNECTION] = connection
        return session

    @staticmethod
    def end(session: Session) -> None:
        """Closes a session of `sessions` or `read_session`, and gives the latter's connection back to its pool."""
        try:
            session.close()
        finally:
            connection = session.info.pop(HOT_CONNECTION, None)
            if connection is not None:
                connection.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.autocommit_engine is not None:
            self.autocommit_engine.dispose()

    def connection_lost(self) -> None:
        """A statement found the server gone (a restart, a fail-over): every idle connection of both pools was opened
        to that server and is as dead, so both pools start afresh instead of failing one request per connection. Idle
        connections are closed; those requests hold now are not closed under them, and go when they are given back."""
        self.dispose()


@contextmanager
def begin_after_refusal(session: Session) -> Iterator[Session]:
    """A refused action is answered with its item's page as it stands (an error status: 400, 409, 423): what the unit of
    work did so far is undone now — the refused action leaves nothing — and what the block does is only the page's
    reads and their audit events, which the request commits though it answers an error (govern/app.py), or it answers
    503 audit_unavailable instead of the page. Without this those events would be rolled back with the refused action
    while the data they record went out. A block that raises made no page: its unit of work is rolled back as usual."""
    session.rollback()
    session.info[KEPT_AFTER_REFUSAL] = True
    try:
        yield session
    except BaseException:
        session.info.pop(KEPT_AFTER_REFUSAL, None)
        raise


def kept_after_refusal(session: Session) -> bool:
    """Whether the unit of work holds a page made after a refusal (begin_after_refusal): committed whatever the status."""
    return bool(session.info.get(KEPT_AFTER_REFUSAL))


# Session.info key: the unit of work holds a page's reads made after a refused action (begin_after_refusal).
KEPT_AFTER_REFUSAL = "govern.kept_after_refusal"
# Session.info key: the connection a read_session runs on; hot statements use it without asking the session.
HOT_CONNECTION = "govern.hot_connection"
# The pooled DBAPI connection's info key: its cursor for hot statements, made once per connection.
_HOT_CURSOR = "govern.hot_cursor"


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
        self._numbered: tuple[str, tuple[str, ...]] | None = None
        self._name = f"govern_hot_{next(_HOT_NAMES)}".encode()  # its prepared statement's name on every connection
        self._row_type: Any = None  # the named tuple of its rows, made from the first result's column names

    def _compiled(self, dialect) -> str:
        sql = self._sql.get(dialect.name)
        if sql is None:
            sql = self._sql[dialect.name] = str(self.statement.compile(dialect=dialect, column_keys=self.column_keys))
        return sql

    def _positional(self, dialect) -> tuple[str, tuple[str, ...]]:
        """The PostgreSQL text with $1, $2… and the parameter names in that order: psycopg sends it as it is, instead
        of parsing the %(name)s placeholders and reordering a dict on every execution."""
        if self._numbered is None:
            order: dict[str, int] = {}

            def number(match: re.Match) -> str:
                return f"${order.setdefault(match.group(1), len(order) + 1)}"

            text = _NAMED.sub(number, self._compiled(dialect)).replace("%%", "%")
            self._numbered = (text, tuple(order))
        return self._numbered

    def rows(self, session: Session, params: dict) -> list:
        # A read_session's connection is at hand: asking the session for it (its transaction machinery) cost more
        # than the statement's own round trip.
        connection: Connection = session.info.get(HOT_CONNECTION) or session.connection()
        if connection.dialect.name != "postgresql":
            return connection.execute(self.statement, params).all()
        sql, names = self._positional(connection.dialect)
        try:
            driver = connection.connection.driver_connection
            if driver.autocommit and driver._pipeline is None:  # noqa: SLF001  (psycopg has no public test for it)
                return self._lean(connection, driver, sql, [params[name] for name in names])
            cursor = _hot_cursor(connection)
            cursor.execute(sql, [params[name] for name in names], prepare=True)
            return cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as exc:
            lost = connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
            if lost:
                connection.invalidate(exc)  # as SQLAlchemy would: the pool must not hand out a dead connection
            raise DBAPIError.instance(sql, params, exc, connection.dialect.loaded_dbapi.Error, connection_invalidated=lost) from exc


    def _lean(self, connection: Connection, driver, sql: str, values: list) -> list:
        """The statement on a connection in AUTOCOMMIT (a read_session's), through libpq's prepared execution and
        psycopg's own C adapters, without its cursor: a cursor's execute spent more CPU in Python (its prepared-statement
        bookkeeping, a new Transformer each time two statements alternate, its result and row-maker set-up) than the
        round trip itself (bench/read_path.py). No BEGIN is owed in AUTOCOMMIT, so nothing a cursor would send is left
        out. The statement is prepared on the connection on first use, its parameters sent as text (the SQL casts each
        one, so the server knows their types) and the rows loaded by the same loaders a cursor would use."""
        state = _lean_state(connection, driver)
        pgconn, tx = driver.pgconn, state.tx
        with driver.lock:
            if self._name not in state.prepared:
                driver.wait(_prepare(pgconn, self._name, sql.encode(), tx.encoding))
                state.prepared.add(self._name)
            pgconn.send_query_prepared(self._name, tx.dump_sequence(values, [PyFormat.TEXT] * len(values)) if values else None)
            result = driver.wait(pg_execute(pgconn))[-1]
        if result.status != pq.ExecStatus.TUPLES_OK:
            if result.status == pq.ExecStatus.COMMAND_OK:
                return []
            raise pg_errors.error_from_result(result, encoding=tx.encoding)
        tx.set_pgresult(result)
        row_type = self._row_type
        if row_type is None:
            row_type = self._row_type = namedtuple("Row", [result.fname(i).decode() for i in range(result.nfields)], rename=True)  # type: ignore[union-attr, misc]
        rows = tx.load_rows(0, result.ntuples, row_type._make)
        tx.set_pgresult(None)
        return rows


class _LeanState:
    """What a pooled PostgreSQL connection keeps for HotStatement._lean: its adapters and the statements it prepared."""

    __slots__ = ("driver", "prepared", "tx")

    def __init__(self, driver) -> None:
        self.driver = driver
        self.tx = Transformer(driver)
        self.prepared: set[bytes] = set()


def _lean_state(connection: Connection, driver) -> _LeanState:
    pooled = connection.connection
    state = pooled.info.get(_LEAN_STATE)
    if state is None or state.driver is not driver:  # a reconnected record starts again: its statements are gone
        state = pooled.info[_LEAN_STATE] = _LeanState(driver)
    return state


def _prepare(pgconn, name: bytes, sql: bytes, encoding: str):
    """Generator (run by the connection's wait): PREPARE name AS sql, raising the server's error if it refuses."""
    pgconn.send_prepare(name, sql)
    for result in (yield from pg_execute(pgconn)):
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise pg_errors.error_from_result(result, encoding=encoding)


_HOT_NAMES = itertools.count(1)
_LEAN_STATE = "govern.hot_lean"


def _hot_cursor(connection: Connection):
    """The pooled connection's own cursor for hot statements, made on its first one and reused while the connection
    lives (one thread at a time holds a pooled connection; rows are fetched whole, so nothing is left pending)."""
    pooled = connection.connection
    cursor = pooled.info.get(_HOT_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not pooled.driver_connection:
        cursor = pooled.info[_HOT_CURSOR] = RawCursor(pooled.driver_connection, row_factory=namedtuple_row)
    return cursor


_NAMED = re.compile(r"%\((\w+)\)s")
