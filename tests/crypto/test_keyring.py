"""The keyring file: created 0600, refused when others can read it, never overwritten."""

import os
import stat

import pytest

from govern.crypto.keyring import Keyring, KeyringError


def test_a_new_keyring_is_readable_by_its_owner_only(tmp_path):
    ring = Keyring.create(tmp_path / "keyring.json")
    assert stat.S_IMODE(os.stat(ring.path).st_mode) == 0o600
    assert len(ring.master_key(1)) == 32 and len(ring.index_key) == 32 and ring.master_key(1) != ring.index_key


def test_a_keyring_readable_by_others_is_refused(tmp_path):
    ring = Keyring.create(tmp_path / "keyring.json")
    os.chmod(ring.path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(ring.path)


def test_an_existing_keyring_is_never_overwritten(tmp_path):
    ring = Keyring.create(tmp_path / "keyring.json")
    with pytest.raises(FileExistsError):
        Keyring.create(ring.path)
    again, created = Keyring.load_or_create(ring.path)
    assert not created and again.master_key(1) == ring.master_key(1)


def test_a_missing_keyring_says_how_to_make_one(tmp_path):
    with pytest.raises(KeyringError, match="govern init"):
        Keyring.load(tmp_path / "nothing.json")


def test_describe_shows_versions_and_never_key_material(tmp_path):
    ring = Keyring.create(tmp_path / "keyring.json")
    text = repr(ring.describe())
    import base64

    assert base64.b64encode(ring.master_key(1)).decode() not in text
