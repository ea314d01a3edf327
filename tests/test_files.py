"""Files are private: GOVERN_HOME 0700 and every file govern writes 0600 from the moment it exists, whatever the
operator's umask; `govern init` tightens looser modes it finds and names each file with its old and new mode.

These run `govern` as an operator would, on a home of their own with its SQLite database (the files under test), on
either test run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from govern.config import PROJECT_ROOT


@contextmanager
def loose_umask():
    """The umask of many shells (022): anything not made private on purpose would be world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(home: Path) -> dict:
    return {**os.environ, "GOVERN_HOME": str(home), "GOVERN_DATABASE_URL": f"sqlite:///{home / 'govern.db'}",
            "GOVERN_POLICIES": str(PROJECT_ROOT / "policies"), "GOVERN_LOG_LEVEL": "WARNING"}


def _govern(home: Path, *args: str) -> subprocess.CompletedProcess:
    with loose_umask():
        result = subprocess.run([sys.executable, "-m", "govern.cli", *args], env=_env(home), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def _everything(home: Path) -> dict[Path, int]:
    return {p: _mode(p) for p in [home, *home.rglob("*")] if not p.is_symlink()}


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "govern-home"


def test_a_new_home_its_database_and_keyring_are_private_under_a_loose_umask(home):
    _govern(home, "init")
    assert _mode(home) == 0o700
    assert _mode(home / "keyring.json") == 0o600
    assert _mode(home / "govern.db") == 0o600
    assert {p.name: oct(m) for p, m in _everything(home).items() if m & 0o077} == {}


def test_the_sqlite_wal_and_shm_files_are_private_while_the_database_is_open(home):
    from sqlalchemy import text

    from govern.db import Database

    _govern(home, "init")
    with loose_umask():
        database = Database(f"sqlite:///{home / 'govern.db'}")
        try:
            with database.engine.begin() as conn:
                conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
                conn.execute(text("INSERT INTO scratch VALUES (1)"))
            with database.engine.connect() as conn:
                conn.execute(text("SELECT x FROM scratch")).all()
                wal, shm = home / "govern.db-wal", home / "govern.db-shm"
                assert wal.exists() and shm.exists()
                assert (_mode(wal), _mode(shm)) == (0o600, 0o600)
        finally:
            database.dispose()


def test_backups_and_exports_written_by_commands_are_private(home, tmp_path):
    _govern(home, "init")
    _govern(home, "principals", "create", "--name", "crm", "--role", "sales_service")  # something in the log
    elsewhere = tmp_path / "operator-folder"  # outside GOVERN_HOME too: the files carry personal data or keys' ids
    _govern(home, "backup", "--out", str(home / "govern-backup.db"))
    _govern(home, "audit", "export", "--out", str(elsewhere / "audit-export"))
    _govern(home, "consent", "export", "--out", str(elsewhere / "preferences.csv"))
    written = {**_everything(home), **_everything(elsewhere)}
    assert home / "govern-backup.db" in written
    assert any(p.name == "manifest.json" for p in written) and elsewhere / "preferences.csv" in written
    assert {str(p): oct(m) for p, m in written.items() if m & 0o077} == {}


def test_init_tightens_looser_modes_and_names_each_file(home):
    _govern(home, "init")
    exports = home / "exports"
    exports.mkdir()
    (exports / "package.zip").write_bytes(b"PK")
    for path, mode in ((home, 0o755), (home / "keyring.json", 0o644), (home / "govern.db", 0o640), (exports, 0o755), (exports / "package.zip", 0o604)):
        path.chmod(mode)
    result = _govern(home, "init", "--json")
    fixed = {f["path"]: (f["old_mode"], f["new_mode"]) for f in json.loads(result.stdout)["modes_fixed"]}
    assert fixed == {
        str(home): ("0o755", "0o700"), str(home / "keyring.json"): ("0o644", "0o600"), str(home / "govern.db"): ("0o640", "0o600"),
        str(exports): ("0o755", "0o700"), str(exports / "package.zip"): ("0o604", "0o600"),
    }
    assert {p.name: oct(m) for p, m in _everything(home).items() if m & 0o077} == {}
    again = _govern(home, "init")
    assert "tightened" not in again.stdout


def test_init_says_in_words_which_file_it_tightened(home):
    _govern(home, "init")
    (home / "keyring.json").chmod(0o644)
    result = _govern(home, "init")
    assert f"tightened {home / 'keyring.json'}: 0o644 -> 0o600" in result.stdout


def test_a_link_out_of_the_home_is_not_followed(home, tmp_path):
    _govern(home, "init")
    outside = tmp_path / "not-govern.txt"
    outside.write_text("someone else's file")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    _govern(home, "init")
    assert _mode(outside) == 0o644


def test_serve_tightens_modes_at_start_and_says_so_even_when_it_then_refuses_to_start(home):
    from govern.crypto.keyring import Keyring

    _govern(home, "init")
    (home / "keyring.json").unlink()
    Keyring.create(home / "keyring.json")  # not this database's: serve will refuse, after tightening
    (home / "govern.db").chmod(0o644)
    with loose_umask():
        result = subprocess.run([sys.executable, "-m", "govern.cli", "serve", "--dev", "--port", "1"], env=_env(home), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not match" in result.stderr
    said = [json.loads(line) for line in result.stderr.splitlines() if "file_mode_tightened" in line]
    assert [(x["path"], x["old_mode"], x["new_mode"]) for x in said] == [(str(home / "govern.db"), "0o644", "0o600")]
    assert _mode(home / "govern.db") == 0o600
