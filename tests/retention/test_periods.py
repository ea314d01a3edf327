"""Retention periods are counted in the law's own units, by one arithmetic: days as days, months and years by the
calendar (six months from 31 August ends on the last day of February). What an erasure keeps and what a purge finds
due agree at every instant, end of month and leap day included."""

import shutil
from datetime import date, datetime, time, timedelta, timezone

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.retention.policy import RetentionPeriod

from .test_policy import _edit

UTC = timezone.utc


def at(y, m, d, hh=0, mm=0, tz=UTC):
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def test_six_months_from_31_august_ends_on_the_last_day_of_february():
    six = RetentionPeriod(6, "m")
    assert six.last_day(at(2026, 8, 31, 15)) == date(2027, 2, 28)
    assert six.last_day(at(2027, 8, 31, 15)) == date(2028, 2, 29)  # a leap year
    # The whole of that last day is inside the period (the old arithmetic let it run out at 15:00 that day) ...
    assert six.end(at(2026, 8, 31, 15)) == at(2027, 3, 1)
    # ... and a start on a date the end month has keeps its time of day.
    assert six.end(at(2026, 8, 28, 15)) == at(2027, 2, 28, 15)


def test_a_purge_on_the_last_day_of_february_takes_none_of_29_to_31_august_and_all_of_them_the_next_day():
    six = RetentionPeriod(6, "m")
    for start in (at(2026, 8, 29, 1), at(2026, 8, 30, 12), at(2026, 8, 31, 23)):
        assert not start <= six.cutoff(at(2027, 2, 28, 23, 59))
        assert start <= six.cutoff(at(2027, 3, 1))


def test_one_month_back_from_31_march_takes_all_of_28_february():
    # The old cutoff (28 February at the hour of `now`) kept a record of 28 February, 18:00 until 29 March 18:00,
    # a day after its month had run on 28 March, and let it fall out of "due" again between 29 and 31 March.
    one = RetentionPeriod(1, "m")
    start = at(2027, 2, 28, 18)
    assert one.end(start) == at(2027, 3, 28, 18)
    for now in (at(2027, 3, 28, 18), at(2027, 3, 29, 12), at(2027, 3, 31, 9)):
        assert start <= one.cutoff(now)


def test_a_start_on_28_february_is_due_on_the_leap_day_three_years_on():
    three = RetentionPeriod(3, "y")
    assert three.end(at(2025, 2, 28, 18)) == at(2028, 2, 28, 18)
    assert at(2025, 2, 28, 18) <= three.cutoff(at(2028, 2, 29, 12))
    # A leap day's year ends on 28 February of a common year, at its end.
    assert three.end(at(2028, 2, 29, 18)) == at(2031, 3, 1)


@pytest.mark.parametrize("period", [RetentionPeriod(90, "d"), RetentionPeriod(1, "m"), RetentionPeriod(6, "m"), RetentionPeriod(1, "y"), RetentionPeriod(3, "y")])
def test_the_purge_cutoff_is_the_exact_inverse_of_the_period_end(period):
    """Whatever `now`, a start is due (`start <= cutoff(now)`, the purge's query) exactly when its period has ended
    (`end(start) <= now`, what an erasure keeps): every day of 2027 and 2028, at midnight, noon and the last instant."""
    for i in range(731):
        for t in (time(0), time(12), time.max):
            now = datetime.combine(date(2027, 1, 1) + timedelta(days=i), t, tzinfo=UTC)
            cut = period.cutoff(now)
            for shift in range(-3, 4):
                for st in (time(0), time(11, 30), time.max):
                    start = datetime.combine(cut.date() + timedelta(days=shift), st, tzinfo=UTC)
                    assert (period.end(start) <= now) == (start <= cut), (period, now, start)


def test_longest_and_shortest_follow_the_calendar():
    assert (RetentionPeriod(1, "m").shortest(), RetentionPeriod(1, "m").longest()) == (timedelta(days=28), timedelta(days=31))
    assert RetentionPeriod(1, "y").longest() == timedelta(days=366)
    assert RetentionPeriod(2, "m").longest() == timedelta(days=62)  # July and August


