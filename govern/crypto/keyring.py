"""The master keyring: versioned key-encryption keys (KEKs) and the blind-index key, kept in a 0600 file.

The file lives in GOVERN_HOME (or GOVERN_KEYRING_FILE) apart from the database, so a stolen database or backup
holds only wrapped keys. Writes are atomic (temporary file, fsync, rename) so a crash never leaves half a keyring.

This is the default master-key provider (govern.crypto.provider.MasterKeys); govern.crypto.hsm is the other, whose
master keys stay inside a PKCS#11 token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from govern.files import write_private_json

NONCE_BYTES = 12
CHECK_LABEL = b"govern key-check value v1"  # what a key-check value is computed over (govern.crypto.checks)
TOKEN_STATE_FILE = "kek-state.json"  # the PKCS#11 provider's state in GOVERN_HOME (govern.crypto.hsm)

class KeyringError(Exception):
    """The keyring is missing, unreadable, too widely readable, or lacks a key version that data needs."""


@dataclass(frozen=True)
class MasterKey:
    version: int
    key: bytes
    created_at: str


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def master_check(key: bytes, version: int) -> str:
    """The file keyring's key-check value: HMAC-SHA256 of a fixed label under the master key."""
    return hmac.new(key, CHECK_LABEL + b"\x00master\x00" + str(version).encode(), hashlib.sha256).hexdigest()


class Keyring:
    """Holds the KEKs by version, the active version, the blind-index key and any rotation in progress."""

    kind = "file"

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._apply(doc)
        self._mtime = self._stat_mtime()
        self._checked = time.monotonic()
        # Set by govern.crypto.checks: refuses (raises KeyringError) a keyring file that is not the database's, so a
        # file swapped behind a running process is reported rather than adopted.
        self.accept: Callable[[Any], None] | None = None

    # --- loading and saving ---

    @classmethod
    def create(cls, path: Path) -> "Keyring":
        """Generates a new keyring file; refuses to overwrite one (that would orphan every wrapped key)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": 1,
            "active": 1,
            "master_keys": [{"version": 1, "key": _b64(os.urandom(32)), "created_at": _now()}],
            "index_key": _b64(os.urandom(32)),
            "rotation": None,
        }
        write_private_json(path, doc, new=True)
        return cls(path, doc)

    @classmethod
    def load(cls, path: Path) -> "Keyring":
        return cls(path, cls._read(path))

    @classmethod
    def load_or_create(cls, path: Path) -> tuple["Keyring", bool]:
        if path.exists():
            return cls.load(path), False
        return cls.create(path), True

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise KeyringError(f"{path}: no keyring; run `govern init`") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(f"{path}: keyring is readable by group or others; chmod 600 it")
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
            for entry in doc["master_keys"]:
                if len(base64.b64decode(entry["key"])) != 32:
                    raise ValueError("master key is not 256 bits")
            if len(base64.b64decode(doc["index_key"])) != 32:
                raise ValueError("index key is not 256 bits")
            if doc["active"] not in {e["version"] for e in doc["master_keys"]}:
                raise ValueError("active version has no key")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"{path}: not a valid keyring: {exc}") from None
        return doc

    def _apply(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        self._keys: dict[int, MasterKey] = {
            e["version"]: MasterKey(e["version"], base64.b64decode(e["key"]), e["created_at"]) for e in doc["master_keys"]
        }
        self.active_version: int = doc["active"]
        self.index_key: bytes = base64.b64decode(doc["index_key"])
        self.rotation: dict[str, Any] | None = doc.get("rotation")

    def _stat_mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _save(self) -> None:
        write_private_json(self.path, self._doc, new=False)
        self._mtime = self._stat_mtime()

    def reload_if_changed(self, every_seconds: float = 2.0) -> None:
        """Picks up a rotation made by another process (the CLI) without a restart; one stat per interval."""
        now = time.monotonic()
        if now - self._checked < every_seconds:
            return
        self._checked = now
        if self._stat_mtime() != self._mtime:
            with self._lock:
                doc = self._read(self.path)
                if self.accept is not None:
                    self.accept(Keyring(self.path, doc))
                self._apply(doc)
                self._mtime = self._stat_mtime()

    # --- use ---

    def master_key(self, version: int) -> bytes:
        key = self._keys.get(version)
        if key is None:
            # Another process may have rotated since we loaded: look once more before failing.
            self.reload_if_changed(every_seconds=0)
            key = self._keys.get(version)
        if key is None:
            raise KeyringError(f"master key version {version} is not in the keyring")
        return key.key

    def wrap(self, version: int, plaintext: bytes, aad: bytes) -> bytes:
        """AES-256-GCM under master key `version`: nonce, then ciphertext and tag."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.master_key(version)).encrypt(nonce, plaintext, aad)

    def unwrap(self, version: int, sealed: bytes, aad: bytes) -> bytes:
        """Raises cryptography's InvalidTag when `sealed` was not made by wrap() under `version` with `aad`."""
        return AESGCM(self.master_key(version)).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)

    def check_value(self, version: int) -> str:
        return master_check(self.master_key(version), version)

    def close(self) -> None:
        """Nothing to release: the keys are in memory only."""

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def describe(self) -> dict[str, Any]:
        """What an operator may see: versions and dates, never key material."""
        return {
            "provider": self.kind,
            "path": str(self.path),
            "active": self.active_version,
            "versions": [{"version": k.version, "created_at": k.created_at} for k in sorted(self._keys.values(), key=lambda k: k.version)],
            "rotation": self.rotation,
        }

    # --- rotation bookkeeping ---

    def begin_rotation(self) -> int:
        """Adds a new KEK version, makes it active for new data keys, and records the rotation as in progress."""
        with self._lock:
            version = max(self._keys) + 1
            self._doc["master_keys"].append({"version": version, "key": _b64(os.urandom(32)), "created_at": _now()})
            self._doc["active"] = version
            self._doc["rotation"] = {"target": version, "started_at": _now()}
            self._save()
            self._apply(self._doc)
            return version

    def finish_rotation(self, rewrapped: int) -> None:
        with self._lock:
            done = dict(self._doc["rotation"] or {})
            done.update(finished_at=_now(), rewrapped=rewrapped)
            self._doc["rotation"] = None
            self._doc.setdefault("rotations", []).append(done)
            self._save()
            self._apply(self._doc)
