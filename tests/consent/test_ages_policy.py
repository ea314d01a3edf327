"""The ages of consent and the basis a collection needs are policy (jurisdictions.yaml), checked at start-up: a figure
the law does not allow, a basis without its source or a category the catalog does not know refuses to start."""


import pytest

from govern.policies import load_policy
from govern.policy import PolicyError


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('BE: {age: 13, source:', 'BE: {age: 12, source:', "jurisdictions.EU.minors_age_by_member_state.BE: age: GDPR Art. 8(1): between 13 and 16"),
        ('BE: {age: 13, source:', 'be: {age: 13, source:', "minors_age_by_member_state.be: an ISO 3166-1 alpha-2 code"),
        ('b: {source: "GDPR Art. 9(2)(b)', 'b: {sauce: "GDPR Art. 9(2)(b)', "jurisdictions.EU.sensitive_collection: bases.b"),
        ("fields: [health, religion, biometric]", "fields: [health, gossip]", "sensitive_collection.fields: unknown categor(ies) gossip"),
        ("consent: explicit\n", "consent: implied\n", "jurisdictions.EU.sensitive_collection: consent"),
        ("sale_opt_in_age: 16", "sale_opt_in_age: 12", "jurisdictions.US-CA.sale_opt_in_age: a whole age, not below minors_age (13)"),
        ("          purpose_basis: legal_obligation\n", "          purpose_basis: legitimate_interest\n", "'legitimate_interest' is not a legal basis under PIPL"),
    ],
)
def test_a_bad_age_or_collection_rule_is_refused_naming_the_key(policies, old, new, message):
    path = policies / "jurisdictions.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert message in str(err.value)


def test_every_jurisdiction_states_its_collection_rule(policies):
    path = policies / "jurisdictions.yaml"
    text = path.read_text()
    start = text.index("    sensitive_collection:", text.index("  US-CA:"))
    end = text.index('      source: "Cal. Civ. Code 1798.100, 1798.121, 1798.140(ae)"\n', start)
    path.write_text(text[:start] + text[end + len('      source: "Cal. Civ. Code 1798.100, 1798.121, 1798.140(ae)"\n'):])
    with pytest.raises(PolicyError, match="jurisdictions.US-CA.sensitive_collection: missing"):
        load_policy(policies)
