"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the `webhook-id`, `webhook-timestamp` and
`webhook-signature` headers every delivery carries, so a receiver can check them with the `standardwebhooks` library
of its own language instead of code copied from our README.

The key is the endpoint secret as the specification reads it: the base64 after `whsec_`, decoded the way the
reference libraries decode it (padding added, characters outside the alphabet skipped), so a secret issued before
this header existed verifies too. The older `Govern-Signature` header (HMAC keyed with the secret's text) is still
sent for one release and is deprecated."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Sequence

PREFIX = "whsec_"


def standard_key(secret: str) -> bytes | None:
    """The HMAC key a Standard Webhooks library derives from `secret`; None when it derives none (then no v1 signature
    for that secret is sent, and the endpoint's owner rotates its secret)."""
    encoded = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    try:
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError):
        return None
    return key or None


def sign(*, key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`."""
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(*, message_id: str, secrets_: Sequence[str], body: bytes, timestamp: int) -> dict[str, str]:
    """The three headers, with one space-separated signature per secret that signs now (the previous one too during a
    rotation's grace period). `message_id` is the same on every retry of one message: receivers deduplicate on it."""
    keys = [key for key in (standard_key(s) for s in secrets_) if key is not None]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key=key, message_id=message_id, timestamp=timestamp, body=body) for key in keys),
    }
