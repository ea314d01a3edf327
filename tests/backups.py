"""Backups, restores and raw dumps of the test database, through the code `govern backup` / `govern restore` run."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from govern.subject_requests.cli import backup_database, libpq_url, restore_database


def backup(runtime, target: Path) -> Path:
    """The same backup `govern backup` makes."""
    backup_database(runtime.settings.database_url, target)
    return target


def restore(runtime, source: Path) -> None:
    """The same restore `govern restore` makes, with this process's pooled connections and cached keys dropped."""
    runtime.database.engine.dispose()
    restore_database(runtime.settings.database_url, source)
    runtime.envelope.cache.clear()


def read_raw(path: Path) -> bytes:
    """A file's bytes, read by a child process. Never open() a live SQLite file (database, -wal, -shm) in this process:
    closing that descriptor drops every POSIX lock the process holds on the file, so another process takes itself for
    the last connection, checkpoints and deletes the WAL under this process's open connections, whose commits then go
    to an unlinked file (other processes stop seeing them) and later end in "disk I/O error"."""
    return subprocess.run(["cat", str(path)], capture_output=True, check=True, timeout=120).stdout


def dump_text(runtime, target: Path) -> bytes:
    """Every byte the database holds, as a file: the SQLite file (after a WAL checkpoint) or a plain pg_dump."""
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        runtime.database.engine.dispose()
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        data = read_raw(path)
        wal = path.with_name(path.name + "-wal")
        return data + (read_raw(wal) if wal.exists() else b"")
    subprocess.run(["pg_dump", "-f", str(target), libpq_url(url)], check=True, timeout=120)
    return target.read_bytes()
