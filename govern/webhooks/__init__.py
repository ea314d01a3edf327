"""Propagation webhooks: telling CRM components and recipients of erasures, rectifications and restrictions."""
