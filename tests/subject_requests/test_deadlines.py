"""The deadline engine against worked examples: every figure comes from policies/ (jurisdictions.yaml and the
working-day calendars), and every deadline from the request's recorded events."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.config import PROJECT_ROOT
from govern.errors import Problem
from govern.policies import load_policy
from govern.subject_requests import deadlines
from govern.subject_requests.deadlines import ClockEvent

SH, BRU, LA = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Brussels"), ZoneInfo("America/Los_Angeles")


@pytest.fixture(scope="module")
def policy():
    return load_policy(PROJECT_ROOT / "policies")


def _due(policy, jur, rtype, events, now=None):
    terms = policy.request_terms[jur]
    now = now or events[-1].at
    return deadlines.compute(terms=terms, rule=terms.rules[rtype], calendars=policy.calendars, events=events, now=now)


def test_pipl_account_closure_counts_15_working_days_across_national_day_and_its_working_weekends(policy):
    # Thursday 25 September 2025; 1–8 October is the holiday, Sunday 28 September and Saturday 11 October are worked.
    received = datetime(2025, 9, 25, 10, 0, tzinfo=SH)
    d = _due(policy, "CN", "account_closure", [ClockEvent("received", received)])
    assert d.due == date(2025, 10, 22)
    assert d.due_at == datetime(2025, 10, 22, 23, 59, 59, 999999, tzinfo=SH).astimezone(timezone.utc)
    assert "15 working days" in d.sources["respond"]
    assert not d.provisional


def test_the_cn_calendar_knows_the_holidays_and_the_adjusted_working_days(policy):
    cn = policy.calendars["CN"]
    assert cn.is_working_day(date(2025, 9, 28)) and cn.is_working_day(date(2025, 10, 11))  # Sunday and Saturday, worked
    assert not cn.is_working_day(date(2025, 10, 6))  # a Monday inside National Day week
    assert not cn.is_working_day(date(2026, 2, 16)) and cn.is_working_day(date(2026, 2, 14))  # Spring Festival 2026
    assert cn.is_working_day(date(2026, 10, 10)) and not cn.is_working_day(date(2026, 10, 7))


def test_a_year_without_a_published_arrangement_is_flagged_and_a_year_not_listed_is_refused(policy):
    d = _due(policy, "CN", "account_closure", [ClockEvent("received", datetime(2027, 9, 24, 10, tzinfo=SH))])
    assert d.provisional and d.due == date(2027, 10, 20)  # 1–5 October 2027 statutory (with make-up days)
    with pytest.raises(Problem) as exc:
        _due(policy, "CN", "account_closure", [ClockEvent("received", datetime(2027, 12, 24, 10, tzinfo=SH))])
    assert exc.value.code == "calendar_not_covered"


def test_pipl_other_requests_default_to_30_calendar_days(policy):
    d = _due(policy, "CN", "access", [ClockEvent("received", datetime(2025, 9, 25, 10, tzinfo=SH))])
    assert d.due == date(2025, 10, 25) and d.acknowledge_by is None


@pytest.mark.parametrize(("received", "due"), [
    (date(2026, 1, 31), date(2026, 2, 28)),
    (date(2028, 1, 31), date(2028, 2, 29)),
    (date(2026, 3, 10), date(2026, 4, 10)),
])
def test_gdpr_one_month_ends_on_the_same_date_or_the_months_last_day(policy, received, due):
    d = _due(policy, "EU", "access", [ClockEvent("received", datetime.combine(received, datetime.min.time(), BRU).replace(hour=9))])
    assert d.due == due


def test_gdpr_extension_adds_two_months_to_the_original_deadline(policy):
    received = datetime(2026, 3, 10, 9, tzinfo=BRU)
    d = _due(policy, "EU", "access", [ClockEvent("received", received), ClockEvent("extended", datetime(2026, 4, 9, 9, tzinfo=BRU))])
    assert (d.original_due, d.due, d.extensions) == (date(2026, 4, 10), date(2026, 6, 10), 1)


def test_ccpa_acknowledgement_is_10_business_days_and_the_answer_45_days_from_receipt(policy):
    received = datetime(2026, 3, 2, 10, tzinfo=LA)  # a Monday
    d = _due(policy, "US-CA", "access", [ClockEvent("received", received)])
    assert d.acknowledge_by == date(2026, 3, 16)
    assert d.due == date(2026, 4, 16)
    extended = _due(policy, "US-CA", "access", [ClockEvent("received", received), ClockEvent("extended", received + timedelta(days=40))])
    assert extended.due == date(2026, 5, 31) == received.date() + timedelta(days=90)


def test_ccpa_opt_out_is_15_business_days_without_verification(policy):
    rule = policy.request_terms["US-CA"].rules["objection"]
    assert rule.verification_required is False
    d = _due(policy, "US-CA", "objection", [ClockEvent("received", datetime(2026, 3, 2, 10, tzinfo=LA))])
    assert d.due == date(2026, 3, 23)


def test_ccpa_clock_ignores_pauses_while_pipl_moves_the_deadline_by_the_days_paused(policy):
    r = datetime(2026, 3, 2, 10, tzinfo=LA)
    ccpa = _due(policy, "US-CA", "access", [ClockEvent("received", r), ClockEvent("paused", r + timedelta(days=1)), ClockEvent("resumed", r + timedelta(days=11))])
    assert ccpa.due == date(2026, 4, 16) and ccpa.paused_days == 0
    r = datetime(2026, 3, 2, 10, tzinfo=SH)
    pipl = _due(policy, "CN", "access", [ClockEvent("received", r), ClockEvent("paused", r + timedelta(days=1)), ClockEvent("resumed", r + timedelta(days=11))])
    assert pipl.due == date(2026, 4, 1) + timedelta(days=10) and pipl.paused_days == 10


def test_every_jurisdiction_states_every_request_type_with_a_source(policy):
    from govern.subject_requests.policy import REQUEST_TYPES

    for code, terms in policy.request_terms.items():
        assert terms.complaint["zh"] and terms.complaint["en"] and terms.complaint_source
        for rtype in REQUEST_TYPES:
            rule = terms.rules[rtype]
            assert rule.respond.source and rule.verification_source and rule.pause_source, (code, rtype)
