"""The console's incident page: CCPA 1798.150 exposure recorded in the assessment form and shown with its statutory
damages range; the real times of an incident entered afterwards (with a reason) and a step recorded at its real time."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def _open(c, detected: datetime) -> uuid.UUID:
    r = c.post("/console/incidents/new", {"title": "Web shop copied", "detected_at": _local(detected), "aware_at": _local(detected), "reported_by": "SOC"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    return uuid.UUID(re.search(r"/console/incidents/([0-9a-f-]{36})", r.headers["Location"]).group(1))


def test_the_ccpa_exposure_is_recorded_and_shown_with_its_damages_range(console_as):
    dpo = console_as("dpo")
    iid = _open(dpo, datetime.now(timezone.utc) - timedelta(minutes=5))
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="ccpa-form"' in page and 'id="ccpa-exposure"' not in page
    form = {"risk": "high", "notify": "yes", "rationale": "card numbers copied", "people.US-CA": "40", "ccpa_exposed": "yes",
            "ccpa_categories": ["financial_account"], "ccpa_consumers_max": "60"}
    assert dpo.post(f"/console/incidents/{iid}/assessment", form).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert 'id="ccpa-status">是<' in page and 'id="ccpa-damages">USD 4,000 – 45,000<' in page and "1798.150" in page
    # A kind the policy does not list is refused on the page, and nothing changes.
    form["ccpa_categories"] = ["shoe_size"]
    r = dpo.post(f"/console/incidents/{iid}/assessment", form)
    assert r.status_code == 400 and 'id="action-error"' in r.get_data(as_text=True)


def test_real_times_are_entered_afterwards_with_a_reason(console_as, audit_events):
    dpo = console_as("dpo")
    now = datetime.now(timezone.utc)
    iid = _open(dpo, now - timedelta(minutes=5))
    aware = (now - timedelta(days=2)).replace(second=0, microsecond=0)
    assert dpo.post(f"/console/incidents/{iid}/times", {"times_aware_at": _local(aware)}).status_code == 400  # no reason
    r = dpo.post(f"/console/incidents/{iid}/times", {
        "times_occurred_from": _local(aware - timedelta(days=1)), "times_detected_at": _local(aware), "times_aware_at": _local(aware), "times_reason": "ticket 4711",
    })
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "补录或更正时间" in page and "ticket 4711" in page
    assert 'id="occurred-from"' in page
    assert [e.reason for e in audit_events(action="breach:incident:times")] == ["aware_at,detected_at,occurred_from"]
    assert dpo.post(f"/console/incidents/{iid}/transition", {"to": "assessing", "transition_at": _local(aware + timedelta(hours=1)), "transition_reason": "triage call"}).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "triage call" in page


def test_the_register_page_shows_each_containment_in_words(console_as):
    dpo = console_as("dpo")
    iid = _open(dpo, datetime.now(timezone.utc) - timedelta(minutes=5))
    assert dpo.post(f"/console/incidents/{iid}/containment", {"action": "other", "note": "laptop wiped remotely"}).status_code == 302
    page = dpo.get("/console/incidents/register").get_data(as_text=True)
    assert "laptop wiped remotely" in page
