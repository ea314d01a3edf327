"""A digest govern shows or stores of something guessable is an HMAC under a key of its own per purpose, derived from
the keyring (HKDF), never the blind-index key itself and never a bare SHA-256: without the keyring nobody can confirm
a guess, a digest made for one purpose is worth nothing for another, and parts cannot be shifted between each other."""

from __future__ import annotations

import hashlib
import hmac


def test_a_keyed_digest_is_no_bare_hash_no_blind_index_and_differs_per_purpose(runtime):
    envelope = runtime.envelope
    letter = envelope.keyed_digest("breach-letter", "id-1", "尊敬的张三")
    assert letter != hashlib.sha256("尊敬的张三".encode()).hexdigest()
    assert letter != hmac.new(envelope.keyring.index_key, "尊敬的张三".encode(), hashlib.sha256).hexdigest()
    assert letter != envelope.blind_index("breach-letter", "尊敬的张三")
    assert letter != envelope.keyed_digest("idempotency-fingerprint", "id-1", "尊敬的张三")
    assert letter == envelope.keyed_digest("breach-letter", "id-1", "尊敬的张三")  # stable: it can be checked again


def test_parts_are_bound_to_their_place(runtime):
    envelope = runtime.envelope
    assert envelope.keyed_digest("p", "ab", "c") != envelope.keyed_digest("p", "a", "bc")
    assert envelope.keyed_digest("p", "id-1", "text") != envelope.keyed_digest("p", "id-2", "text")
