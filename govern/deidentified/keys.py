"""The export key: the HMAC key that turns a subject id into the pseudonym of a pseudonymised export, kept in a file of
its own (GOVERN_HOME/export-keys.json, mode 0600), apart from the keyring's master and index keys and from the
database, so neither a copy of the data keys nor a copy of the database re-identifies an export (GDPR Art. 4(5): the
"additional information" kept separately; PIPL Art. 73(3)).

Versions: rotating adds a version and makes it active, so later exports use new pseudonyms that cannot be linked with
earlier ones; earlier versions stay in the file (an export names the version it used) until an operator removes them.
`govern init` (and `govern serve`, which initialises) makes the file when there is none, or `govern deidentified key
create`; an existing file is never replaced, and an export without a usable one is refused (503 export_key_missing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import DomainError
from govern.files import write_private_json
from govern.timeutil import utcnow

FILE_NAME = "export-keys.json"


class ExportKeyMissing(DomainError):
    """503: no usable export key file; nothing is exported."""

    status_code = 503


def path_in(home: Path) -> Path:
    return Path(home) / FILE_NAME


@dataclass(frozen=True)
class ExportKeys:
    path: Path
    active: int
    keys: dict[int, bytes]
    created: dict[int, str]

    def pseudonym(self, subject_id: uuid.UUID, *, version: int | None = None) -> str:
        """The subject's pseudonym under a key version (the active one by default): HMAC-SHA256 of its id, 128 bits in
        hex, prefixed with the version so two exports are seen to be linkable only when the prefixes match."""
        v = self.active if version is None else version
        digest = hmac.new(self.keys[v], b"govern-export-subject:" + str(subject_id).encode(), hashlib.sha256).hexdigest()
        return f"v{v}-{digest[:32]}"

    def describe(self) -> dict[str, Any]:
        """What an operator may see: versions and dates, never key material."""
        return {"path": str(self.path), "active": self.active, "versions": [{"version": v, "created_at": self.created[v]} for v in sorted(self.keys)]}


def _missing(detail: str) -> ExportKeyMissing:
    return ExportKeyMissing("export_key_missing", "Export key unavailable", detail)


def load(path: Path) -> ExportKeys:
    """The export keys; 503 export_key_missing when the file is absent, readable by others or not an export key file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _missing("No export key: an operator runs `govern deidentified key create` (kept apart from the keyring).") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _missing("The export key file is readable by group or others: chmod 600 it.")
    try:
        doc = json.loads(path.read_text())
        keys = {int(e["version"]): base64.b64decode(e["key"]) for e in doc["keys"]}
        created = {int(e["version"]): str(e["created_at"]) for e in doc["keys"]}
        if any(len(k) != 32 for k in keys.values()) or int(doc["active"]) not in keys:
            raise ValueError("bad key")
    except (OSError, ValueError, KeyError, TypeError):
        raise _missing("The export key file is not valid; restore it from its backup.") from None
    return ExportKeys(path=path, active=int(doc["active"]), keys=keys, created=created)


def create(path: Path) -> ExportKeys:
    """Makes the export key file with version 1; refuses to overwrite one (FileExistsError)."""
    doc = {"format": 1, "active": 1, "keys": [{"version": 1, "key": base64.b64encode(os.urandom(32)).decode(), "created_at": utcnow().isoformat()}]}
    write_private_json(path, doc, new=True)
    return load(path)


def rotate(path: Path) -> ExportKeys:
    """Adds a key version and makes it active: later exports carry pseudonyms unlinkable with earlier ones."""
    current = load(path)
    version = max(current.keys) + 1
    entries = [{"version": v, "key": base64.b64encode(k).decode(), "created_at": current.created[v]} for v, k in sorted(current.keys.items())]
    entries.append({"version": version, "key": base64.b64encode(os.urandom(32)).decode(), "created_at": utcnow().isoformat()})
    write_private_json(path, {"format": 1, "active": version, "keys": entries}, new=False)
    return load(path)


def create_if_missing(home: Path) -> bool:
    """`govern init`: makes the export key file when there is none (True); an existing one is never touched."""
    path = path_in(home)
    if path.exists():
        return False
    try:
        create(path)
    except FileExistsError:  # another init made it meanwhile
        return False
    return True
