"""The handler's own duties as tasks: thresholds on the number of subjects govern holds (PIPL Art. 52, 54 and the CAC
measures), the network-log retention floor (CSL Art. 21) and the data-security policy's periodic duties, each with
its last done and next due date counted in calendar units; staff record a duty as done, audited and kept."""

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from govern.errors import Conflict
from govern.identity.actor import Actor
from govern.processing import duties
from govern.processing.models import DutyEvent

STAFF = Actor(name="dpo-wang", kind="staff", roles=("dpo",))


def _with_thresholds(policy, officer_at: int, audit_above: int):
    thresholds = tuple(
        replace(t, at_least=officer_at if t.key == "protection_officer" else audit_above + 1) for t in policy.processing.thresholds
    )
    return replace(policy, processing=replace(policy.processing, thresholds=thresholds))


def _tasks(runtime, policy, today):
    with runtime.database.unit_of_work() as session:
        result = duties.tasks(session=session, policy=policy, actor=STAFF, today=today)
    return result, {t["key"]: t for t in result["tasks"]}


def _done(runtime, policy, duty, on, today=None):
    with runtime.database.unit_of_work() as session:
        return duties.record_done(session=session, policy=policy, actor=STAFF, duty=duty, done_on=on, reference="minutes-1", today=today)


def test_below_every_threshold_no_threshold_duty_applies(runtime, make_subject):
    make_subject()
    result, tasks = _tasks(runtime, runtime.policy, date(2026, 3, 2))
    assert result["subjects"] == 1
    assert tasks["protection_officer"]["applies"] is False and tasks["protection_officer"]["status"] == "not_applicable"
    assert tasks["compliance_audit"]["status"] == "not_applicable"
    assert runtime.policy.processing.thresholds  # the figures come from processing.yaml
    assert {t.key: t.at_least for t in runtime.policy.processing.thresholds} == {"protection_officer": 1_000_000, "compliance_audit": 10_000_001}


def test_reaching_the_officer_threshold_makes_a_task_due_in_30_working_days(runtime, make_subject, audit_events):
    make_subject()
    make_subject()
    policy = _with_thresholds(runtime.policy, officer_at=2, audit_above=100)
    _, tasks = _tasks(runtime, policy, date(2026, 3, 2))
    officer = tasks["protection_officer"]
    assert officer["applies"] and officer["status"] == "due"
    assert officer["detail"]["threshold_reached_on"] == "2026-03-02"
    # 30 working days on the CN calendar: the Qingming holiday (4–6 April) is not counted; never "30 calendar days"
    assert officer["next_due"] == "2026-04-14"
    assert [e.action for e in audit_events(action="processing:threshold:reached")] == ["processing:threshold:reached"]

    # the date it was first reached is kept: counting again later does not move the deadline, only makes it overdue
    _, later = _tasks(runtime, policy, date(2026, 5, 1))
    assert later["protection_officer"]["next_due"] == "2026-04-14" and later["protection_officer"]["status"] == "overdue"
    _done(runtime, policy, "protection_officer", date(2026, 4, 10), today=date(2026, 5, 1))
    _, after = _tasks(runtime, policy, date(2026, 5, 1))
    assert after["protection_officer"]["status"] == "done" and after["protection_officer"]["last_done"] == "2026-04-10"


def test_the_compliance_audit_recurs_every_two_calendar_years(runtime, make_subject):
    make_subject()
    policy = _with_thresholds(runtime.policy, officer_at=1, audit_above=0)
    _done(runtime, policy, "compliance_audit", date(2024, 2, 29), today=date(2026, 1, 1))
    _, tasks = _tasks(runtime, policy, date(2026, 1, 1))
    assert tasks["compliance_audit"]["next_due"] == "2026-02-28"  # two years from a leap day: the last day of February
    assert tasks["compliance_audit"]["status"] == "due"


