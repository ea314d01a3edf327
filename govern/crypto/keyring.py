"""The master keyring: versioned key-encryption keys (KEKs) and the blind-index key, kept in a 0600 file.

Format 2 (written since the commercial_cn suite) gives every master-key version a 128-bit SM4 key beside its AES-256
key: data keys of the commercial_cn suite are wrapped with SM4-GCM under it (govern.crypto.suites). A format 1 keyring
(AES keys only) is still read; it gains its SM4 keys when `govern keys migrate-suite` first needs them.

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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from govern.crypto import suites
from govern.crypto.watched import WatchedFile
from govern.errors import KeysUnavailable
from govern.files import write_private_json

NONCE_BYTES = 12
CHECK_LABEL = b"govern key-check value v1"  # what a key-check value is computed over (govern.crypto.checks)
TOKEN_STATE_FILE = "kek-state.json"  # the PKCS#11 provider's state in GOVERN_HOME (govern.crypto.hsm)

class KeyringError(KeysUnavailable):
    """The keyring is missing, unreadable, too widely readable, or lacks a key version that data needs."""


@dataclass(frozen=True)
class MasterKey:
    version: int
    key: bytes
    created_at: str
    sm4_key: bytes | None = None  # format 2 keyrings: wraps commercial_cn data keys


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def master_check(key: bytes, version: int) -> str:
    """The file keyring's key-check value: HMAC-SHA256 of a fixed label under the master key."""
    return hmac.new(key, CHECK_LABEL + b"\x00master\x00" + str(version).encode(), hashlib.sha256).hexdigest()


class Keyring(WatchedFile):
    """Holds the KEKs by version, the active version, the blind-index key and any rotation in progress."""

    kind = "file"
    suite = suites.INTERNATIONAL  # the suite in force, set at start-up from the database (govern.crypto.checks)

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._apply(doc)
        self._watch()
        # Set by govern.crypto.checks: refuses (raises KeyringError) a keyring file that is not the database's, so a
        # file swapped behind a running process is reported rather than adopted.
        self.accept: Callable[[Any], None] | None = None

    # --- loading and saving ---

    @classmethod
    def create(cls, path: Path) -> "Keyring":
        """Generates a new keyring file; refuses to overwrite one (that would orphan every wrapped key)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": 2,
            "active": 1,
            "master_keys": [{"version": 1, "key": _b64(os.urandom(32)), "sm4_key": _b64(os.urandom(16)), "created_at": _now()}],
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
                if "sm4_key" in entry and len(base64.b64decode(entry["sm4_key"])) != 16:
                    raise ValueError("an SM4 master key is not 128 bits")
            if len(base64.b64decode(doc["index_key"])) != 32:
                raise ValueError("index key is not 256 bits")
            if doc["active"] not in {e["version"] for e in doc["master_keys"]}:
                raise ValueError("active version has no key")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"{path}: not a valid keyring: {exc}") from None
        return doc

    def _apply(self, doc: dict[str, Any]) -> None:
        previous = getattr(self, "_doc", {})  # before it is replaced: a suite the file changed is told by the difference
        self._doc = doc
        self._keys: dict[int, MasterKey] = {
            e["version"]: MasterKey(e["version"], base64.b64decode(e["key"]), e["created_at"],
                                    base64.b64decode(e["sm4_key"]) if e.get("sm4_key") else None)
            for e in doc["master_keys"]
        }
        self.active_version: int = doc["active"]
        self.index_key: bytes = base64.b64decode(doc["index_key"])
        self.rotation: dict[str, Any] | None = doc.get("rotation")
        self.suite_migration: dict[str, Any] | None = doc.get("suite_migration")
        if doc.get("suite") and doc.get("suite") != previous.get("suite"):
            self.suite = doc["suite"]  # a migration finished by another process (the CLI): its suite is now in force

    def _save(self) -> None:
        write_private_json(self.path, self._doc, new=False)
        self._watch()

    def _reload(self) -> None:
        with self._lock:
            doc = self._read(self.path)
            if self.accept is not None:
                self.accept(Keyring(self.path, doc))
            self._apply(doc)
            self._watch()

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

    def _wrapping_key(self, version: int, fmt: int) -> bytes:
        if fmt == suites.AES_GCM:
            return self.master_key(version)
        self.master_key(version)  # a version another process added: reloaded here
        sm4 = self._keys[version].sm4_key
        if sm4 is None:
            # SM4 keys another process added (a suite migration run by the CLI): a worker that only reads never reloads
            # otherwise, and would fail on the first data key the migration converted.
            self.reload_if_changed(every_seconds=0)
            sm4 = self._keys[version].sm4_key
        if sm4 is None:
            raise KeyringError(f"master key version {version} has no SM4 key in {self.path} (a format 1 keyring: `govern keys migrate-suite` adds them)")
        return sm4

    def wrap(self, version: int, plaintext: bytes, aad: bytes, fmt: int = suites.AES_GCM) -> bytes:
        """AES-256-GCM (fmt 1) or SM4-GCM (fmt 2) under master key `version`: nonce, then ciphertext and tag."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + suites.aead(fmt, self._wrapping_key(version, fmt)).encrypt(nonce, plaintext, aad)

    def unwrap(self, version: int, sealed: bytes, aad: bytes, fmt: int = suites.AES_GCM) -> bytes:
        """Raises cryptography's InvalidTag when `sealed` was not made by wrap() under `version` and `fmt` with `aad`."""
        return suites.aead(fmt, self._wrapping_key(version, fmt)).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)

    def supports(self, fmt: int) -> str | None:
        """Why data keys of format `fmt` cannot be wrapped here, or None when they can."""
        if fmt == suites.SM4_GCM and any(k.sm4_key is None for k in self._keys.values()):
            return f"the keyring {self.path} has no SM4 keys (format 1): `govern keys migrate-suite` adds them"
        return None

    def add_sm4_keys(self) -> bool:
        """Format 2: an SM4 key for every master-key version that lacks one (additive: nothing wrapped changes)."""
        with self._lock:
            missing = [e for e in self._doc["master_keys"] if not e.get("sm4_key")]
            for entry in missing:
                entry["sm4_key"] = _b64(os.urandom(16))
            if missing or self._doc.get("format", 1) < 2:
                self._doc["format"] = 2
                self._save()
                self._apply(self._doc)
            return bool(missing)

    def set_suite_state(self, *, suite: str | None = None, migration: dict[str, Any] | None = None) -> None:
        """Records a suite migration under way (or none), and the suite in force once it is done, where every process
        using this keyring picks them up (reload_if_changed)."""
        with self._lock:
            self._doc["suite_migration"] = migration
            if suite is not None:
                self._doc["suite"] = suite
            self._save()
            self._apply(self._doc)

    def check_value(self, version: int) -> str:
        return master_check(self.master_key(version), version)

    def sm4_check_value(self, version: int) -> str | None:
        """The key-check value of version `version`'s SM4 key (None for a format 1 keyring)."""
        self.master_key(version)
        sm4 = self._keys[version].sm4_key
        return hmac.new(sm4, CHECK_LABEL + b"\x00sm4\x00" + str(version).encode(), hashlib.sha256).hexdigest() if sm4 else None

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
            entry = {"version": version, "key": _b64(os.urandom(32)), "created_at": _now()}
            if self._doc.get("format", 1) >= 2:
                entry["sm4_key"] = _b64(os.urandom(16))
            self._doc["master_keys"].append(entry)
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
