"""CCPA 1798.150: each incident records whether non-encrypted and non-redacted personal information was exposed and which
kinds; the incident (API, report) shows the statutory damages range — $100 to $750 per consumer per incident, or actual
damages if greater, figures from jurisdictions.yaml with their source — for the estimated number of California
consumers affected."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.breach.conftest import iso


def _open(dpo) -> str:
    r = dpo.post("/api/v1/incidents", json={"title": "Web shop database copied", "detected_at": iso(datetime.now(timezone.utc))})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _assess(dpo, iid, **extra):
    return dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "card data copied", **extra})


def test_an_exposure_is_recorded_with_its_kinds_and_the_damages_range_for_the_consumers_affected(dpo, runtime):
    iid = _open(dpo)
    r = _assess(dpo, iid, people={"US-CA": 1200}, ccpa_exposure={
        "nonencrypted_nonredacted": True, "categories": ["financial_account", "account_credentials"], "consumers_min": 900, "consumers_max": 1500,
    })
    assert r.status_code == 201, r.json
    x = r.json["ccpa_exposure"]
    action = runtime.policy.breach_terms["US-CA"].private_action
    assert (action.damages_min, action.damages_max) == (100, 750) and "1798.150" in action.source
    assert x["status"] == "exposed" and [c["key"] for c in x["categories"]] == ["financial_account", "account_credentials"]
    assert x["consumers"] == {"min": 900, "max": 1500} and x["per_consumer"] == {"min": 100, "max": 750}
    assert x["statutory_damages"] == {"min": 90_000, "max": 1_125_000} and x["currency"] == "USD" and x["actual_if_greater"] is True
    assert "1798.150" in x["source"]
    # The same on the incident report, in both languages, and in the register.
    en = dpo.get(f"/api/v1/incidents/{iid}/report?lang=en").text
    assert "Consumer private right of action (Civ. Code 1798.150)" in en and "USD 90,000 – 1,125,000" in en and "900 – 1500" in en
    assert "or actual damages, whichever is greater" in en and "Username or e-mail address with a password" in en
    zh = dpo.get(f"/api/v1/incidents/{iid}/report?lang=zh").text
    assert "消费者私人诉权" in zh and "USD 90,000 – 1,125,000" in zh and "或实际损失（以较高者为准）" in zh
    [row] = dpo.get("/api/v1/incidents/register").json["register"]
    assert row["effects"]["ccpa_exposure"]["statutory_damages"] == {"min": 90_000, "max": 1_125_000}


def test_the_range_defaults_to_the_california_people_and_an_unknown_exposure_shows_what_is_at_stake(dpo):
    iid = _open(dpo)
    assert dpo.get(f"/api/v1/incidents/{iid}").json["ccpa_exposure"] is None  # no California consumer: nothing to show
    x = _assess(dpo, iid, people={"US-CA": 20}).json["ccpa_exposure"]
    assert x["status"] == "not_assessed" and x["consumers"] == {"min": 20, "max": 20}
    assert x["statutory_damages"] == {"min": 2_000, "max": 15_000}
    assert "(if the exposure is confirmed)" in dpo.get(f"/api/v1/incidents/{iid}/report?lang=en").text
    x = _assess(dpo, iid, people={"US-CA": 20}, ccpa_exposure={"nonencrypted_nonredacted": False}).json["ccpa_exposure"]
    assert x["status"] == "not_exposed" and x["statutory_damages"] is None


def test_an_exposure_that_cannot_be_is_refused(dpo):
    iid = _open(dpo)
    cases = [
        ({"nonencrypted_nonredacted": True}, "ccpa_exposure.categories"),  # which kinds?
        ({"nonencrypted_nonredacted": True, "categories": ["shoe_size"]}, "ccpa_exposure.categories"),
        ({"nonencrypted_nonredacted": None, "consumers_min": 10, "consumers_max": 5}, "ccpa_exposure.consumers_max"),
    ]
    for exposure, field in cases:
        r = _assess(dpo, iid, people={"US-CA": 10}, ccpa_exposure=exposure)
        assert r.status_code == 400 and field in r.json["errors"], (exposure, r.json)
    r = _assess(dpo, iid, people={"US-CA": 10}, encrypted=True, key_compromised=False, ccpa_exposure={"nonencrypted_nonredacted": True, "categories": ["ssn"]})
    assert r.status_code == 400 and "ccpa_exposure.nonencrypted_nonredacted" in r.json["errors"]
    assert dpo.get(f"/api/v1/incidents/{iid}").json["assessment"] is None  # nothing was recorded
