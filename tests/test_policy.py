"""Policies are validated at start-up: a bad file stops the service with a message naming file, key and problem."""


import pytest

from govern.policies import load_policy
from govern.policy import PolicyError


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_shipped_policies_load(policies):
    policy = load_policy(policies)
    assert {"sales_service", "support_service", "marketing_service", "privacy_staff", "dpo", "auditor", "security", "admin"} <= set(policy.roles)
    assert policy.roles["admin"].purposes == frozenset()


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("catalog.yaml", "validator: cn_mobile", "validator: cn_mobil", "catalog.yaml: fields.mobile.validator: unknown rule 'cn_mobil'"),
        ("catalog.yaml", "masking: mobile", "masking: blur", "fields.mobile.masking: unknown rule 'blur'"),
        ("catalog.yaml", "category: contact\n    sensitive: false\n    validator: cn_mobile", "category: gossip\n    sensitive: false\n    validator: cn_mobile", "fields.mobile.category"),
        ("purposes.yaml", "fields: [name, mobile, email, address]", "fields: [name, mobile, shoe_size]", "purposes.order_fulfilment.fields: unknown name(s) shoe_size"),
        ("purposes.yaml", "legal_basis_by_jurisdiction: {CN: legal_obligation}", "legal_basis_by_jurisdiction: {}", "'legitimate_interest' is not a legal basis under PIPL (CN)"),
        ("roles.yaml", "- subjects:profile:create", "- subjects:profile:obliterate", "roles.sales_service.permissions: unknown permission(s) subjects:profile:obliterate"),
        ("roles.yaml", "purposes: [customer_service", "purposes: [telepathy, customer_service", "roles.support_service.purposes: unknown name(s) telepathy"),
        ("roles.yaml", "visibility: {default: masked, fields: {name: full}}", "visibility: {default: blurry}", "roles.support_service.visibility.default"),
        ("jurisdictions.yaml", "minors_age: 14", "minors_age: fourteen", "jurisdictions.CN.minors_age"),
    ],
)
def test_a_bad_policy_is_refused_naming_file_key_and_problem(policies, file, old, new, message):
    _edit(policies / file, old, new)
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert message in str(err.value)


def test_a_missing_policy_file_is_named(policies):
    (policies / "roles.yaml").unlink()
    with pytest.raises(PolicyError, match="roles.yaml: file is missing"):
        load_policy(policies)


def test_broken_yaml_is_named(policies):
    (policies / "catalog.yaml").write_text("fields: [unclosed\n")
    with pytest.raises(PolicyError, match="catalog.yaml: not valid YAML"):
        load_policy(policies)


def test_the_service_refuses_to_start_on_a_bad_policy(policies, tmp_path):
    import os
    import subprocess
    import sys

    _edit(policies / "roles.yaml", "- subjects:profile:create", "- subjects:profile:obliterate")
    env = dict(os.environ, GOVERN_HOME=str(tmp_path / "home"), GOVERN_POLICIES=str(policies))
    out = subprocess.run([sys.executable, "-m", "govern.cli", "init"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "roles.yaml" in out.stderr and "subjects:profile:obliterate" in out.stderr
