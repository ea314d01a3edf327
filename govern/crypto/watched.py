"""A key store's state file watched for changes made by another process (a rotation or a suite migration run by the CLI
while the service runs): one stat per interval, a reload only when the file's mtime moved."""

from __future__ import annotations

import time
from pathlib import Path


class WatchedFile:
    """The base of the file keyring and of the PKCS#11 provider's state: `path` is watched, `_reload()` re-reads it."""

    path: Path
    _mtime: float = 0.0
    _checked: float = 0.0

    def _stat_mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _watch(self) -> None:
        """Takes the file as it is now as the one in use (after loading or saving it)."""
        self._mtime = self._stat_mtime()
        self._checked = time.monotonic()

    def _reload(self) -> None:
        raise NotImplementedError

    def reload_if_changed(self, every_seconds: float = 2.0) -> None:
        """Picks up a change made by another process without a restart; one stat per interval."""
        now = time.monotonic()
        if now - self._checked < every_seconds:
            return
        self._checked = now
        if self._stat_mtime() != self._mtime:
            self._reload()
