"""Master keys inside a PKCS#11 token (an HSM, or SoftHSM2 in tests): they can be used but never read.

GOVERN_KEK is an RFC 7512 PKCS#11 URI naming the token and the key label, with the module and the PIN source as
query attributes:

    pkcs11:token=govern;object=govern-kek?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/govern/hsm-pin

(`pin-source=env:NAME` reads the PIN from an environment variable instead of a file.) Every master-key version is an
AES-256 secret key object with that label and CKA_ID = the version (4 bytes, big-endian), sensitive and not
extractable. Data keys are wrapped and unwrapped by AES-GCM inside the token (C_Encrypt/C_Decrypt with the subject
bound as associated data), in the same byte layout as the file keyring, so envelope.py and the database do not care
which provider made them. The key-check value is an AES-CMAC of the fixed label, computed by the token.

The commercial_cn suite is refused with this provider (govern.crypto.checks, `suite_unsupported`): wrapping SM4 data
keys needs SM4 inside the token, which SoftHSM2 lacks and which HSMs offer only through vendor-defined mechanisms
govern has not been tested against; wrapping them with AES inside the token would leave an assessor an AES link in an
SM4 key hierarchy.

What the token cannot hold — the active version, a rotation in progress, the blind-index key wrapped under the
active master key — is kept in GOVERN_HOME/kek-state.json (0600; it holds no usable key without the token).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import pkcs11
from cryptography.exceptions import InvalidTag
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from prometheus_client import Counter

from govern.crypto import suites
from govern.crypto.keyring import CHECK_LABEL, NONCE_BYTES, KeyringError
from govern.crypto.keyring import TOKEN_STATE_FILE as STATE_FILE
from govern.crypto.watched import WatchedFile
from govern.files import write_private_json

_INDEX_AAD = b"govern/index-key/v1"
_TAG_BYTES = 16
_loaded_in: dict[str, int] = {}  # module path -> pid that initialised it: a forked worker must initialise again
# Every operation sent to the token, by kind. Under `govern serve` each worker's count reaches /metrics
# (PROMETHEUS_MULTIPROC_DIR: govern/health/metrics.py adds up every metric file); bench/read_path.py reads it there
# to count token calls per 1,000 reads. Registered nowhere else: a single process keeps TokenKeyring.token_calls.
TOKEN_CALLS = Counter("govern_kek_token_calls_total", "Operations sent to the PKCS#11 token holding the master keys",
                      ["operation"], registry=None)


@dataclass(frozen=True)
class TokenAddress:
    """What GOVERN_KEK names: the module (a shared library), the token's label, the key label and where the PIN is."""

    module: str
    token: str
    label: str
    pin_source: str

    @classmethod
    def parse(cls, uri: str) -> "TokenAddress":
        if not uri.startswith("pkcs11:"):
            raise KeyringError("GOVERN_KEK: a PKCS#11 URI starts with `pkcs11:`")
        path, _, query = uri[len("pkcs11:"):].partition("?")
        attrs: dict[str, str] = {}
        for part in [p for p in path.split(";") if p] + [q for q in query.split("&") if q]:
            name, sep, value = part.partition("=")
            if not sep:
                raise KeyringError(f"GOVERN_KEK: `{name}` has no value (expected name=value)")
            attrs[name.strip()] = unquote(value)
        wanted = {"module-path": "the PKCS#11 module", "token": "the token's label", "object": "the key label", "pin-source": "where the PIN is (file:PATH or env:NAME)"}
        missing = [f"{name} ({what})" for name, what in wanted.items() if not attrs.get(name)]
        if missing:
            raise KeyringError(f"GOVERN_KEK names no {', no '.join(missing)}")
        return cls(module=attrs["module-path"], token=attrs["token"], label=attrs["object"], pin_source=attrs["pin-source"])

    def pin(self) -> str:
        kind, _, where = self.pin_source.partition(":")
        if kind == "file":
            try:
                return Path(where).read_text().strip()
            except OSError as exc:
                raise KeyringError(f"the PIN file {where} for PKCS#11 token {self.token!r} cannot be read: {exc.strerror}") from None
        if kind == "env":
            value = os.environ.get(where)
            if not value:
                raise KeyringError(f"the PIN variable {where} for PKCS#11 token {self.token!r} is not set")
            return value
        raise KeyringError(f"GOVERN_KEK pin-source={self.pin_source!r}: use file:PATH or env:NAME")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _open_session(address: TokenAddress) -> Any:
    """A logged-in read-write session, or a KeyringError naming what is wrong: module, token or PIN."""
    if not Path(address.module).is_file():
        raise KeyringError(f"PKCS#11 module {address.module} does not exist (install the HSM vendor's library, or correct module-path in GOVERN_KEK)")
    try:
        lib = pkcs11.lib(address.module)
    except p11.PKCS11Error as exc:
        raise KeyringError(f"PKCS#11 module {address.module} cannot be loaded: {exc}") from None
    if _loaded_in.setdefault(address.module, os.getpid()) != os.getpid():
        lib.reinitialize()  # PKCS#11 state does not survive fork(): a gunicorn worker starts its own
        _loaded_in[address.module] = os.getpid()
    try:
        token = lib.get_token(token_label=address.token)
    except p11.NoSuchToken:
        raise KeyringError(f"no PKCS#11 token labelled {address.token!r} in {address.module} (initialise it, or correct token= in GOVERN_KEK)") from None
    except p11.MultipleTokensReturned:
        raise KeyringError(f"more than one PKCS#11 token is labelled {address.token!r} in {address.module}: relabel one") from None
    pin = address.pin()
    try:
        return token.open(user_pin=pin, rw=True)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
        raise KeyringError(f"wrong PIN for PKCS#11 token {address.token!r} (from {address.pin_source})") from None
    except p11.PinLocked:
        raise KeyringError(f"the PIN of PKCS#11 token {address.token!r} is locked (too many wrong PINs): the token's security officer must reset it") from None
    except p11.UserAlreadyLoggedIn:
        # Login is per process and token in PKCS#11: another session of this process logged in already.
        return token.open(rw=True)


