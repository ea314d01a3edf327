"""The scope a notice version announced is pinned by a hash govern keeps of its own data (issue 21): taken under the
suite in force — SM3 under commercial_cn, stored as `sm3:` and its first 240 bits — and compared under the algorithm
it names, so a scope pinned before `govern keys migrate-suite` still matches after it, and an edited one is refused
under either."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

import pytest

from govern.consent import receipts, service
from govern.consent.models import NoticeScope
from govern.crypto import suites
from govern.errors import Conflict

SCOPE = {"fields": ["email", "mobile"], "record_types": [], "method": "email"}
NOW = datetime(2026, 12, 6, tzinfo=timezone.utc)
SHA256, SM3 = suites.suite(suites.INTERNATIONAL), suites.suite(suites.COMMERCIAL_CN)


def _pin(runtime, version: str, suite, scope=SCOPE) -> str:
    with runtime.database.unit_of_work() as session:
        service.notice_scope(session=session, purpose="marketing", version=version, scope=scope, now=NOW, suite=suite)
        return session.get_one(NoticeScope, ("marketing", version)).sha256


def test_under_commercial_cn_the_scope_is_pinned_with_sm3_and_says_so(runtime):
    pinned = _pin(runtime, f"t-{uuid.uuid4().hex[:8]}", SM3)
    assert pinned == "sm3:" + hashlib.new("sm3", receipts.canonical(SCOPE).encode()).hexdigest()[:60]


@pytest.mark.parametrize(("before", "after"), [(SHA256, SM3), (SM3, SHA256)])
def test_a_scope_pinned_under_one_suite_still_matches_under_the_other(runtime, before, after):
    version = f"t-{uuid.uuid4().hex[:8]}"
    pinned = _pin(runtime, version, before)
    assert _pin(runtime, version, after) == pinned  # the same scope, read after a migration: no notice_scope_changed


@pytest.mark.parametrize("suite", [SHA256, SM3])
def test_an_edited_scope_of_a_pinned_version_is_refused_whatever_the_suite(runtime, suite):
    version = f"t-{uuid.uuid4().hex[:8]}"
    _pin(runtime, version, SHA256)
    with pytest.raises(Conflict, match="notice_scope_changed"):
        _pin(runtime, version, suite, scope={**SCOPE, "fields": ["email", "mobile", "address"]})
