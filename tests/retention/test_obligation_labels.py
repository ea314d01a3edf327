"""A retention obligation is named in words by the policy itself (retention.yaml `obligations.<name>.label`, in Chinese
and in English), not by the console's catalogs: an obligation an operator adds reads in both languages without a
release, and one without both names is refused at start-up with a message naming it."""

import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError

LABEL = "    label: {zh: 电子商务交易信息保存义务, en: e-commerce transaction information to be kept}\n"


@pytest.fixture
def policies(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


def test_each_shipped_obligation_is_named_in_chinese_and_in_english():
    obligations = {o.name: o.label for o in load_policy(PROJECT_ROOT / "policies").retention.obligations}
    assert obligations["cn_ecommerce_transactions"] == {"zh": "电子商务交易信息保存义务", "en": "e-commerce transaction information to be kept"}
    assert all(label["zh"] != label["en"] and name not in label.values() for name, label in obligations.items())


@pytest.mark.parametrize(("label", "problem"), [
    ("", "missing zh and en"),
    ("    label: {zh: 电子商务交易信息保存义务}\n", "missing en"),
    ("    label: {zh: '', en: e-commerce transaction information to be kept}\n", "missing zh"),
    ("    label: {zh: 电子商务交易信息保存义务, en: e-commerce, fr: commerce électronique}\n", "unknown language(s) fr"),
])
def test_an_obligation_without_its_name_in_both_languages_is_refused_naming_it(policies, label, problem):
    path = policies / "retention.yaml"
    text = path.read_text()
    assert text.count(LABEL) == 1
    path.write_text(text.replace(LABEL, label))
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert "retention.yaml: obligations.cn_ecommerce_transactions.label" in str(err.value) and problem in str(err.value)
