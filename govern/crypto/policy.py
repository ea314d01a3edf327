"""The cryptography part of the policy (policies/crypto.yaml `crypto:`): the suite new data is written under
(govern.crypto.suites). Validated at start-up by govern.policies.load_policy; govern.crypto.checks compares it with the
suite the database records before any key is used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import fields as ma
from marshmallow import validate

from govern.crypto.suites import NAMES
from govern.policy import StrictSchema, read_yaml, validate_file


@dataclass(frozen=True)
class CryptoPolicy:
    suite: str  # international | commercial_cn
    source: str


class _CryptoSchema(StrictSchema):
    suite = ma.Str(required=True, validate=validate.OneOf(NAMES))
    source = ma.Str(required=True, validate=validate.Length(min=3))


class _CryptoFileSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    crypto = ma.Nested(_CryptoSchema, required=True)


def read_crypto_policy(directory: Path) -> CryptoPolicy:
    """policies/crypto.yaml, validated (PolicyError names the key and the problem)."""
    doc = validate_file("crypto", read_yaml(Path(directory) / "crypto.yaml"), _CryptoFileSchema())["crypto"]
    return CryptoPolicy(suite=doc["suite"], source=doc["source"])


def load_crypto_policy(directory: Path) -> dict[str, Any]:
    return {"crypto": read_crypto_policy(directory)}
