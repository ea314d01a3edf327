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


def test_a_digest_cut_to_a_tag_is_checked_under_the_algorithm_it_names_and_a_stored_one_is_found_in_either_form(runtime):
    digest = runtime.envelope.keyed_digest("api-list-cursor", "scope", "position")
    sha256, sm3 = digest.every_form()
    assert sha256 == digest and sm3.startswith("sm3:") and len(sm3) == 64
    assert digest.matches(sha256[:32], 32) and digest.matches(sm3[:32], 32)
    assert not digest.matches(sha256[:32])  # cut short where the whole digest is stored
    assert not digest.matches(sm3[:31] + ("0" if sm3[31] != "0" else "1"), 32)
    assert not runtime.envelope.keyed_digest("api-list-cursor", "scope", "other").matches(sm3[:32], 32)
