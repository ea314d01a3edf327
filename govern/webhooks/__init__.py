"""Propagation webhooks: telling CRM components and recipients of erasures, rectifications and restrictions."""

# The endpoints' data keys under the master key, told to crypto (govern/crypto/keyed.py): start-up and rotation see them.
from govern.webhooks import keyed as _keyed  # noqa: F401
