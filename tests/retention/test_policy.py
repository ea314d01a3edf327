"""retention.yaml is validated at start-up: a field or record type without a rule, or a rule set that contradicts
itself, stops govern with a message naming the gap."""

import os
import subprocess
import sys

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.retention.policy import RetentionPeriod


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_every_catalog_field_and_record_type_has_exactly_one_rule():
    policy = load_policy(PROJECT_ROOT / "policies")
    rp = policy.retention
    assert set(rp.field_rules) == set(policy.catalog.fields)
    assert set(rp.record_rules) == set(policy.catalog.record_types)
    purchase = rp.record_rules["purchase"]
    assert (str(purchase.keep), purchase.counted_from, purchase.legal_basis_code) == ("3y", "occurred_at", "CN-ECL-31")
    # The E-Commerce Law's three years are an obligation of CN, kept for CN subjects only.
    (ecl,) = rp.obligations_for("record_types", "purchase")
    assert (ecl.code, ecl.jurisdictions, str(ecl.keep)) == ("CN-ECL-31", frozenset({"CN"}), "3y")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # a gap: religion falls out of the sensitive rule
        ("fields: {categories: [health, religion, biometric]}", "fields: {categories: [health, biometric]}",
         "retention.yaml: rules: no retention rule covers catalog fields.religion"),
        # a contradiction: communications covered by two rules (and browsing by none)
        ("    record_types: [browsing]\n", "    record_types: [communication]\n", "both cover record_types.communication"),
        # a contradiction: two rules for the same field
        ("fields: {categories: [contact]}", "fields: {categories: [contact], names: [name]}",
         "rules.contact_details: contradicts rules.basic_identity: both cover fields.name"),
        # a contradiction: kept 2 years from closure, but closed accounts are purged after 15 days
        ("    keep: 1y\n    counted_from: occurred_at", "    keep: 2y\n    counted_from: account_closure",
         "rules.communications: contradicts closed_accounts: keeps 2y from account closure"),
        ("    counted_from: collection\n    legal_basis:\n      code: PIPL-28\n      text: \"PIPL Art. 19 and",
         "    counted_from: occurred_at\n    legal_basis:\n      code: PIPL-28\n      text: \"PIPL Art. 19 and",
         "rules.sensitive_profile.counted_from: 'occurred_at' does not apply to fields"),
        ("record_types: [purchase]", "record_types: [purchase, layaway]", "rules.transaction_records.record_types.names: unknown record type(s) layaway"),
        ("keep: 90d", "keep: 90 days", "rules.precise_location.keep: a period like 90d, 15wd"),
        ("      code: CN-ECL-31\n", "", "rules.transaction_records.legal_basis.code"),
    ],
)
def test_a_bad_rule_set_is_refused_naming_the_gap(policies, old, new, message):
    _edit(policies / "retention.yaml", old, new)
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert message in str(err.value)


def test_a_record_type_added_to_the_catalog_without_a_rule_is_refused(policies):
    _edit(policies / "catalog.yaml", "record_types:\n", "record_types:\n  loyalty_points:\n    category: transaction\n    sensitive: false\n"
                                              "    label: {zh: 积分记录, en: Loyalty points}\n")
    with pytest.raises(PolicyError, match=r"no retention rule covers catalog record_types\.loyalty_points"):
        load_policy(policies)


def test_govern_refuses_to_start_with_a_gap_in_retention_yaml(policies, tmp_path):
    _edit(policies / "retention.yaml", "fields: {categories: [location]}", "fields: [biometric]")
    env = {**os.environ, "GOVERN_POLICIES": str(policies), "GOVERN_HOME": str(tmp_path / "home")}
    env.pop("GOVERN_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "govern.cli", "init"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "retention.yaml" in proc.stderr and "fields.biometric" in proc.stderr


def test_periods_are_calendar_arithmetic():
    from datetime import datetime, timezone

    leap = datetime(2028, 2, 29, 12, tzinfo=timezone.utc)
    # Three years back from 29 February 2028 is a day February 2025 lacks: every start on 28 February 2025 has run
    # (its period ended on 28 February 2028), not only those before noon.
    assert RetentionPeriod(3, "y").cutoff(leap) == datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert RetentionPeriod(6, "m").cutoff(leap) == datetime(2027, 8, 29, 12, tzinfo=timezone.utc)
    assert RetentionPeriod(90, "d").cutoff(leap) == datetime(2027, 12, 1, 12, tzinfo=timezone.utc)
