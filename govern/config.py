"""Settings from GOVERN_* environment variables, with embedded defaults that work on a bare machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

_SHIPPED = Path(__file__).resolve().parent / "_shipped"
# Where policies/, migrations/ and audit/ are: a checkout's root, or in an installed wheel the copy setup.py puts
# inside the package (tests/test_wheel.py).
PROJECT_ROOT = _SHIPPED if _SHIPPED.is_dir() else Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    policies_dir: Path
    log_level: str = "INFO"
    dek_cache_size: int = 10_000
    dek_cache_seconds: float = 300.0
    trusted_proxies: int = 0
    # Audit log (issue 3): the checkpoint signing key lives apart from the database; checkpoints leave it.
    audit_signing_key_file: Path | None = None  # default GOVERN_HOME/audit-signing-key.json
    audit_signing_key: str | None = None  # base64 Ed25519 private key (32 bytes) instead of the file
    checkpoint_dir: Path | None = None  # default GOVERN_HOME/checkpoints
    # Where archived audit periods go at the end of retention (issue 20): export folders an auditor verifies offline.
    archive_dir: Path | None = None  # default GOVERN_HOME/audit-archive
    audit_seal_window_seconds: int = 900  # how long a late-committing transaction may take to still be sealed
    # The owner role's URL (GOVERN_MIGRATION_DATABASE_URL), used only by `govern db upgrade` / `govern init` / serve's
    # start-up migration; GOVERN_DATABASE_URL is then a role with DML only, which can neither drop nor disable the audit
    # log's triggers (README: production PostgreSQL). Unset: the one URL does both (development, SQLite).
    migration_database_url: str | None = None
    # Console (issue 8): the session cookie's Secure flag. "auto" sets it when the request came over TLS (as Flask sees
    # it); set "true" behind a TLS-terminating proxy, "false" only for plain-HTTP development.
    console_secure_cookies: str = "auto"
    # Rate limits (govern/ratelimit.py, policies/rate_limits.yaml): counted in this Redis (redis://host:6379/0, or
    # rediss:// for TLS) so every process and host shares them; unset, each process counts in its own memory.
    redis_url: str | None = None
    # Development (`govern serve --dev` or GOVERN_DEV=1): webhooks may use plain http. Never in production.
    dev: bool = False
    # How long a statement may wait for a lock (PostgreSQL lock_timeout, default 5 s; SQLite's busy timeout, default
    # 30 s) and run at all (PostgreSQL statement_timeout, 0 = no limit), on every connection govern opens (requests and
    # CLI jobs; not migrations). A request that hits either answers 503 with Retry-After instead of hanging.
    db_lock_timeout_ms: int | None = None
    db_statement_timeout_ms: int = 0
    # Alerts by e-mail (govern/alerts): smtp://host:25, smtp://host:587?starttls=1 or smtps://user:password@host:465.
    smtp_url: str | None = None
    # Where the master keys live (govern/crypto/provider.py): unset or "file" = GOVERN_HOME/keyring.json; a pkcs11: URI
    # (RFC 7512: token, object = key label, module-path, pin-source) = a PKCS#11 token such as an HSM.
    kek: str | None = None

    @property
    def audit_key_path(self) -> Path:
        return self.audit_signing_key_file or self.home / "audit-signing-key.json"

    @property
    def audit_checkpoint_dir(self) -> Path:
        return self.checkpoint_dir or self.home / "checkpoints"

    @property
    def audit_archive_dir(self) -> Path:
        return self.archive_dir or self.home / "audit-archive"

    @property
    def migration_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def keyring_path(self) -> Path:
        return self.home / "keyring.json"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        home = Path(env.get("GOVERN_HOME", "./var")).resolve()
        database_url = env.get("GOVERN_DATABASE_URL") or f"sqlite:///{home / 'govern.db'}"
        policies = Path(env.get("GOVERN_POLICIES", str(_default_policies()))).resolve()
        return cls(
            home=home,
            database_url=database_url,
            policies_dir=policies,
            log_level=env.get("GOVERN_LOG_LEVEL", "INFO").upper(),
            dek_cache_size=int(env.get("GOVERN_DEK_CACHE_SIZE", "10000")),
            dek_cache_seconds=float(env.get("GOVERN_DEK_CACHE_SECONDS", "300")),
            trusted_proxies=int(env.get("GOVERN_TRUSTED_PROXIES", "0")),
            audit_signing_key_file=Path(env["GOVERN_AUDIT_SIGNING_KEY_FILE"]).resolve() if env.get("GOVERN_AUDIT_SIGNING_KEY_FILE") else None,
            audit_signing_key=env.get("GOVERN_AUDIT_SIGNING_KEY") or None,
            checkpoint_dir=Path(env["GOVERN_CHECKPOINT_DIR"]).resolve() if env.get("GOVERN_CHECKPOINT_DIR") else None,
            archive_dir=Path(env["GOVERN_AUDIT_ARCHIVE_DIR"]).resolve() if env.get("GOVERN_AUDIT_ARCHIVE_DIR") else None,
            audit_seal_window_seconds=int(env.get("GOVERN_AUDIT_SEAL_WINDOW_SECONDS", "900")),
            migration_database_url=env.get("GOVERN_MIGRATION_DATABASE_URL") or None,
            console_secure_cookies=env.get("GOVERN_CONSOLE_SECURE_COOKIES", "auto").lower(),
            redis_url=env.get("GOVERN_REDIS_URL") or None,
            dev=env.get("GOVERN_DEV", "").lower() in ("1", "true", "yes"),
            db_lock_timeout_ms=int(env["GOVERN_DB_LOCK_TIMEOUT_MS"]) if env.get("GOVERN_DB_LOCK_TIMEOUT_MS") else None,
            db_statement_timeout_ms=int(env.get("GOVERN_DB_STATEMENT_TIMEOUT_MS", "0")),
            smtp_url=env.get("GOVERN_SMTP_URL") or None,
            kek=env.get("GOVERN_KEK") or None,
        )


def _default_policies() -> Path:
    # ./policies when run from a checkout's root; otherwise the copy beside the package.
    local = Path("policies")
    return local if local.is_dir() else PROJECT_ROOT / "policies"
