"""Envelope encryption: a random 256-bit data key per subject, wrapped by a versioned master key (in the file keyring
or inside a PKCS#11 token: govern.crypto.provider); values are AES-256-GCM with a fresh 96-bit nonce and associated data that binds each ciphertext to its subject and slot.

A ciphertext copied onto another row, another field or another subject fails authentication: the AAD differs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import struct
import threading
import time
from collections import OrderedDict
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from govern.crypto.provider import MasterKeys

FORMAT_V1 = 1
SCHEMA_VERSION = 1
_HEADER = struct.Struct(">BI")  # format byte, key version
_NONCE = 12


class CiphertextRejected(Exception):
    """A ciphertext did not authenticate: altered, moved to another row, or encrypted under another key."""


def _seal(key: bytes, version: int, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _HEADER.pack(FORMAT_V1, version) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _header(blob: bytes) -> tuple[int, int]:
    if len(blob) < _HEADER.size + _NONCE + 16:
        raise CiphertextRejected("ciphertext too short")
    fmt, version = _HEADER.unpack_from(blob)
    if fmt != FORMAT_V1:
        raise CiphertextRejected(f"unknown ciphertext format {fmt}")
    return fmt, version


def _open(key: bytes, blob: bytes, aad: bytes, what: str, subject_id: UUID) -> bytes:
    start = _HEADER.size
    nonce, body = blob[start:start + _NONCE], blob[start + _NONCE:]
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        # The message is built only on failure: a read opens a dozen values, and formatting costs more than decrypting.
        raise CiphertextRejected(f"{what} of subject {subject_id} does not authenticate (altered, moved from another row, or wrong key)") from None


def value_aad(subject_id: UUID, slot: str) -> bytes:
    """`slot` is `field:<name>` or `record:<id>`."""
    return f"govern/v{SCHEMA_VERSION}|{subject_id}|{slot}".encode()


def _dek_aad(subject_id: UUID) -> bytes:
    return f"govern/dek/v{SCHEMA_VERSION}|{subject_id}".encode()


class DataKeyCache:
    """Unwrapped data keys, bounded in count and age.

    Keyed by a digest of the *wrapped* key, which callers must read from the database first: once a subject's
    wrapped key is destroyed (crypto-shredding) there is nothing to look up, so a cached key can never
    resurrect a shredded subject, in this process or any other.
    """

    def __init__(self, max_entries: int, max_age_seconds: float) -> None:
        self.max_entries = max_entries
        self.max_age = max_age_seconds
        self._entries: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, wrapped: bytes) -> bytes | None:
        tag = hashlib.sha256(wrapped).digest()
        with self._lock:
            hit = self._entries.get(tag)
            if hit is None:
                return None
            if time.monotonic() - hit[1] > self.max_age:
                del self._entries[tag]
                return None
            self._entries.move_to_end(tag)
            return hit[0]

    def put(self, wrapped: bytes, dek: bytes) -> None:
        if self.max_entries <= 0:
            return
        tag = hashlib.sha256(wrapped).digest()
        with self._lock:
            self._entries[tag] = (dek, time.monotonic())
            self._entries.move_to_end(tag)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, wrapped: bytes) -> None:
        with self._lock:
            self._entries.pop(hashlib.sha256(wrapped).digest(), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Envelope:
    """Wraps and unwraps data keys under the master keys, and seals and opens values under a data key."""

    def __init__(self, keyring: MasterKeys, cache: DataKeyCache) -> None:
        self.keyring = keyring
        self.cache = cache

    def new_data_key(self, subject_id: UUID) -> tuple[bytes, bytes, int]:
        """Returns (data key, wrapped data key, master key version)."""
        self.keyring.reload_if_changed()
        dek = AESGCM.generate_key(bit_length=256)
        version = self.keyring.active_version
        return dek, self._wrap(version, dek, subject_id), version

    def unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        """The data key, from the cache or (on a miss) from the master-key provider: the only per-read path to it."""
        cached = self.cache.get(wrapped)
        if cached is not None:
            return cached
        dek = self._unwrap(subject_id, wrapped)
        self.cache.put(wrapped, dek)
        return dek

    def rewrap(self, subject_id: UUID, wrapped: bytes, to_version: int) -> bytes:
        return self._wrap(to_version, self._unwrap(subject_id, wrapped), subject_id)

    def _wrap(self, version: int, dek: bytes, subject_id: UUID) -> bytes:
        return _HEADER.pack(FORMAT_V1, version) + self.keyring.wrap(version, dek, _dek_aad(subject_id))

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        _, version = _header(wrapped)
        try:
            return self.keyring.unwrap(version, wrapped[_HEADER.size:], _dek_aad(subject_id))
        except InvalidTag:
            raise CiphertextRejected(f"data key of subject {subject_id} does not authenticate (altered, moved from another row, or wrong key)") from None

    @staticmethod
    def seal(dek: bytes, subject_id: UUID, slot: str, plaintext: bytes) -> bytes:
        return _seal(dek, 1, plaintext, value_aad(subject_id, slot))

    @staticmethod
    def open(dek: bytes, subject_id: UUID, slot: str, blob: bytes) -> bytes:
        _header(blob)
        return _open(dek, blob, value_aad(subject_id, slot), slot, subject_id)

    def blind_index(self, field: str, normalised: str) -> str:
        """HMAC-SHA256 under the separate index key, over the field name and the normalised value."""
        return hmac.new(self.keyring.index_key, f"{field}\x00{normalised}".encode(), hashlib.sha256).hexdigest()

    def keyed_digest(self, purpose: str, *parts: bytes | str) -> str:
        """HMAC-SHA256 under a key of its own for `purpose` (HKDF-SHA256 from the index key, never the index key itself),
        over the parts, each length-prefixed. For a digest govern shows or stores of something a reader could guess —
        a letter naming a person, a request body, a package — so that no one without the keyring can confirm a guess
        offline, and a digest made for one purpose is worth nothing for another (or as a blind index)."""
        mac = hmac.new(_purpose_key(self.keyring.index_key, purpose), digestmod=hashlib.sha256)
        for part in parts:
            raw = part.encode() if isinstance(part, str) else part
            mac.update(struct.pack(">Q", len(raw)) + raw)
        return mac.hexdigest()


@functools.lru_cache(maxsize=64)
def _purpose_key(index_key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=f"govern/keyed-digest/v1|{purpose}".encode()).derive(index_key)
