"""Consent figures per purpose and notice version for the console, and a CSV export of current preferences."""

import csv
import io


def test_figures_count_granted_withdrawn_and_pending_reconsent(crm, client_as, make_subject, consent, publish_notice):
    a, b, c = make_subject(), make_subject(), make_subject()
    for sid in (a, b, c):
        consent(crm, sid, "grant")
    consent(crm, b, "withdraw")
    dpo = client_as("dpo")
    marketing = {f["purpose"]: f for f in dpo.get("/api/v1/consents/figures").json["items"]}["marketing"]
    assert (marketing["granted"], marketing["withdrawn"], marketing["pending_reconsent"]) == (2, 1, 0)

    new = publish_notice("marketing", requires_reconsent=True)
    consent(crm, c, "grant", notice_version=new)
    figures = {f["purpose"]: f for f in dpo.get("/api/v1/consents/figures").json["items"]}
    m = figures["marketing"]
    assert (m["current_version"], m["granted"], m["withdrawn"], m["pending_reconsent"]) == (new, 1, 1, 1)
    assert {v["version"]: (v["granted"], v["withdrawn"], v["pending_reconsent"]) for v in m["versions"]} == {
        "2026-06": (0, 1, 1), new: (1, 0, 0),
    }
    assert figures["health_services"]["granted"] == 0


def test_the_preference_export_carries_opt_outs_to_offline_channels(crm, client_as, make_subject, consent, audit_events):
    a, b = make_subject(), make_subject()
    consent(crm, a, "grant")
    consent(crm, b, "grant")
    consent(crm, b, "withdraw")
    r = client_as("privacy_staff").get("/api/v1/consents/export?purpose=marketing")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {row["subject_id"]: row["preference"] for row in rows} == {str(a): "granted", str(b): "withdrawn"}
    assert audit_events(action="consent:preferences:export")[0].purpose == "marketing"


def test_figures_are_for_privacy_staff(marketing):
    assert marketing.get("/api/v1/consents/figures").status_code == 403
