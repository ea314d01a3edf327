"""Records of processing are kept, not regenerated (PIPL Art. 56; GDPR Art. 30): each version of each activity and of
each impact assessment is stored when it takes effect, never twice, never changed or deleted; a retired activity or a
superseded assessment stays retrievable, and "as of" a date returns the versions in force then. Every Art. 30(1) item
is in both exports, and an activity entrusted to a processor needs an agreement and an assessment."""

import csv
import io
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from govern.errors import Conflict
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import ImpactAssessment, PolicyError
from govern.processing import service
from govern.processing.models import RecordVersion

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
OPERATOR = Actor.operator()


def _versions(runtime, kind=None, key=None):
    with runtime.database.unit_of_work() as session:
        query = select(RecordVersion).order_by(RecordVersion.kind, RecordVersion.key, RecordVersion.version)
        if kind:
            query = query.where(RecordVersion.kind == kind, RecordVersion.key == key)
        return [(v.kind, v.key, v.version, v.status) for v in session.scalars(query)]


def _sync(runtime, policy, at):
    with runtime.database.unit_of_work() as session:
        return len(service.sync(session=session, policy=policy, actor=OPERATOR, settings=runtime.settings, now=at))


def _as_of(runtime, at, language="en"):
    with runtime.database.unit_of_work() as session:
        return service.records(session=session, policy=runtime.policy, actor=OPERATOR, settings=runtime.settings, language=language, as_of=at)


def _relabel(policy, purpose, label):
    purposes = dict(policy.purposes)
    purposes[purpose] = replace(purposes[purpose], label={"zh": label, "en": label})
    return replace(policy, purposes=purposes)


def test_each_record_is_stored_once_when_it_takes_effect_and_not_again_while_unchanged(runtime):
    first = _sync(runtime, runtime.policy, T0)
    # the controller's header, one per purpose, one per impact assessment (the entrusted activity's own included)
    assessments = {p.impact_assessment.reference for p in runtime.policy.purposes.values() if p.impact_assessment}
    assessments |= {e.impact_assessment.reference for e in runtime.policy.processing.entrusted.values()}
    assert first == 1 + len(runtime.policy.purposes) + len(assessments)
    assert _sync(runtime, runtime.policy, T1) == 0
    assert all(v[2] == 1 and v[3] == "in_force" for v in _versions(runtime))


def test_a_changed_activity_gets_a_new_version_and_as_of_returns_the_one_in_force_then(runtime):
    _sync(runtime, runtime.policy, T0)
    assert _sync(runtime, _relabel(runtime.policy, "marketing", "Marketing (renamed)"), T1) == 1
    assert _versions(runtime, "activity", "marketing") == [("activity", "marketing", 1, "in_force"), ("activity", "marketing", 2, "in_force")]

    def label(at):
        return next(a for a in _as_of(runtime, at)["activities"] if a["purpose"] == "marketing")["purpose_label"]

    assert label(T0 + timedelta(days=1)) == "Marketing"
    assert label(T1 + timedelta(days=1)) == "Marketing (renamed)"
    assert _as_of(runtime, T0 - timedelta(seconds=1))["activities"] == []  # nothing was in force before it took effect


def test_a_retired_activity_and_a_superseded_assessment_stay_retrievable(runtime, client_as):
    _sync(runtime, runtime.policy, T0)
    purposes = {k: v for k, v in runtime.policy.purposes.items() if k != "marketing"}
    old = purposes["personalisation"].impact_assessment
    purposes["personalisation"] = replace(purposes["personalisation"], impact_assessment=ImpactAssessment("PIA-2026-103", T1.date(), "dpo"))
    _sync(runtime, replace(runtime.policy, purposes=purposes), T1)

    assert _versions(runtime, "activity", "marketing")[-1] == ("activity", "marketing", 2, "retired")
    assert _versions(runtime, "assessment", old.reference)[-1] == ("assessment", old.reference, 2, "superseded")
    later = _as_of(runtime, T1 + timedelta(days=1))
    assert "marketing" not in {a["purpose"] for a in later["activities"]}
    assert old.reference not in {a["reference"] for a in later["assessments"]} and "PIA-2026-103" in {a["reference"] for a in later["assessments"]}
    earlier = _as_of(runtime, T0 + timedelta(days=1))
    assert "marketing" in {a["purpose"] for a in earlier["activities"]} and old.reference in {a["reference"] for a in earlier["assessments"]}

    r = client_as("auditor").get("/api/v1/processing/records/history?kind=activity&key=marketing")
    assert r.status_code == 200, r.json
    assert [(v["version"], v["status"]) for v in r.json["versions"]] == [(1, "in_force"), (2, "retired")]
    assert r.json["versions"][1]["content"]["en"]["purpose"] == "marketing"  # what it said is still there


def test_a_kept_version_cannot_be_changed_or_deleted(runtime, is_postgres):
    _sync(runtime, runtime.policy, T0)
    with pytest.raises(Conflict, match="record_kept"), runtime.database.unit_of_work() as session:
        session.delete(session.scalars(select(RecordVersion)).first())
        session.flush()
    with pytest.raises(Conflict), runtime.database.unit_of_work() as session:
        session.scalars(select(RecordVersion)).first().status = "retired"
        session.flush()
    if is_postgres:  # below the ORM, the database itself refuses (PIPL Art. 56: kept at least three years)
        with pytest.raises(Exception, match="append-only"), runtime.database.engine.begin() as conn:
            conn.execute(text("DELETE FROM processing_record_versions"))
    assert len(_versions(runtime)) > 0


