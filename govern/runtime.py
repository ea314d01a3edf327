"""The runtime of one process: settings, policy, keys and the database, built once (build_runtime) and handed to every
service, command and the app. It loads no route: a `govern` command builds only this (govern/cli_support.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, request
from sqlalchemy.orm import Session

from govern.config import Settings
from govern.crypto.checks import load_checked_keyring
from govern.crypto.envelope import DataKeyCache, Envelope
from govern.crypto.provider import MasterKeys
from govern.db import Database
from govern.files import private_files
from govern.identity.guard import is_audited_read
from govern.ledgers import ErasureLedgers
from govern.logging import personal_data_filter
from govern.policies import load_policy
from govern.policy import Policy
from govern.webhooks.egress import SystemResolver


@dataclass
class Runtime:
    """What services need from the process: settings, policy, keys and the database."""

    settings: Settings
    policy: Policy
    keyring: MasterKeys
    envelope: Envelope
    database: Database
    started_at: float = field(default_factory=time.time)
    resolver: Any = field(default_factory=SystemResolver)  # webhook host names (govern.webhooks.egress); a port for tests

    @property
    def ledgers(self) -> ErasureLedgers:
        """The erasure and purge ledgers in GOVERN_HOME (govern/ledgers.py): what a restore must remove again."""
        return ErasureLedgers.in_home(self.settings.home)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.database.dispose()  # a command leaves no connection behind

    def session(self) -> Session:
        """The current request's session, opened on first use: an audited read's runs in AUTOCOMMIT on PostgreSQL, on
        one connection checked out once (Database.read_session)."""
        ctx = g._get_current_object()  # type: ignore[attr-defined]  # once: each proxy access is a context look-up
        session = ctx.get("db_session")
        if session is None:
            audited = is_audited_read(current_app, request.endpoint)
            session = ctx.db_session = self.database.read_session() if audited else self.database.sessions()
        return session


def build_runtime(settings: Settings) -> Runtime:
    policy = load_policy(settings.policies_dir)
    personal_data_filter.extend(policy.catalog.fields)
    private_files()  # whatever this process writes (SQLite files, exports, packages, backups) is its owner's alone
    database = Database(settings.database_url, lock_timeout_ms=settings.db_lock_timeout_ms, statement_timeout_ms=settings.db_statement_timeout_ms)
    keyring = load_checked_keyring(settings=settings, database=database)  # a missing or foreign keyring stops here
    envelope = Envelope(keyring, DataKeyCache(settings.dek_cache_size, settings.dek_cache_seconds))
    return Runtime(settings=settings, policy=policy, keyring=keyring, envelope=envelope, database=database)