def _version_of(key: Any) -> int:
    raw = key[Attribute.ID] or b""
    return int.from_bytes(raw, "big") if raw else 1  # a key made by hand without an id is version 1


class TokenKeyring(WatchedFile):
    """The PKCS#11 master-key provider (govern.crypto.provider.MasterKeys)."""

    kind = "pkcs11"
    suite = suites.INTERNATIONAL  # the only one it offers (see the module's docstring)
    suite_migration: dict[str, Any] | None = None

    def __init__(self, address: TokenAddress, path: Path, session: Any, doc: dict[str, Any]) -> None:
        self.address = address
        self.path = path
        self._session = session
        self._lock = threading.RLock()
        self.token_calls = 0  # every operation sent to the token: the figure the DEK cache keeps low (and TOKEN_CALLS)
        self.accept: Callable[[Any], None] | None = None
        self._keys = self._find_keys()
        self._apply(doc)
        self._watch()

    def _called(self, operation: str) -> None:
        self.token_calls += 1
        TOKEN_CALLS.labels(operation).inc()

    # --- loading and saving ---

    @classmethod
    def load(cls, uri: str, home: Path) -> "TokenKeyring":
        address = TokenAddress.parse(uri)
        path = home / STATE_FILE
        doc = cls._read(path)
        return cls._opened(address, path, doc)

    @classmethod
    def create(cls, uri: str, home: Path) -> "TokenKeyring":
        """A first master key in the token (or the keys an operator made there beforehand under the label, adopted),
        and a new blind-index key wrapped under the newest of them; refuses to overwrite an existing state file."""
        address = TokenAddress.parse(uri)
        path = home / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        session = _open_session(address)
        try:
            if not _find(session, address.label):
                _generate(session, address.label, 1)
            doc = {"format": 1, "provider": "pkcs11", "token": address.token, "label": address.label, "active": 0,
                   "created": {}, "index_key": None, "rotation": None}
            ring = cls(address, path, session, doc)
            with ring._lock:
                ring.active_version = max(ring._keys)
                doc["active"] = ring.active_version
                doc["created"] = {str(ring.active_version): _now()}
                doc["index_key"] = ring._wrap_index_key(os.urandom(32), ring.active_version)
                write_private_json(path, doc, new=True)
                ring._apply(doc)
                ring._watch()
            return ring
        except BaseException:
            session.close()
            raise

    @classmethod
    def _opened(cls, address: TokenAddress, path: Path, doc: dict[str, Any]) -> "TokenKeyring":
        # The token and label recorded in the state are for the operator; GOVERN_KEK decides (a token relabelled or
        # moved to a cloned HSM keeps working), and the key-check values catch a key that is not the data's.
        session = _open_session(address)
        try:
            return cls(address, path, session, doc)
        except BaseException:
            session.close()
            raise

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise KeyringError(f"{path}: no master-key state for the PKCS#11 token; run `govern init`") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(f"{path}: readable by group or others; chmod 600 it")
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
            if doc["provider"] != "pkcs11" or not isinstance(doc["active"], int) or not doc["index_key"]["wrapped"]:
                raise ValueError("not a PKCS#11 provider's state")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"{path}: not a valid master-key state file: {exc}") from None
        return doc

    def _find_keys(self) -> dict[int, Any]:
        with self._lock:
            self._called("find")
            keys = {_version_of(k): k for k in _find(self._session, self.address.label)}
        if not keys:
            raise KeyringError(f"no key labelled {self.address.label!r} in PKCS#11 token {self.address.token!r} (correct object= in GOVERN_KEK, or run `govern init` for a new deployment)")
        return keys

    def _apply(self, doc: dict[str, Any]) -> None:
        if doc["active"] and doc["active"] not in self._keys:
            raise KeyringError(f"master key version {doc['active']} (label {self.address.label!r}) is not in PKCS#11 token {self.address.token!r}")
        self._doc = doc
        self.active_version = doc["active"]
        self.rotation: dict[str, Any] | None = doc.get("rotation")
        if doc.get("index_key"):
            self.index_key = self._unwrap_index_key(doc["index_key"])

    def _wrap_index_key(self, index_key: bytes, version: int) -> dict[str, Any]:
        return {"version": version, "wrapped": base64.b64encode(self.wrap(version, index_key, _INDEX_AAD)).decode()}

    def _unwrap_index_key(self, entry: dict[str, Any]) -> bytes:
        version = entry["version"]
        if version not in self._keys:
            raise KeyringError(f"the blind-index key is wrapped under master key version {version}, which PKCS#11 token {self.address.token!r} lacks")
        try:
            return self.unwrap(version, base64.b64decode(entry["wrapped"]), _INDEX_AAD)
        except InvalidTag:
            raise KeyringError(f"the blind-index key in {self.path} does not unwrap under key {self.address.label!r} v{version} of token {self.address.token!r} (a state file from another token?)") from None

    def _save(self) -> None:
        write_private_json(self.path, self._doc, new=False)
        self._watch()

    def _reload(self) -> None:
        """A rotation made by another process (the CLI): the token is asked only when the state file changed."""
        with self._lock:
            doc = self._read(self.path)
            kept, self._keys = self._keys, self._find_keys()
            try:
                if self.accept is not None:
                    self.accept(self)  # check values are computed by the token from the keys just found
                self._apply(doc)
            except BaseException:
                self._keys = kept  # a token or state that no longer matches is reported, not adopted
                raise
            self._watch()

    def close(self) -> None:
        with self._lock:
            self._session.close()

    # --- use ---

    def _key(self, version: int) -> Any:
        key = self._keys.get(version)
        if key is None:
            self.reload_if_changed(every_seconds=0)  # another process may have rotated since we loaded
            key = self._keys.get(version)
        if key is None:
            raise KeyringError(f"master key version {version} is not in PKCS#11 token {self.address.token!r}")
        return key

    def supports(self, fmt: int) -> str | None:
        if fmt != suites.AES_GCM:
            return "the PKCS#11 provider wraps data keys with AES-GCM inside the token only (SoftHSM2 has no SM4; an HSM's SM4 is a vendor-defined mechanism govern has not been tested against)"
        return None

    def _only_aes(self, fmt: int) -> None:
        if fmt != suites.AES_GCM:
            raise KeyringError(self.supports(fmt) or "")

    def wrap(self, version: int, plaintext: bytes, aad: bytes, fmt: int = suites.AES_GCM) -> bytes:
        self._only_aes(fmt)
        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            self._called("wrap")
            return nonce + bytes(self._key(version).encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad)))

    def unwrap(self, version: int, sealed: bytes, aad: bytes, fmt: int = suites.AES_GCM) -> bytes:
        self._only_aes(fmt)
        if len(sealed) < NONCE_BYTES + _TAG_BYTES:
            raise InvalidTag()
        with self._lock:
            self._called("unwrap")
            try:
                return bytes(self._key(version).decrypt(sealed[NONCE_BYTES:], mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(sealed[:NONCE_BYTES], aad)))
            except p11.PKCS11Error:
                # Tokens report a failed tag variously (SoftHSM2: CKR_GENERAL_ERROR); all mean "does not open".
                raise InvalidTag() from None

    def check_value(self, version: int) -> str:
        with self._lock:
            self._called("check_value")
            return bytes(self._key(version).sign(CHECK_LABEL + b"\x00master\x00" + str(version).encode(), mechanism=Mechanism.AES_CMAC)).hex()

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def describe(self) -> dict[str, Any]:
        created = self._doc.get("created", {})
        return {
            "provider": self.kind,
            "path": str(self.path),
            "token": self.address.token,
            "label": self.address.label,
            "active": self.active_version,
            "versions": [{"version": v, "created_at": created.get(str(v))} for v in self.versions],
            "rotation": self.rotation,
        }

    # --- rotation bookkeeping ---

    def begin_rotation(self) -> int:
        """A new AES-256 key generated in the token (it never leaves), made active, and the blind-index key wrapped
        under it; a run killed before the state file is written leaves an unused key object, never a lost one."""
        with self._lock:
            version = max(self._keys) + 1
            _generate(self._session, self.address.label, version)
            self._called("generate")
            self._keys = self._find_keys()
            self._doc["active"] = version
            self._doc.setdefault("created", {})[str(version)] = _now()
            self._doc["index_key"] = self._wrap_index_key(self.index_key, version)
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


def _find(session: Any, label: str) -> list[Any]:
    return list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES, Attribute.LABEL: label}))


def _generate(session: Any, label: str, version: int) -> Any:
    """An AES-256 key that lives in the token, can encrypt, decrypt and CMAC-sign (the check value), and can never be
    read out or wrapped out."""
    return session.generate_key(
        KeyType.AES, 256, label=label, id=version.to_bytes(4, "big"), store=True,
        template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.PRIVATE: True, Attribute.ENCRYPT: True,
                  Attribute.DECRYPT: True, Attribute.SIGN: True, Attribute.VERIFY: False, Attribute.WRAP: False, Attribute.UNWRAP: False},
    )
