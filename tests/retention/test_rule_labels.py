"""A retention rule is named in words by the policy itself (retention.yaml `rules.<name>.label`, in Chinese and in
English), not by the console's catalogs: a rule an operator adds reads in both languages without a release, and one
without both names is refused at start-up with a message naming the file, the rule and what is missing."""

import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError

LABEL = "    label: {zh: 浏览记录, en: Browsing}\n"


@pytest.fixture
def policies(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


def test_each_shipped_rule_is_named_in_chinese_and_in_english():
    rules = {name: rule.label for name, rule in load_policy(PROJECT_ROOT / "policies").retention.rules.items()}
    assert rules["precise_location"] == {"zh": "精确位置（行踪轨迹）", "en": "Precise location"}
    assert all(label["zh"] != label["en"] and name not in label.values() for name, label in rules.items())


@pytest.mark.parametrize(("label", "problem"), [
    ("", "missing zh and en"),
    ("    label: {zh: 浏览记录}\n", "missing en"),
    ("    label: {zh: ' ', en: Browsing}\n", "missing zh"),
    ("    label: {zh: 浏览记录, en: Browsing, de: Surfverlauf}\n", "unknown language(s) de"),
])
def test_a_rule_without_its_name_in_both_languages_is_refused_naming_it(policies, label, problem):
    path = policies / "retention.yaml"
    text = path.read_text()
    assert text.count(LABEL) == 1
    path.write_text(text.replace(LABEL, label))
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert "retention.yaml: rules.browsing.label: give the rule's name in both languages" in str(err.value) and problem in str(err.value)
