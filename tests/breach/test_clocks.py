"""Each clock and exemption against worked examples, every figure from policies/jurisdictions.yaml (`breach:`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from govern.breach import clocks
from tests.breach.conftest import TEXTS

AWARE = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)  # a Monday


def derive(runtime, **kw):
    facts = clocks.Facts(aware_at=kw.pop("aware_at", AWARE), detected_at=kw.pop("detected_at", AWARE - timedelta(hours=6)), **kw)
    return {d.key: d for d in clocks.derive(policy=runtime.policy, facts=facts)}


# --- GDPR Art. 33 / 34 ----------------------------------------------------------------------------------------------


def test_gdpr_authority_is_due_72_hours_after_awareness(runtime):
    d = derive(runtime, people={"EU": 40}, risk="risk")
    assert d["gdpr_authority"].status == "required"
    assert d["gdpr_authority"].due_at == AWARE + timedelta(hours=72)
    # Art. 34 only when the risk is high; no figure, "without undue delay".
    assert d["gdpr_subjects"].status == "not_required" and d["gdpr_subjects"].due_at is None
    assert set(d) == {"gdpr_authority", "gdpr_subjects"}  # no CN or CA rules without people there


def test_gdpr_authority_clock_runs_before_the_assessment(runtime):
    d = derive(runtime, people={"EU": 1})
    assert d["gdpr_authority"].status == "required" and "not assessed" in d["gdpr_authority"].reason
    assert d["gdpr_subjects"].status == "unknown"


def test_a_breach_unlikely_to_result_in_a_risk_is_not_notified_but_registered(runtime):
    d = derive(runtime, people={"EU": 5}, risk="unlikely")
    assert d["gdpr_authority"].status == "not_required" and "Art. 33" in d["gdpr_authority"].reason


def test_high_risk_subjects_are_exempt_when_the_data_was_encrypted_with_a_safe_key(runtime):
    assert derive(runtime, people={"EU": 5}, risk="high")["gdpr_subjects"].status == "required"
    d = derive(runtime, people={"EU": 5}, risk="high", exemptions=frozenset({"encrypted_key_safe"}))
    assert d["gdpr_subjects"].status == "exempt" and "34(3)(a)" in d["gdpr_subjects"].reason
    assert d["gdpr_authority"].status == "required"  # the authority is still told


# --- PIPL Art. 57 and the incident-reporting measures -----------------------------------------------------------------


def test_pipl_always_tells_the_authority_and_may_skip_individuals_only_when_measures_avoid_harm(runtime):
    d = derive(runtime, people={"CN": 3}, risk="unlikely")
    assert d["pipl_authority"].status == "required" and d["pipl_authority"].due_at is None  # 立即: no figure, never invented
    assert d["pipl_subjects"].status == "required"
    d = derive(runtime, people={"CN": 3}, exemptions=frozenset({"measures_avoid_harm", "encrypted_key_safe"}))
    assert d["pipl_subjects"].status == "exempt" and "Art. 57 ¶2" in d["pipl_subjects"].reason
    assert d["pipl_authority"].status == "required"


def test_a_leak_of_a_million_people_is_reported_to_the_provincial_cac_within_4_hours(runtime):
    d = derive(runtime, people={"CN": 1_000_000})
    assert d["cn_incident_report"].status == "required"
    assert d["cn_incident_report"].due_at == AWARE + timedelta(hours=4)
    # The summary counts 30 days from the end of handling (containment): not yet contained, no date yet.
    assert d["cn_incident_summary"].status == "required" and d["cn_incident_summary"].due_at is None
    contained = AWARE + timedelta(days=2)
    d = derive(runtime, people={"CN": 1_000_000}, contained_at=contained)
    local = contained.astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=30)
    assert d["cn_incident_summary"].due_at.astimezone(ZoneInfo("Asia/Shanghai")).date() == local


def test_critical_information_infrastructure_reports_within_one_hour(runtime):
    d = derive(runtime, people={"CN": 1_200_000}, critical_infrastructure=True)
    assert d["cn_incident_report"].due_at == AWARE + timedelta(hours=1)


def test_below_the_threshold_there_is_no_4_hour_report(runtime):
    d = derive(runtime, people={"CN": 999_999})
    assert d["cn_incident_report"].status == "not_required" and "999999 people < 1000000" in d["cn_incident_report"].reason
    assert d["cn_incident_summary"].status == "not_required"


def test_the_cn_grade_counts_everyone_in_the_incident(runtime):
    d = derive(runtime, people={"CN": 600_000, "EU": 500_000})
    assert d["cn_incident_report"].status == "required"


# --- California Civ. Code 1798.82 ---------------------------------------------------------------------------------


def test_california_residents_within_30_calendar_days_of_discovery(runtime):
    detected = datetime(2026, 3, 1, 6, 0, tzinfo=timezone.utc)  # 28 February, 22:00 in Los Angeles
    d = derive(runtime, people={"US-CA": 10}, detected_at=detected)
    due = d["ccpa_residents"].due_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-03-30", 23, 59)
    assert d["ccpa_attorney_general"].status == "not_required"  # 10 residents: not more than 500


def test_the_attorney_general_gets_a_sample_within_15_days_of_the_residents_notice_above_500(runtime):
    d = derive(runtime, people={"US-CA": 501})
    ag = d["ccpa_attorney_general"]
    assert ag.status == "required" and ag.provisional  # counted from the residents' latest due time until they are told
    assert ag.due_at.astimezone(ZoneInfo("America/Los_Angeles")).date() == d["ccpa_residents"].due_at.astimezone(ZoneInfo("America/Los_Angeles")).date() + timedelta(days=15)
    told = datetime(2026, 3, 10, 18, 0, tzinfo=timezone.utc)
    ag = derive(runtime, people={"US-CA": 501}, sent={"ccpa_residents": told})["ccpa_attorney_general"]
    assert not ag.provisional and ag.due_at.astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat() == "2026-03-25"
    assert derive(runtime, people={"US-CA": 500})["ccpa_attorney_general"].status == "not_required"


def test_encrypted_data_with_a_safe_key_needs_no_california_notice(runtime):
    d = derive(runtime, people={"US-CA": 900}, exemptions=frozenset({"encrypted_key_safe"}))
    assert d["ccpa_residents"].status == "exempt" and d["ccpa_attorney_general"].status == "not_required"


# --- the clock itself ------------------------------------------------------------------------------------------------


def test_a_clock_shows_time_left_and_turns_overdue_until_sent():
    due = AWARE + timedelta(hours=72)
    c = clocks.clock(status="required", due_at=due, sent_at=None, now=due - timedelta(hours=1))
    assert c.seconds_left == 3600 and not c.overdue
    c = clocks.clock(status="required", due_at=due, sent_at=None, now=due + timedelta(seconds=1))
    assert c.overdue and c.seconds_left == -1
    c = clocks.clock(status="required", due_at=due, sent_at=due + timedelta(hours=1), now=due + timedelta(days=1))
    assert not c.overdue and c.sent_late
    assert not clocks.clock(status="not_required", due_at=due, sent_at=None, now=due + timedelta(days=1)).overdue


def test_policy_refuses_a_rule_that_names_a_missing_notification(tmp_path):
    import shutil

    from govern.config import PROJECT_ROOT
    from govern.policies import load_policy
    from govern.policy import PolicyError

    shutil.copytree(PROJECT_ROOT / "policies", tmp_path / "p")
    path = tmp_path / "p" / "jurisdictions.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("requires: ccpa_residents", "requires: ccpa_nobody"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"US-CA\.breach\.notifications\.ccpa_attorney_general\.requires"):
        load_policy(tmp_path / "p")
    shutil.copy(PROJECT_ROOT / "policies" / "jurisdictions.yaml", path)
    letter = tmp_path / "p" / "notices" / "letters" / "subject.zh.md"
    letter.write_text(letter.read_text(encoding="utf-8").replace("{{ what_you_can_do }}", ""), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"notices/letters/subject\.zh\.md: does not use the item\(s\) what_you_can_do"):
        load_policy(tmp_path / "p")


# --- through the service: the clocks on an incident, overdue, late filing --------------------------------------------


def test_an_overdue_gdpr_filing_needs_the_reasons_for_the_delay(runtime, act, open_incident, dpo):
    from govern.breach import letters, service

    aware = datetime.now(timezone.utc) - timedelta(hours=80)
    iid = open_incident(aware_at=aware)
    act(service.assess, incident_id=iid, data={"people": {"EU": 12}, "categories": ["contact"], "risk": "risk", "notify": "yes", "rationale": "contact data of 12 people", "texts": TEXTS})
    view = dpo.get(f"/api/v1/incidents/{iid}").json
    gdpr = next(n for n in view["notifications"] if n["key"] == "gdpr_authority")
    assert gdpr["overdue"] and gdpr["seconds_left"] < 0 and view["overdue"]
    assert gdpr["due_at"].startswith((aware + timedelta(hours=72)).strftime("%Y-%m-%dT%H:%M"))
    clocks_ = dpo.get("/api/v1/incidents/clocks").json["clocks"]
    assert clocks_[0]["key"] == "gdpr_authority" and clocks_[0]["overdue"]
    nid = uuid.UUID(gdpr["id"])
    from govern.errors import Problem

    with pytest.raises(Problem) as refused:
        act(letters.generate, incident_id=iid, notification_id=nid)
    assert refused.value.code == "late_reasons_required"
    made = act(letters.generate, incident_id=iid, notification_id=nid, delay_reasons={"zh": "周末无人值守", "en": "nobody on call over the weekend"})
    assert made["letters"] == 2
    r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{nid}/sent", json={"channel": "portal"})
    assert r.status_code == 409 and r.json["code"] == "late_reasons_required"
    r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{nid}/sent", json={"channel": "portal", "late_reason": "nobody on call over the weekend"})
    assert r.status_code == 200 and r.json["sent_late"] and not r.json["overdue"]
    # Filed in phases (Art. 33(4)): a supplement later, without moving the clock.
    made = act(letters.generate, incident_id=iid, notification_id=nid, languages=["en"])
    assert made["phase"] == "supplementary"
    assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{nid}/sent", json={"channel": "portal"}).status_code == 200
    assert [x["key"] for x in dpo.get("/api/v1/incidents/clocks").json["clocks"]] == []  # nothing else owed (risk not high)
