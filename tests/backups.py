"""Real backups and restores of the test database (SQLite's online backup API; pg_dump and pg_restore)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def backup(runtime, target: Path) -> Path:
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        source = sqlite3.connect(make_url(url).database)
        dest = sqlite3.connect(target)
        with dest:
            source.backup(dest)
        source.close()
        dest.close()
    else:
        subprocess.run(["pg_dump", "-Fc", "-f", str(target), libpq_url(url)], check=True, timeout=120)
    return target


def restore(runtime, source: Path) -> None:
    url = runtime.settings.database_url
    runtime.database.engine.dispose()
    if url.startswith("sqlite"):
        src = sqlite3.connect(source)
        dest = sqlite3.connect(make_url(url).database)
        with dest:
            src.backup(dest)
        src.close()
        dest.close()
    else:
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "-d", libpq_url(url), str(source)], check=True, timeout=120, capture_output=True)
    runtime.envelope.cache.clear()


def dump_text(runtime, target: Path) -> bytes:
    """Every byte the database holds, as a file: the SQLite file (after a WAL checkpoint) or a plain pg_dump."""
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        runtime.database.engine.dispose()
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        data = path.read_bytes()
        wal = path.with_name(path.name + "-wal")
        return data + (wal.read_bytes() if wal.exists() else b"")
    subprocess.run(["pg_dump", "-f", str(target), libpq_url(url)], check=True, timeout=120)
    return target.read_bytes()