def test_periodic_duties_show_last_done_and_next_due_by_the_calendar(runtime):
    _done(runtime, runtime.policy, "access_review", date(2026, 8, 31), today=date(2026, 12, 4))
    _, tasks = _tasks(runtime, runtime.policy, date(2026, 12, 4))
    review = tasks["access_review"]
    assert review["period"] == "3m" and review["last_done"] == "2026-08-31"
    assert review["next_due"] == "2026-11-30" and review["status"] == "overdue"  # three months from 31 August
    assert tasks["incident_drill"]["status"] == "never_done" and tasks["incident_drill"]["period"] == "12m"
    assert tasks["privacy_notice_review"]["source"]


def test_log_retention_must_cover_every_six_month_span_not_an_average_one(runtime):
    _, tasks = _tasks(runtime, runtime.policy, date(2026, 12, 4))
    assert tasks["log_retention"]["status"] == "met"  # 365 days kept
    short = replace(runtime.policy, audit=replace(runtime.policy.audit, retention_days=181))  # 6 x 30.44 days, but not 184
    _, tasks = _tasks(runtime, short, date(2026, 12, 4))
    assert tasks["log_retention"]["status"] == "not_met" and tasks["log_retention"]["detail"]["days_needed_for_every_span"] == 184


def test_staff_record_a_drill_through_the_api_and_it_is_audited(client_as, audit_events):
    dpo = client_as("dpo")
    r = dpo.post("/api/v1/processing/duties/incident_drill/done", json={"done_on": "2026-11-20", "reference": "DRILL-2026-2"})
    assert r.status_code == 201, r.json
    assert [e.action for e in audit_events(action="processing:duty:done")] == ["processing:duty:done"]
    tasks = {t["key"]: t for t in client_as("auditor").get("/api/v1/processing/duties").json["tasks"]}
    assert tasks["incident_drill"]["last_done"] == "2026-11-20" and tasks["incident_drill"]["next_due"] == "2027-11-20"
    assert tasks["incident_drill"]["last_reference"] == "DRILL-2026-2"


def test_a_bad_record_changes_nothing(client_as, row_counts):
    dpo = client_as("dpo")
    before = row_counts()["compliance_duty_events"]
    future = dpo.post("/api/v1/processing/duties/incident_drill/done", json={"done_on": "2999-01-01"})
    assert future.status_code == 400 and future.mimetype == "application/problem+json"
    assert dpo.post("/api/v1/processing/duties/no_such_duty/done", json={"done_on": "2026-01-01"}).status_code == 404
    assert client_as("auditor").post("/api/v1/processing/duties/incident_drill/done", json={"done_on": "2026-01-01"}).status_code == 403
    assert row_counts()["compliance_duty_events"] == before


def test_a_recorded_duty_cannot_be_changed_or_deleted(runtime):
    _done(runtime, runtime.policy, "access_review", date(2026, 8, 31), today=date(2026, 12, 4))
    with pytest.raises(Conflict), runtime.database.unit_of_work() as session:
        session.delete(session.scalars(select(DutyEvent)).first())
        session.flush()


def test_the_duties_command_exits_2_while_a_duty_is_overdue(runtime):
    from click.testing import CliRunner

    from govern.cli import main

    _done(runtime, runtime.policy, "access_review", date(2020, 1, 31), today=date(2020, 2, 1))
    s = runtime.settings
    env = {"GOVERN_HOME": str(s.home), "GOVERN_DATABASE_URL": s.database_url, "GOVERN_CHECKPOINT_DIR": str(s.audit_checkpoint_dir),
           "GOVERN_AUDIT_SIGNING_KEY_FILE": str(s.audit_key_path)}
    result = CliRunner().invoke(main, ["compliance", "duties"], env=env)
    assert result.exit_code == 2, result.output
    assert "access_review" in result.output and "overdue" in result.output and "2020-04-30" in result.output  # 3 months from 31 January
