"""The records of processing are generated from policy and the recipient register, in zh and en, and a purpose
that needs an impact assessment cannot be used without one on record."""

import csv
import io
from datetime import date, timedelta

import pytest

from govern.policies import load_policy
from govern.policy import PolicyError


def test_every_purpose_appears_with_its_basis_categories_retention_and_assessment(client_as, runtime):
    r = client_as("dpo").get("/api/v1/processing/records?lang=en")
    assert r.status_code == 200, r.json
    doc = r.json
    assert {a["purpose"] for a in doc["activities"]} == set(runtime.policy.purposes)
    fraud = next(a for a in doc["activities"] if a["purpose"] == "fraud_prevention")
    assert fraud["legal_basis"]["CN"] == "legal_obligation" and fraud["legal_basis"]["EU"] == "legitimate_interest"
    assert "government identifier" in fraud["data_categories"]
    assert "id_card_number" in fraud["sensitive_data"]
    assert fraud["impact_assessment"]["reference"] == "PIA-2026-002"
    assert fraud["impact_assessment"]["keep_until"] == "2029-01-20"  # three years (PIPL Art. 56)
    purchases = next(a for a in doc["activities"] if a["purpose"] == "order_fulfilment")["retention"]
    assert any(rule["keep"] == "3y" for rule in purchases)  # e-commerce records, E-Commerce Law Art. 31
    assert doc["security_measures"] and doc["controller"]["name"]


def test_the_chinese_records_use_the_chinese_labels(client_as):
    doc = client_as("dpo").get("/api/v1/processing/records?lang=zh").json
    service = next(a for a in doc["activities"] if a["purpose"] == "customer_service")
    assert service["purpose_label"] == "客户服务" and "联系方式" in service["data_categories"]


def test_registered_recipients_and_their_countries_are_listed(client_as, runtime):
    from govern.identity.actor import Actor
    from govern.sharing import service as sharing

    purpose = next(p for p in runtime.policy.purposes.values() if p.provides_to_third_party)
    with runtime.database.unit_of_work() as session:
        sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Partner Logistics Ltd", "contact": "dpo@partner.example", "purpose": purpose.name,
            "categories": sorted({runtime.policy.catalog.fields[f].category for f in purpose.fields})[:1], "country": "CN",
            "agreement_ref": "DSA-2026-9", "agreement_expires_on": date.today() + timedelta(days=200),
        })
    doc = client_as("privacy_staff").get("/api/v1/processing/records?lang=en").json
    entry = next(a for a in doc["activities"] if a["purpose"] == purpose.name)
    assert [(r["name"], r["country"], r["agreement"]) for r in entry["recipients"]] == [("Partner Logistics Ltd", "CN", "DSA-2026-9")]


def test_the_csv_has_one_row_per_activity(client_as, runtime):
    r = client_as("auditor").get("/api/v1/processing/records?lang=en&format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == len(runtime.policy.purposes)
    assert next(row for row in rows if row["purpose"] == "personalisation")["automated_decisions"] == "yes"


def test_reading_the_records_is_audited_and_services_may_not(client_as, audit_events):
    client_as("dpo").get("/api/v1/processing/records")
    assert [e.action for e in audit_events(action="processing:records:read")] == ["processing:records:read"]
    assert client_as("sales_service").get("/api/v1/processing/records").status_code == 403


@pytest.mark.parametrize("purpose", ["fraud_prevention", "personalisation", "partner_marketing", "global_membership"])
def test_a_purpose_needing_an_impact_assessment_is_refused_without_one(policies, purpose):
    path = policies / "purposes.yaml"
    lines = path.read_text().split("\n")
    start = lines.index(f"  {purpose}:")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  ") and not lines[i].startswith("    ")), len(lines))
    path.write_text("\n".join(line for i, line in enumerate(lines) if not (start < i < end and "impact_assessment:" in line)))
    with pytest.raises(PolicyError, match=f"purposes.{purpose}.impact_assessment: required"):
        load_policy(policies)


def test_impact_assessment_records_are_kept_at_least_three_years(policies):
    path = policies / "processing.yaml"
    path.write_text(path.read_text().replace("keep_years: 3", "keep_years: 2"))
    with pytest.raises(PolicyError, match="processing.yaml: impact_assessments.keep_years"):
        load_policy(policies)
