"""A webhook endpoint's signing secrets are sealed under a data key of its own, wrapped by the master key: registered
with crypto (govern/crypto/keyed.py) so that start-up sees them and `govern keys rotate` moves their keys too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.crypto.envelope import Envelope
from govern.crypto.keyed import KeyedData, register
from govern.webhooks.models import WebhookEndpoint


def rewrap_endpoint_keys(session: Session, envelope: Envelope, to_version: int) -> int:
    """Moves every endpoint's data key onto master-key version `to_version` (part of `govern keys rotate`, so that a
    retired or compromised master key protects no webhook secret either); returns how many moved."""
    # FOR UPDATE (PostgreSQL): an admin rotating an endpoint's secret meanwhile waits, or is waited for, instead of
    # one of the two failing on the endpoint's version.
    query = select(WebhookEndpoint).where(WebhookEndpoint.master_key_version != to_version).order_by(WebhookEndpoint.id)
    moved = session.scalars(query.with_for_update().execution_options(populate_existing=True)).all()
    for endpoint in moved:
        endpoint.wrapped_key = envelope.rewrap(endpoint.id, endpoint.wrapped_key, to_version)
        endpoint.master_key_version = to_version
    return len(moved)


register(KeyedData(name="webhook_endpoints", probe=select(WebhookEndpoint.id), rewrap=rewrap_endpoint_keys))
