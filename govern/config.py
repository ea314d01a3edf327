"""Settings from GOVERN_* environment variables, with embedded defaults that work on a bare machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    policies_dir: Path
    log_level: str = "INFO"
    dek_cache_size: int = 10_000
    dek_cache_seconds: float = 300.0
    trusted_proxies: int = 0

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
        )


def _default_policies() -> Path:
    # ./policies when run from a checkout's root; otherwise the copy beside the package.
    local = Path("policies")
    return local if local.is_dir() else PROJECT_ROOT / "policies"
