"""What every long job (key rotation, purge, export) shares: its progress figures and how an operator sees them, and
the locks that keep two runs of one job apart."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import click
from sqlalchemy.engine import Connection

from govern.db import Database


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate: float  # units per second since this run started

    @property
    def seconds_left(self) -> float:
        return (self.total - self.done) / self.rate if self.rate > 0 else float("inf")


class ProgressLine:
    """Rows done, rate and time left: one rewritten line on a terminal, a line every `log_every` seconds in a log
    (cron, Kubernetes), and always the last one. Given a structlog `logger` (inside `govern serve`, where every line
    is JSON), each line is a log event instead."""

    def __init__(self, verb: str, unit: str, log_every: float = 10.0, logger=None) -> None:
        self.verb, self.unit, self.log_every, self.logger = verb, unit, log_every, logger
        self.tty = sys.stderr.isatty() and logger is None
        self.last = float("-inf")  # the first figure is always written
        self.shown = False

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and p.done < p.total and now - self.last < self.log_every:
            return
        self.last, self.shown = now, True
        if self.logger is not None:
            self.logger.info("progress", verb=self.verb, unit=self.unit, done=p.done, total=p.total, per_second=round(p.rate, 1))
            return
        left = f"{p.seconds_left:,.0f}s" if p.seconds_left != float("inf") else "?"
        line = f"{self.verb} {p.done:,}/{p.total:,} {self.unit} ({100 * p.done / max(p.total, 1):.1f}%)  {p.rate:,.0f} {self.unit}/s  ~{left} left"
        click.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)

    def end(self) -> None:
        if self.tty and self.shown:
            click.echo("", err=True)


def rate_since(started: float, done: int) -> float:
    return done / max(time.monotonic() - started, 1e-6)


@contextmanager
def host_lock(path: Path, busy: Callable[[], Exception]) -> Iterator[None]:
    """An exclusive flock on `path` (created 0600), or `busy()` raised at once; the kernel releases it when the holder
    dies, kill -9 included."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy() from None
        yield
    finally:
        os.close(fd)


@contextmanager
def database_lock(database: Database, lock_id: int, busy: Callable[[], Exception]) -> Iterator[Connection]:
    """A PostgreSQL session advisory lock on a connection of its own, or `busy()` raised at once. The server releases it
    when the holder's session ends, kill -9 included. Yields the connection: while it answers, the lock is held."""
    with database.engine.connect() as conn:
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({lock_id})").scalar():
            conn.rollback()
            raise busy()
        conn.commit()
        try:
            yield conn
        finally:
            try:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_id})")
                conn.commit()
            except Exception:  # connection lost: the server has released the lock with the session
                pass
