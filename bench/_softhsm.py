"""A SoftHSM2 of one's own, for the PKCS#11 master-key provider in tests (tests/crypto/test_hsm.py) and benchmarks
(bench/read_path.py --provider pkcs11): a configuration and token directory in a folder, initialised tokens with a
PIN file each, and the GOVERN_KEK URI naming a key label in one. Debian's softhsm2 (`make install-test`) provides the
module and softhsm2-util. Not product code: an operator's token is initialised by the HSM's own tools at a key
ceremony (docs/cryptography.md).

SOFTHSM2_CONF must point at the configuration before the module is first loaded in a process: SoftHSM2 reads its token
directory when initialised, so `configure` sets it in this process's environment (subprocesses inherit it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def configure(where: Path) -> Path:
    """A SoftHSM2 configuration whose tokens live under `where`, made the one this process (and its children) uses."""
    assert Path(MODULE).is_file(), f"{MODULE} is missing: `make install-test` installs Debian's softhsm2"
    (where / "tokens").mkdir(parents=True, exist_ok=True)
    conf = where / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {where / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def init_token(where: Path, label: str, pin: str) -> Path:
    """A token labelled `label` in the first free slot (user PIN `pin`, SO PIN "0" + pin) and its PIN file (0600)."""
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "0" + pin],
                   check=True, capture_output=True, env=dict(os.environ))
    pin_file = where / f"{label}.pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    return pin_file


def kek_uri(where: Path, *, token: str, label: str, module: str = MODULE, pin_file: str | None = None) -> str:
    """GOVERN_KEK for key label `label` in token `token`, with the PIN read from the token's PIN file under `where`."""
    return f"pkcs11:token={token};object={label}?module-path={module}&pin-source=file:{pin_file or where / f'{token}.pin'}"
