"""Where the master keys (KEKs) live: the interface every master-key provider offers, and the choice between them.

GOVERN_KEK unset (or `file`): the file keyring in GOVERN_HOME (govern.crypto.keyring), what `make run` uses.
GOVERN_KEK=pkcs11:…: a PKCS#11 token (govern.crypto.hsm); the master keys never leave it, data keys are wrapped and
unwrapped inside it. A cloud KMS or Vault transit would be a third class with the same methods (docs/cryptography.md).

Only master keys are behind this interface. Data keys (one per subject) and the blind-index key are data-level keys:
wrapped under a master key at rest and held in process memory while in use, so the provider is called on a data key
cache miss, a rotation, and start-up — never per value read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from govern.config import Settings
from govern.crypto.keyring import TOKEN_STATE_FILE, Keyring, KeyringError

if TYPE_CHECKING:
    from govern.crypto.hsm import TokenKeyring



class MasterKeys(Protocol):
    """A versioned set of master keys that wrap data keys without showing themselves."""

    kind: str  # "file" | "pkcs11": shown by `govern keys status`
    path: Path  # the provider's state file; the rotation lock lives beside it
    active_version: int
    rotation: dict[str, Any] | None
    index_key: bytes  # the blind-index key, in memory (wrapped at rest by providers that cannot show their keys)
    accept: Callable[[Any], None] | None  # govern.crypto.checks' guard against a swapped key store
    suite: str  # the suite in force (govern.crypto.suites), as recorded in the database; set at start-up
    suite_migration: dict[str, Any] | None  # {"from", "target", "started_at"} while `govern keys migrate-suite` runs

    @property
    def versions(self) -> list[int]: ...

    def wrap(self, version: int, plaintext: bytes, aad: bytes, fmt: int = 1) -> bytes:
        """The AEAD of format `fmt` (govern.crypto.suites: 1 AES-256-GCM, 2 SM4-GCM) under master key `version`:
        12-byte nonce, ciphertext, 16-byte tag."""

    def unwrap(self, version: int, sealed: bytes, aad: bytes, fmt: int = 1) -> bytes:
        """The inverse of wrap(); raises cryptography.exceptions.InvalidTag if `sealed` does not authenticate."""

    def supports(self, fmt: int) -> str | None:
        """Why this provider cannot wrap data keys of format `fmt`, or None when it can."""

    def check_value(self, version: int) -> str:
        """A value that tells this master key apart from any other and reveals nothing of it (govern.crypto.checks)."""

    def reload_if_changed(self, every_seconds: float = 2.0) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    def begin_rotation(self) -> int: ...

    def finish_rotation(self, rewrapped: int) -> None: ...

    def close(self) -> None: ...


def uses_token(settings: Settings) -> bool:
    return (settings.kek or "file").startswith("pkcs11:")


def state_path(settings: Settings) -> Path:
    """The file that exists once master keys have been set up: the keyring itself, or the token provider's state."""
    return settings.home / TOKEN_STATE_FILE if uses_token(settings) else settings.keyring_path


def _check_choice(settings: Settings) -> None:
    if (settings.kek or "file") != "file" and not uses_token(settings):
        raise KeyringError(f"GOVERN_KEK={settings.kek.split(':', 1)[0] if settings.kek else ''}…: unknown master-key provider (use `file` or a pkcs11: URI)")


def load(settings: Settings) -> MasterKeys:
    """The configured provider, opened; any problem (a wrong PIN, a missing token, module or key) is a KeyringError
    whose message names it."""
    _check_choice(settings)
    if uses_token(settings):
        return _token_keyring().load(settings.kek or "", settings.home)
    return Keyring.load(settings.keyring_path)


def create(settings: Settings) -> MasterKeys:
    """`govern init` on a database that holds nothing encrypted: a first master key (in the token, for pkcs11)."""
    _check_choice(settings)
    if uses_token(settings):
        return _token_keyring().create(settings.kek or "", settings.home)
    return Keyring.create(settings.keyring_path)


def _token_keyring() -> "type[TokenKeyring]":
    """The PKCS#11 provider, imported only when GOVERN_KEK asks for it (the binding is an optional dependency)."""
    try:
        from govern.crypto.hsm import TokenKeyring as provider  # noqa: PLC0415 -- python-pkcs11 is needed only with a token
    except ModuleNotFoundError as exc:
        if exc.name != "pkcs11":
            raise
        raise KeyringError("GOVERN_KEK names a PKCS#11 token but python-pkcs11 is not installed: pip install 'govern[hsm]'") from None
    return provider
