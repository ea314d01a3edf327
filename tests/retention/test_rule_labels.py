"""A retention rule is named in words by the policy itself (retention.yaml `rules.<name>.label`, in Chinese and in
English), not by the console's catalogs: a rule an operator adds reads in both languages without a release, and one
without both names is refused at start-up with a message naming the file, the rule and what is missing
(tests/test_policy_labels.py)."""

from govern.config import PROJECT_ROOT
from govern.policies import load_policy


def test_each_shipped_rule_is_named_in_chinese_and_in_english():
    rules = {name: rule.label for name, rule in load_policy(PROJECT_ROOT / "policies").retention.rules.items()}
    assert rules["precise_location"] == {"zh": "精确位置（行踪轨迹）", "en": "Precise location"}
    assert all(label["zh"] != label["en"] and name not in label.values() for name, label in rules.items())