def test_the_api_reads_as_of_an_instant_and_refuses_a_bad_one(runtime, client_as):
    _sync(runtime, runtime.policy, T0)
    r = client_as("dpo").get("/api/v1/processing/records?lang=en&as_of=2026-03-02T00:00:00%2B08:00")
    assert r.status_code == 200 and r.json["as_of"].startswith("2026-03-01T16:00")
    assert {a["version"] for a in r.json["activities"]} == {1}
    bad = client_as("dpo").get("/api/v1/processing/records?as_of=yesterday")
    assert bad.status_code in (400, 422) and bad.mimetype == "application/problem+json"


def test_every_gdpr_art_30_item_is_in_the_json_and_the_csv(client_as, runtime):
    doc = client_as("dpo").get("/api/v1/processing/records?lang=en").json
    c = doc["controller"]
    assert c["dpo"]["email"] == runtime.policy.controller.dpo["email"]  # 30(1)(a) DPO
    assert c["eu_representative"]["name"]  # 30(1)(a) with Art. 27: the controller is in CN and serves the EU
    fraud = next(a for a in doc["activities"] if a["purpose"] == "fraud_prevention")
    assert fraud["data_subjects"] and fraud["data_categories"]  # (b), (c)
    limits = {e["category"]: e["time_limits"] for e in fraud["erasure_time_limits"]}  # (f), per category of data
    assert set(limits) == set(fraud["data_categories"])
    assert all(t["legal_basis"] for ts in limits.values() for t in ts)
    assert doc["security_measures"]  # (g)
    order = next(a for a in doc["activities"] if a["purpose"] == "order_fulfilment")
    assert order["processor"]["agreement"] == "DPA-2026-001" and order["processor"]["impact_assessment"] == "PIA-2026-007"

    rows = list(csv.DictReader(io.StringIO(client_as("auditor").get("/api/v1/processing/records?lang=en&format=csv").get_data(as_text=True))))
    for column in ("controller", "controller_contact", "dpo", "eu_representative", "data_subjects", "data_categories", "recipients",
                   "transfers", "erasure_time_limits", "security_measures", "processor", "processing_agreement"):
        assert column in rows[0], column
    row = next(r for r in rows if r["purpose"] == "order_fulfilment")
    assert runtime.policy.controller.dpo["email"] in row["dpo"] and row["eu_representative"] and row["security_measures"]
    assert row["processing_agreement"] == "DPA-2026-001"
    assert all(r["erasure_time_limits"] for r in rows)


def test_a_recipient_abroad_is_a_transfer_with_its_safeguard(client_as, runtime):
    from datetime import date

    from govern.sharing import service as sharing

    purpose = runtime.policy.purposes["global_membership"]
    with runtime.database.unit_of_work() as session:
        sharing.create_recipient(session=session, policy=runtime.policy, actor=OPERATOR, data={
            "name": "Member Services GmbH", "contact": "privacy@members.example", "purpose": purpose.name,
            "categories": sorted({runtime.policy.catalog.fields[f].category for f in purpose.fields})[:1], "country": "DE",
            "transfer_mechanism": "standard_contract", "agreement_ref": "SCC-2026-1", "agreement_expires_on": date.today() + timedelta(days=200),
        })
    entry = next(a for a in client_as("dpo").get("/api/v1/processing/records?lang=en").json["activities"] if a["purpose"] == "global_membership")
    assert entry["transfers"] == [{"to": "Member Services GmbH", "country": "DE", "safeguard": "standard_contract"}]


def test_an_entrusted_activity_needs_a_processing_agreement(policies):
    path = policies / "processing.yaml"
    path.write_text(path.read_text().replace("    agreement: DPA-2026-001\n", ""))
    with pytest.raises(PolicyError, match="entrusted.order_fulfilment.agreement: required"):
        load_policy(policies)


def test_an_entrusted_activity_needs_an_impact_assessment(policies):
    path = policies / "processing.yaml"
    path.write_text(path.read_text().replace("    impact_assessment: {reference: PIA-2026-007, assessed_at: 2026-01-10, approved_by: dpo}\n", ""))
    with pytest.raises(PolicyError, match=r"entrusted.order_fulfilment.impact_assessment: required .*55\(3\)"):
        load_policy(policies)


def test_an_eu_representative_is_required_while_the_eu_is_served_from_outside_it(policies):
    path = policies / "controller.yaml"
    text_ = path.read_text()
    path.write_text(text_[: text_.index("  # GDPR Art. 27")])
    with pytest.raises(PolicyError, match="eu_representative: required"):
        load_policy(policies)


def test_a_recipient_name_that_reads_as_a_formula_is_quoted_in_the_csv(client_as, runtime):
    from datetime import date

    from govern.sharing import service as sharing

    purpose = next(p for p in runtime.policy.purposes.values() if p.provides_to_third_party)
    with runtime.database.unit_of_work() as session:
        sharing.create_recipient(session=session, policy=runtime.policy, actor=OPERATOR, data={
            "name": "=HYPERLINK(evil)", "contact": "dpo@partner.example", "purpose": purpose.name,
            "categories": sorted({runtime.policy.catalog.fields[f].category for f in purpose.fields})[:1], "country": "CN",
            "agreement_ref": "DSA-2026-9", "agreement_expires_on": date.today() + timedelta(days=200),
        })
    rows = list(csv.DictReader(io.StringIO(client_as("dpo").get("/api/v1/processing/records?lang=en&format=csv").get_data(as_text=True))))
    assert next(r for r in rows if r["purpose"] == purpose.name)["recipients"] == "'=HYPERLINK(evil) (CN)"
