"""Envelope encryption: a random data key per subject, wrapped by a versioned master key (in the file keyring or inside
a PKCS#11 token: govern.crypto.provider); values are sealed with the data key's AEAD — AES-256-GCM (format byte 1) or
SM4-GCM (format byte 2, the commercial_cn suite: govern.crypto.suites) — with a fresh 96-bit nonce and associated data
that binds each ciphertext to its subject and slot. A data key carries its format, so seal() needs no suite from its
caller, and open() reads the format byte: both suites are read side by side while a migration converts the data.

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
from typing import Callable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.hashes import SHA256, SM3, HashAlgorithm
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from govern.crypto import suites
from govern.crypto.provider import MasterKeys
from govern.crypto.suites import Suite
from govern.errors import StoredDataRejected

FORMAT_V1 = suites.AES_GCM
SCHEMA_VERSION = 1
_HEADER = struct.Struct(">BI")  # format byte, key version
_NONCE = 12


class CiphertextRejected(StoredDataRejected):
    """A ciphertext did not authenticate: altered, moved to another row, or encrypted under another key."""


class DataKey(bytes):
    """A subject's data key with the format byte of its suite: what seal() writes with it.

    It carries its own AEAD object, made on first use: a read opens a dozen values under one key, and building the
    cipher cost more than decrypting a field. The cipher lives exactly as long as the key: dropped with it when the
    data key cache evicts, forgets or clears it, and a rotation's rewrap or a suite migration's new key is another
    DataKey with a cipher of its own."""

    fmt: int
    _cipher: "suites.Aead | None"

    def __new__(cls, raw: bytes, fmt: int) -> "DataKey":
        key = super().__new__(cls, raw)
        key.fmt = fmt
        key._cipher = None
        return key

    def cipher(self) -> "suites.Aead":
        """The AEAD of this key's own format under this key (made once; thread-safe: it keeps no state per call)."""
        cipher = self._cipher
        if cipher is None:
            cipher = self._cipher = suites.aead(self.fmt, bytes(self))
        return cipher


def key_format(dek: bytes) -> int:
    """A data key's format: carried by a DataKey; a bare key (a caller's own) is AES-256 (32 bytes) or SM4 (16)."""
    fmt = getattr(dek, "fmt", None)
    if fmt is not None:
        return int(fmt)
    return suites.SM4_GCM if len(dek) == 16 else FORMAT_V1


def _aead(fmt: int, key: bytes) -> suites.Aead:
    """The AEAD of format `fmt` under `key`: a DataKey's own cipher when the format is its own, else a new one."""
    if isinstance(key, DataKey) and key.fmt == fmt:
        return key.cipher()
    return suites.aead(fmt, key)


