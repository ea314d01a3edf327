"""Fixtures of the proof tests: every role of policies/roles.yaml (and anonymous), and the realistic flow."""

from __future__ import annotations

import pytest

ANONYMOUS = "anonymous"


def role_names() -> list[str]:
    """The roles of policies/roles.yaml, read the way the service reads them."""
    from govern.config import PROJECT_ROOT
    from govern.policies import load_policy

    return sorted(load_policy(PROJECT_ROOT / "policies").roles)


@pytest.fixture
def flow(app, runtime):
    """The realistic flow of tests/proof/flow.py, run through the API with fresh canary values."""
    from tests.proof import flow as realistic

    return realistic.run(app, runtime)