def test_two_months_from_closure_outlast_a_61_day_grace(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    # July and August make 62 days: the old 30.44-day month called 2m shorter than 61d and let this through.
    _edit(policies / "retention.yaml", "closed_accounts:\n  keep: 15wd\n  calendar: CN", "closed_accounts:\n  keep: 61d")
    _edit(policies / "retention.yaml", "    keep: 1y\n    counted_from: occurred_at", "    keep: 2m\n    counted_from: account_closure")
    with pytest.raises(PolicyError, match="rules.communications: contradicts closed_accounts: keeps 2m from account closure"):
        load_policy(policies)
    _edit(policies / "retention.yaml", "closed_accounts:\n  keep: 61d", "closed_accounts:\n  keep: 62d")
    load_policy(policies)


def _cn():
    return load_policy(PROJECT_ROOT / "policies").retention.closed_accounts_keep.calendar


def test_fifteen_working_days_follow_the_cn_calendar_holidays_and_working_weekends():
    fifteen = RetentionPeriod(15, "wd", _cn())
    # Closed on Friday 25 September 2026 (a Mid-Autumn holiday): National Day (1–7 October) does not count and
    # Saturday 10 October (调休上班) does: 28, 29, 30 Sep, 8, 9, 10, 12–16, 19–22 October.
    assert fifteen.last_day(at(2026, 9, 25, 10)) == date(2026, 10, 22)
    assert fifteen.end(at(2026, 9, 25, 10)) == at(2026, 10, 23)
    assert not fifteen.provisional(at(2026, 9, 25, 10))
    # A year the calendar does not list is counted on its weekdays, and says so.
    assert fifteen.last_day(at(2030, 3, 1)) == date(2030, 3, 22)
    assert fifteen.provisional(at(2030, 3, 1))


def test_working_days_are_refused_without_a_calendar(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    _edit(policies / "retention.yaml", "  keep: 15wd\n  calendar: CN", "  keep: 15wd")
    with pytest.raises(PolicyError, match="closed_accounts.calendar: a period in working days needs a calendar"):
        load_policy(policies)


def test_the_working_day_cutoff_is_the_exact_inverse_of_its_end():
    fifteen = RetentionPeriod(15, "wd", _cn())
    for i in range(0, 731, 3):
        for t in (time(0), time(12), time.max):
            now = datetime.combine(date(2026, 1, 1) + timedelta(days=i), t, tzinfo=UTC)
            cut = fifteen.cutoff(now)
            for shift in range(-3, 4):
                for st in (time(0), time.max):
                    start = datetime.combine(cut.date() + timedelta(days=shift), st, tzinfo=UTC)
                    assert (fifteen.end(start) <= now) == (start <= cut), (now, start)


def test_the_audit_log_floor_holds_for_every_six_month_span():
    """Cybersecurity Law Art. 21: whatever keep_days allows, an event is never purged before six calendar months from
    it have run, across month ends, leap years and 29 February (184 days would be needed for 1 July, 181 suffice for
    31 August); and six months after it, a keep_days of 184 lets it go."""
    from govern.audit.integrity import MINIMUM_DAYS, purge_cutoff

    six = RetentionPeriod(6, "m")
    for i in range(4 * 366):
        for t in (time(0), time(13, 30), time.max):
            event = datetime.combine(date(2027, 1, 1) + timedelta(days=i), t, tzinfo=UTC)
            six_months_on = six.end(event)
            for keep_days in (MINIMUM_DAYS, 183, 30):
                assert event > purge_cutoff(six_months_on - timedelta(microseconds=1), keep_days), (event, keep_days)
            assert event <= purge_cutoff(max(six_months_on, event + timedelta(days=MINIMUM_DAYS)), MINIMUM_DAYS)
    assert six.end(at(2028, 2, 29, 9)) == at(2028, 8, 29, 9) and six.end(at(2027, 8, 31, 9)) == at(2028, 3, 1)
