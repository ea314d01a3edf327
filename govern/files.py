"""Files govern writes are its owner's alone: GOVERN_HOME and its folders 0700, every file 0600.

Rather than a mode at each of the many places that write (the SQLite database and its WAL/SHM, the keyring, audit
exports, access packages, backups, tombstones and purge ledgers, checkpoints), every process that runs govern sets
its umask to 077 before it writes anything, so a file is never readable by others even for an instant. Files made
before that (an older govern, a restore, a `cp` without -p) are tightened by `govern init` and at `govern serve`'s
start, which name each file with its old and new mode.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from govern.config import Settings
from govern.logging import get_logger

log = get_logger("govern.files")

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_files() -> None:
    """From here on, this process creates files 0600 and folders 0700 (whatever mode a call asks for)."""
    os.umask(PRIVATE_UMASK)


@dataclass(frozen=True)
class ModeFix:
    path: Path
    old: int
    new: int

    def __str__(self) -> str:
        return f"{self.path}: {oct(self.old)} -> {oct(self.new)}"


def make_home(settings: Settings) -> None:
    private_files()
    settings.home.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def _sqlite_file(settings: Settings) -> Path | None:

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve()


def _places(settings: Settings) -> list[Path]:
    """GOVERN_HOME, and the secrets govern keeps outside it when configured so. (A checkpoint folder configured
    elsewhere is left as the operator set it up: checkpoints and keys.json are published for auditors.)"""
    places = [settings.home, settings.audit_key_path]
    db = _sqlite_file(settings)
    if db is not None:
        places += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")]
    return places


def _tighten(path: Path, fixes: list[ModeFix]) -> None:
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return  # never follow a link out of GOVERN_HOME to chmod what it points at
    old = stat.S_IMODE(st.st_mode)
    if old & 0o077:
        # Owner's bits kept (a read-only file stays read-only); a folder its owner cannot enter helps nobody.
        new = (old & 0o700) | (DIR_MODE if stat.S_ISDIR(st.st_mode) else 0)
        os.chmod(path, new)
        fixes.append(ModeFix(path, old, new))


def fix_modes(settings: Settings) -> list[ModeFix]:
    """Takes group and other permissions off every file and folder under GOVERN_HOME (and the SQLite files and the
    signing key where they live elsewhere); returns, and logs, each change."""
    fixes: list[ModeFix] = []
    seen: set[Path] = set()
    for place in _places(settings):
        if place in seen or not place.exists():
            continue
        seen.add(place)
        _tighten(place, fixes)
        if place.is_dir() and not place.is_symlink():
            for root, dirs, files in os.walk(place):
                for name in dirs + files:
                    path = Path(root) / name
                    if path not in seen:
                        seen.add(path)
                        _tighten(path, fixes)
    for fix in fixes:
        log.warning("file_mode_tightened", path=str(fix.path), old_mode=oct(fix.old), new_mode=oct(fix.new))
    return fixes


def write_private_json(path: Path, doc: dict[str, Any], *, new: bool) -> None:
    """Writes a secret-bearing JSON file (keyrings, key state, export keys) 0600 and fsynced. `new`: created exclusively
    (never over an existing one); otherwise written beside it and renamed over it, so a crash leaves the old or the new
    file whole, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if new else path.with_suffix(".tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if new else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    if not new:
        os.replace(target, path)
