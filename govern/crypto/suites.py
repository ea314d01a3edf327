"""The cryptography suites: which algorithm seals a value or wraps a data key, keys a blind index, keys a stored
digest and hashes — per suite, and per format byte for what is already stored.

`international`: AES-256-GCM (format byte 1), HMAC-SHA256, SHA-256 — what govern has always written.
`commercial_cn` (GB/T 39786 商用密码): SM4-GCM (format byte 2, 128-bit keys), HMAC-SM3, SM3.
Checkpoint signatures stay Ed25519 in both: the installed `cryptography` (OpenSSL 3) has no SM2, and no maintained
binding that does is a dependency of govern (docs/cryptography.md).

Every ciphertext and wrapped data key starts with its format byte, and every stored keyed digest of the commercial suite
with `sm3:`, so both suites coexist while `govern keys migrate-suite` converts the data; reading never depends on the
suite in force, only writing does.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

INTERNATIONAL, COMMERCIAL_CN = "international", "commercial_cn"
NAMES = (INTERNATIONAL, COMMERCIAL_CN)
AES_GCM, SM4_GCM = 1, 2  # the format byte of a ciphertext or a wrapped data key
NONCE_BYTES = 12
TAG_BYTES = 16
SM3_PREFIX = "sm3:"  # a stored keyed digest under HMAC-SM3; no prefix is HMAC-SHA256 (every digest stored before suites)


class _SM4GCM:
    """SM4 in GCM mode through cryptography's Cipher API (it has no SM4 AEAD class): the same contract as AESGCM —
    encrypt() returns ciphertext and tag, decrypt() raises InvalidTag."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 128 bits")
        self._key = key

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        enc = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        return enc.update(plaintext) + enc.finalize() + enc.tag

    def decrypt(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < TAG_BYTES:
            raise InvalidTag()
        dec = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, sealed[-TAG_BYTES:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(sealed[:-TAG_BYTES]) + dec.finalize()


@dataclass(frozen=True)
class Suite:
    name: str
    value_format: int  # the format byte of what it seals and wraps
    key_bytes: int  # a data key's length
    hash_name: str  # hashlib's name: the index MAC, the keyed digests and plain hashes
    digest_prefix: str  # before a stored keyed digest ('' for HMAC-SHA256)

    def new_key(self) -> bytes:
        return os.urandom(self.key_bytes)

    def mac(self, key: bytes, message: bytes) -> str:
        return hmac.new(key, message, self.hash_name).hexdigest()

    def hash(self, data: bytes) -> str:
        return hashlib.new(self.hash_name, data).hexdigest()

    def named_hash(self, data: bytes) -> str:
        """A hash govern keeps of its own data to prove it unchanged, naming its algorithm as a stored keyed digest
        does: `sm3:` + the first 240 bits of SM3 (64 characters, so every column fits), bare hex for SHA-256 (what
        every such hash was before suites, so one kept before still checks: `named_hash_matches`)."""
        return self.digest_prefix + self.hash(data)[: 64 - len(self.digest_prefix)]

    @property
    def hash_label(self) -> str:
        """The hash's name as a document that records it says it (a package's manifest: `"digest_algorithm"`)."""
        return HASH_LABELS[self.hash_name]

    @property
    def cipher_label(self) -> str:
        """The AEAD that seals values and wraps data keys, as a document names it (AES-256-GCM, SM4-GCM)."""
        return CIPHER_LABELS[self.value_format]

    @property
    def mac_label(self) -> str:
        """The MAC of blind indexes and stored keyed digests, as a document names it (HMAC-SHA256, HMAC-SM3)."""
        return MAC_LABELS[self.hash_name]


HASH_LABELS = {"sha256": "SHA-256", "sm3": "SM3"}
MAC_LABELS = {"sha256": "HMAC-SHA256", "sm3": "HMAC-SM3"}
CIPHER_LABELS = {AES_GCM: "AES-256-GCM", SM4_GCM: "SM4-GCM"}
SIGNATURE_LABEL = "Ed25519"  # checkpoint and pack signatures, in every suite (no SM2 in the installed cryptography library)


SUITES = {
    INTERNATIONAL: Suite(INTERNATIONAL, AES_GCM, 32, "sha256", ""),
    COMMERCIAL_CN: Suite(COMMERCIAL_CN, SM4_GCM, 16, "sm3", SM3_PREFIX),
}
_BY_FORMAT = {s.value_format: s for s in SUITES.values()}
Aead = AESGCM | _SM4GCM  # what aead() returns: encrypt(nonce, plaintext, aad) and decrypt(nonce, sealed, aad)
_AEAD: dict[int, Callable[[bytes], Aead]] = {AES_GCM: AESGCM, SM4_GCM: _SM4GCM}


def suite(name: str) -> Suite:
    return SUITES[name]


def of_format(fmt: int) -> Suite | None:
    return _BY_FORMAT.get(fmt)


def aead(fmt: int, key: bytes) -> Aead:
    """The AEAD of format byte `fmt` under `key` (KeyError for a format govern does not know)."""
    return _AEAD[fmt](key)


def of_digest(stored: str) -> Suite:
    """The suite a stored keyed digest was made under, from its prefix."""
    return SUITES[COMMERCIAL_CN] if stored.startswith(SM3_PREFIX) else SUITES[INTERNATIONAL]


def named_hash_matches(stored: str, data: bytes) -> bool:
    """Whether `data` still hashes to `stored`, under the algorithm `stored` names (Suite.named_hash)."""
    return hmac.compare_digest(stored.encode(), of_digest(stored).named_hash(data).encode())


def available(name: str) -> str | None:
    """Why suite `name` cannot run on this host's OpenSSL, or None when it can."""
    if name != COMMERCIAL_CN:
        return None
    if "sm3" not in hashlib.algorithms_available:
        return "this Python's OpenSSL has no SM3"
    try:
        _SM4GCM(bytes(16)).encrypt(bytes(12), b"", b"")
    except Exception as exc:  # an OpenSSL built without SM4 raises UnsupportedAlgorithm
        return f"this host's OpenSSL has no SM4-GCM ({exc})"
    return None
