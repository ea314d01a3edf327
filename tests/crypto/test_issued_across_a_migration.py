"""What govern handed out before `govern keys migrate-suite` stays good after it for its normal lifetime: a one-time code
mailed to a requester, a download token, a list cursor. Each is stored or signed under the algorithm of its day and
checked under the algorithm it names, never the suite in force; a wrong code is still refused and still counts."""

from __future__ import annotations

import uuid

import pytest

from govern.api_lists import issue_cursor, read_cursor
from govern.crypto import suites
from govern.crypto.cli import runtime_for
from govern.errors import Problem
from govern.identity.actor import Actor
from govern.subject_requests import service as requests
from govern.subject_requests.models import DataSubjectRequest, DownloadToken
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import seed

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",), principal_id=uuid.UUID("00000000-0000-4000-8000-00000000c0de"))


def _call(rt, fn, **kw):
    with rt.database.unit_of_work() as session:
        return fn(session=session, policy=rt.policy, envelope=rt.envelope, actor=CRM, **kw)


def _request(rt, sid) -> uuid.UUID:
    return _call(rt, requests.file, subject_id=sid, type="access", channel="app").request.id


def _otp_state(rt, rid) -> tuple[str | None, int, int]:
    with rt.database.unit_of_work() as session:
        req = session.get(DataSubjectRequest, rid)
        return req.otp_hash, req.otp_attempts, req.verification_failures


def _redeem(rt, token: str) -> DownloadToken:
    with rt.database.unit_of_work() as session:
        row, _ = requests.redeem_download_token(session=session, envelope=rt.envelope, token=token)
        return row


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


@pytest.fixture
def migrating(runtime, cn_home):  # noqa: F811  (the fixture imported above)
    """A subject of the installation, and the command's runtime over a copy of its keyring before the migration."""
    [sid] = seed(runtime, 1)  # data under international (on an empty database the policy's suite would be recorded)
    rt = runtime_for(cn_home)
    assert rt.envelope.suite.name == suites.INTERNATIONAL
    yield rt, sid
    rt.database.dispose()


def test_a_one_time_code_mailed_before_the_migration_verifies_after_it_and_a_wrong_one_still_counts(migrating, cn_home):  # noqa: F811
    rt, sid = migrating
    rid = _request(rt, sid)
    code, _ = _call(rt, requests.issue_otp, request_id=rid)
    assert not _otp_state(rt, rid)[0].startswith(suites.SM3_PREFIX)  # stored under HMAC-SHA256
    _migrate(rt, cn_home)
    assert rt.envelope.suite.name == suites.COMMERCIAL_CN
    wrong = _call(rt, requests.verify, request_id=rid, method="otp", code=_wrong(code))
    assert (wrong.verified, wrong.reason) == (False, "otp_wrong")
    assert _otp_state(rt, rid)[1:] == (1, 1)  # the attempt and the failure are counted
    right = _call(rt, requests.verify, request_id=rid, method="otp", code=code)
    assert right.verified
    assert _otp_state(rt, rid)[0] is None  # spent


def test_a_code_made_after_the_migration_is_stored_under_hmac_sm3(migrating, cn_home):  # noqa: F811
    rt, sid = migrating
    _migrate(rt, cn_home)
    rid = _request(rt, sid)
    code, _ = _call(rt, requests.issue_otp, request_id=rid)
    assert _otp_state(rt, rid)[0].startswith(suites.SM3_PREFIX)
    assert _call(rt, requests.verify, request_id=rid, method="otp", code=code).verified


def test_a_download_token_handed_out_before_the_migration_downloads_once_after_it(migrating, cn_home):  # noqa: F811
    rt, sid = migrating
    rid = _request(rt, sid)
    assert _call(rt, requests.verify, request_id=rid, method="crm_session", reference="sess-1").verified
    issued = _call(rt, requests.issue_download_token, request_id=rid)
    _migrate(rt, cn_home)
    row = _redeem(rt, issued.token)
    assert row.id == issued.token_id and row.used_at is not None and not row.token_hash.startswith(suites.SM3_PREFIX)
    with pytest.raises(Problem) as refused:
        _redeem(rt, issued.token)  # one download, in either suite
    assert refused.value.code == "download_not_found"
    with pytest.raises(Problem):
        _redeem(rt, issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"))  # a token one character off is unknown


def test_a_list_cursor_issued_before_the_migration_pages_on_after_it_and_cannot_be_forged(migrating, cn_home):  # noqa: F811
    rt, _ = migrating
    filters = {"status": "open", "cursor": "x", "limit": 2}
    before = issue_cursor(rt.envelope, "requests", filters, ["2026-12-01T00:00:00+00:00", "a1"])
    _migrate(rt, cn_home)
    assert read_cursor(rt.envelope, "requests", filters, before) == ["2026-12-01T00:00:00+00:00", "a1"]
    after = issue_cursor(rt.envelope, "requests", filters, ["2026-12-02T00:00:00+00:00", "b2"])
    assert after.split(".")[1].startswith(suites.SM3_PREFIX)
    assert read_cursor(rt.envelope, "requests", filters, after) == ["2026-12-02T00:00:00+00:00", "b2"]
    body, tag = before.split(".")
    moved = issue_cursor(rt.envelope, "requests", filters, ["2027-01-01T00:00:00+00:00", "z9"]).split(".")[0]
    for forged in (
        f"{moved}.{tag}",  # another position under the old tag
        f"{body}.{suites.SM3_PREFIX}{'0' * 28}",  # a tag claiming the other algorithm
        f"{body}.{tag[:-1]}",  # cut short
    ):
        with pytest.raises(Problem):
            read_cursor(rt.envelope, "requests", filters, forged)
    with pytest.raises(Problem):
        read_cursor(rt.envelope, "requests", {**filters, "status": "closed"}, before)  # other filters
