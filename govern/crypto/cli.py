"""What `govern keys migrate-suite` (govern/cli.py) needs from above the crypto layer: a runtime whose policy may name
the migration's target, and the subjects domain's normal forms for recomputing blind indexes."""

from __future__ import annotations

from typing import Any

from govern.config import Settings
from govern.crypto.envelope import Envelope
from govern.crypto.migration import Normaliser
from govern.db import Database


def runtime_for(settings: Settings) -> Any:
    """The command's runtime: the keys checked against the database as at every start, but the suite policies/crypto.yaml
    names is the migration's target, not a mismatch."""
    from govern.crypto import checks
    from govern.crypto.envelope import DataKeyCache
    from govern.policies import load_policy
    from govern.runtime import Runtime

    policy = load_policy(settings.policies_dir)
    database = Database(settings.database_url)
    keyring = checks.load_checked_keyring(settings=settings, database=database, migrating=True)
    return Runtime(settings=settings, policy=policy, keyring=keyring, envelope=Envelope(keyring, DataKeyCache(settings.dek_cache_size, settings.dek_cache_seconds)), database=database)


def normaliser(policy: Any) -> Normaliser:
    """The normal form a searchable field's blind index is computed over (the field validators, govern/validators.py)."""
    from govern import validators

    def normal(field: str, value: str) -> str:
        rule = policy.catalog.fields[field]
        return str(validators.clean(rule.validator, rule.validator_options, value)[1])

    return normal
