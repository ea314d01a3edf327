"""The Ed25519 key that signs checkpoints and export manifests, kept apart from the database.

The private key lives in a 0600 file in GOVERN_HOME (GOVERN_AUDIT_SIGNING_KEY_FILE) or in GOVERN_AUDIT_SIGNING_KEY
(base64 of the 32-byte private key). Which public key was valid when is published in keys.json beside the
checkpoints: a key enters it the first time it signs, and the key before it is closed at that moment, so a rotation
(new file, or a new environment value) needs no other step. Auditors pin keys.json, not the database.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from govern.audit.verifier import key_id_of
from govern.config import Settings
from govern.timeutil import utcnow


class SigningKeyError(Exception):
    """The signing key is missing, unreadable or too widely readable."""


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def _raw(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _write_key_file(path: Path, private: Ed25519PrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": 1, "algorithm": "Ed25519", "private_key": base64.b64encode(_raw(private)).decode(), "created_at": utcnow().isoformat()}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(settings: Settings, *, create: bool = True) -> SigningKey:
    """The active signing key: the environment's if set, else the key file (created 0600 on first use)."""
    if settings.audit_signing_key:
        try:
            return SigningKey(Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.audit_signing_key)))
        except ValueError:
            raise SigningKeyError("GOVERN_AUDIT_SIGNING_KEY is not a base64 Ed25519 private key (32 bytes)") from None
    path = settings.audit_key_path
    if not path.exists():
        if not create:
            raise SigningKeyError(f"{path}: no audit signing key; run `govern audit checkpoint` or `govern audit keys rotate`")
        _write_key_file(path, Ed25519PrivateKey.generate())
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"{path}: the audit signing key is readable by group or others; chmod 600 it")
    try:
        doc = json.loads(path.read_text())
        return SigningKey(Ed25519PrivateKey.from_private_bytes(base64.b64decode(doc["private_key"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not a valid audit signing key: {type(exc).__name__}") from None


def rotate(settings: Settings) -> SigningKey:
    """A new key file (the old private key is destroyed: it can sign nothing more) and its entry in keys.json."""
    if settings.audit_signing_key:
        raise SigningKeyError("the signing key comes from GOVERN_AUDIT_SIGNING_KEY: rotate by changing that variable")
    key = SigningKey(Ed25519PrivateKey.generate())
    _write_key_file(settings.audit_key_path, key.private)
    publish(settings, key)
    return key


# --- keys.json: the public keys and when each was valid --------------------------------------------------------


def keys_path(settings: Settings) -> Path:
    return settings.audit_checkpoint_dir / "keys.json"


def published_keys(settings: Settings) -> list[dict[str, Any]]:
    path = keys_path(settings)
    if not path.exists():
        return []
    keys: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["keys"]
    return keys


def publish(settings: Settings, key: SigningKey, at: datetime | None = None) -> list[dict[str, Any]]:
    """Makes sure `key` is the open entry in keys.json, closing the one before it; returns the list."""
    keys = published_keys(settings)
    if keys and keys[-1]["key_id"] == key.key_id and keys[-1]["valid_to"] is None:
        return keys
    if any(k["key_id"] == key.key_id for k in keys):
        raise SigningKeyError(f"key {key.key_id} was retired earlier and may not sign again")
    now = (at or utcnow()).isoformat(timespec="microseconds")
    for k in keys:
        if k["valid_to"] is None:
            k["valid_to"] = now
    keys.append({"key_id": key.key_id, "algorithm": "Ed25519", "public_key": key.public_b64, "valid_from": now, "valid_to": None})
    path = keys_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": "govern-audit-keys/1", "keys": keys}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return keys
