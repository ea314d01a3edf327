"""Crypto imports no domain: the domains register what they keep under the master key (govern/crypto/keyed.py). These
tests hold the guarantee that replaces the import: every process that loads a policy, or runs a `govern` command,
has every holder registered, and no table wraps keys under the master key without one that moves them in a rotation
(else `govern keys rotate` would leave them on a retired key)."""

import importlib
import json
import pkgutil
import subprocess
import sys

import govern
from govern.db import Base

_LIST = "from govern.crypto import keyed; print(json.dumps({k.name: k.rewrap is not None for k in keyed.registered()}))"


def _registered_after(module: str) -> dict[str, bool]:
    """Which holders a fresh process has after importing only `module` -> {table: rewraps keys of its own}."""
    out = subprocess.run([sys.executable, "-c", f"import json, {module}; {_LIST}"], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_a_process_that_loads_a_policy_or_runs_a_command_has_every_holder_registered():
    expected = {"subjects": False, "webhook_endpoints": True}
    assert _registered_after("govern.policies") == expected  # the app, each worker and every command load the policy
    assert _registered_after("govern.cli") == expected


def test_every_table_that_wraps_keys_under_the_master_key_is_rewrapped_by_a_rotation():
    for module in pkgutil.walk_packages(govern.__path__, "govern."):
        importlib.import_module(module.name)  # every model mapped
    from govern.crypto import keyed

    wrapping = {name for name, table in Base.metadata.tables.items() if {"wrapped_key", "master_key_version"} <= set(table.columns.keys())}
    rewrapped = {k.name for k in keyed.registered() if k.rewrap is not None}
    assert "webhook_endpoints" in wrapping
    assert wrapping - {"subject_keys"} <= rewrapped  # subject_keys: the rotation's own batches (crypto/service.py)
