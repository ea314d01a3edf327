"""Retention: rules from policies/retention.yaml, legal holds, dry-run plans, approved and resumable purges."""