def _seal(key: bytes, version: int, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    fmt = key_format(key)
    return _HEADER.pack(fmt, version) + nonce + _aead(fmt, key).encrypt(nonce, plaintext, aad)


def _header(blob: bytes) -> tuple[int, int]:
    if len(blob) < _HEADER.size + _NONCE + 16:
        raise CiphertextRejected("ciphertext too short")
    fmt, version = _HEADER.unpack_from(blob)
    if suites.of_format(fmt) is None:
        raise CiphertextRejected(f"unknown ciphertext format {fmt}")
    return fmt, version


def _open(key: bytes, blob: bytes, aad: bytes, what: str, subject_id: UUID) -> bytes:
    start = _HEADER.size
    nonce, body = blob[start:start + _NONCE], blob[start + _NONCE:]
    try:
        return _aead(blob[0], key).decrypt(nonce, body, aad)
    except ValueError:  # an AES key given an SM4 value or the reverse: the key is not this value's
        raise CiphertextRejected(f"{what} of subject {subject_id} is sealed with another suite's algorithm than its data key") from None
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

    @property
    def suite(self) -> Suite:
        """The suite new data keys, blind indexes and keyed digests are made under: the recorded one, or the target of
        a migration under way (govern.crypto.migration), which a running process picks up from the keyring file."""
        # Looked at here (one stat per interval), not only where a data key is made: a worker that only updates fields
        # writes blind indexes and digests too, and must not go on in the old suite after a migration began or ended.
        self.keyring.reload_if_changed()
        migration = getattr(self.keyring, "suite_migration", None)
        return suites.suite(migration["target"] if migration else getattr(self.keyring, "suite", suites.INTERNATIONAL))

    def readable_suites(self) -> tuple[Suite, ...]:
        """Every suite data may be under now: both while a migration is under way, else the one in force."""
        migration = getattr(self.keyring, "suite_migration", None)
        if migration:
            return (suites.suite(migration["target"]), suites.suite(migration["from"]))
        return (self.suite,)

    def new_data_key(self, subject_id: UUID, suite: Suite | None = None) -> tuple[bytes, bytes, int]:
        """Returns (data key, wrapped data key, master key version); the data key is of the suite in force (or `suite`)."""
        self.keyring.reload_if_changed()
        suite = suite or self.suite
        dek = DataKey(suite.new_key(), suite.value_format)
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
        """The same data key under master key `to_version`, wrapped with its own suite's algorithm."""
        return self._wrap(to_version, self._unwrap(subject_id, wrapped), subject_id)

    def _wrap(self, version: int, dek: bytes, subject_id: UUID) -> bytes:
        # A data key is wrapped with its own suite's AEAD (SM4 data keys under the master key's SM4 key): the format byte
        # of the wrapped key is the data key's format.
        fmt = key_format(dek)
        return _HEADER.pack(fmt, version) + self.keyring.wrap(version, bytes(dek), _dek_aad(subject_id), fmt)

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> DataKey:
        fmt, version = _header(wrapped)
        try:
            return DataKey(self.keyring.unwrap(version, wrapped[_HEADER.size:], _dek_aad(subject_id), fmt), fmt)
        except InvalidTag:
            raise CiphertextRejected(f"data key of subject {subject_id} does not authenticate (altered, moved from another row, or wrong key)") from None

    @staticmethod
    def seal(dek: bytes, subject_id: UUID, slot: str, plaintext: bytes) -> bytes:
        return _seal(dek, 1, plaintext, value_aad(subject_id, slot))

    @staticmethod
    def open(dek: bytes, subject_id: UUID, slot: str, blob: bytes) -> bytes:
        _header(blob)
        return _open(dek, blob, value_aad(subject_id, slot), slot, subject_id)

    @staticmethod
    def opener(dek: bytes, subject_id: UUID) -> "Callable[[str, bytes], bytes]":
        """open() for many values of one subject under one key (a read's fields): the subject's part of the AAD is
        rendered once, and each value costs its checks and its decryption. Same checks, same errors as open()."""
        prefix = value_aad(subject_id, "")

        def open_value(slot: str, blob: bytes) -> bytes:
            _header(blob)
            return _open(dek, blob, prefix + slot.encode(), slot, subject_id)

        return open_value

    def blind_index(self, field: str, normalised: str, suite: Suite | None = None) -> str:
        """The MAC of the suite in force (HMAC-SHA256 or HMAC-SM3) under the separate index key, over the field name and
        the normalised value: 64 hex characters in either suite."""
        return (suite or self.suite).mac(self.keyring.index_key, f"{field}\x00{normalised}".encode())

    def subject_blind_index(self, dek: bytes, field: str, normalised: str) -> str:
        """A subject's blind index under the suite of the subject's data key, not the suite in force: during a migration
        a subject not yet converted keeps indexes of its own suite (convert_subject recomputes them with its key), so
        the format byte of a subject's wrapped data key always says which MAC each of its indexes is."""
        fmt = getattr(dek, "fmt", None)
        return self.blind_index(field, normalised, suites.of_format(fmt) if fmt is not None else None)

    def blind_indexes(self, field: str, normalised: str) -> list[str]:
        """What a look-up matches: the index under each suite data may be under (two while a migration is under way)."""
        self.keyring.reload_if_changed()
        return [self.blind_index(field, normalised, suite) for suite in self.readable_suites()]

    def keyed_digest(self, purpose: str, *parts: bytes | str) -> "KeyedDigest":
        """A MAC under a key of its own for `purpose` (HKDF from the index key, never the index key itself), over the
        parts, each length-prefixed. For a digest govern shows or stores of something a reader could guess — a letter
        naming a person, a request body, a package — so that no one without the keyring can confirm a guess offline,
        and a digest made for one purpose is worth nothing for another (or as a blind index).

        It records its algorithm: HMAC-SHA256 is 64 hex characters as it always was; HMAC-SM3 is `sm3:` and its first
        240 bits (60 hex), so it fits every column made for the first. Compare a stored one with KeyedDigest.matches."""
        return KeyedDigest.make(self.keyring.index_key, self.suite, purpose, parts)


class KeyedDigest(str):
    """A keyed digest under the suite in force that can also be recomputed under the suite a stored digest names."""

    _key: bytes
    _purpose: str
    _parts: tuple[bytes | str, ...]

    @classmethod
    def make(cls, index_key: bytes, suite: Suite, purpose: str, parts: tuple[bytes | str, ...]) -> "KeyedDigest":
        digest = cls(_keyed(index_key, suite, purpose, parts))
        digest._key, digest._purpose, digest._parts = index_key, purpose, parts
        return digest

    def under(self, suite: Suite) -> str:
        return _keyed(self._key, suite, self._purpose, self._parts)

    def matches(self, stored: str, length: int = 64) -> bool:
        """Whether `stored` is this digest (or its first `length` characters, for a tag cut short), under the algorithm
        `stored` records (constant time): one stored before `govern keys migrate-suite` still matches after it."""
        return hmac.compare_digest(stored.encode(), self.under(suites.of_digest(stored))[:length].encode())

    def every_form(self) -> tuple[str, ...]:
        """This digest as each suite would have stored it, for finding a stored one by equality (a column looked up by
        its digest, which cannot say its algorithm before the row is found)."""
        return tuple(self.under(suite) for suite in suites.SUITES.values())


def _keyed(index_key: bytes, suite: Suite, purpose: str, parts: tuple[bytes | str, ...]) -> str:
    mac = hmac.new(_purpose_key(index_key, purpose, suite.hash_name), digestmod=suite.hash_name)
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        mac.update(struct.pack(">Q", len(raw)) + raw)
    hexed = mac.hexdigest()
    return suite.digest_prefix + hexed[: 64 - len(suite.digest_prefix)]


_HKDF_HASH: dict[str, type[HashAlgorithm]] = {"sha256": SHA256, "sm3": SM3}


@functools.lru_cache(maxsize=128)
def _purpose_key(index_key: bytes, purpose: str, hash_name: str = "sha256") -> bytes:
    return HKDF(algorithm=_HKDF_HASH[hash_name](), length=32, salt=None, info=f"govern/keyed-digest/v1|{purpose}".encode()).derive(index_key)
