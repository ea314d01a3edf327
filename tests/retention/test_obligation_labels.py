"""A retention obligation is named in words by the policy itself (retention.yaml `obligations.<name>.label`, in Chinese
and in English), not by the console's catalogs: an obligation an operator adds reads in both languages without a
release, and one without both names is refused at start-up with a message naming it (tests/test_policy_labels.py)."""

from govern.config import PROJECT_ROOT
from govern.policies import load_policy


def test_each_shipped_obligation_is_named_in_chinese_and_in_english():
    obligations = {o.name: o.label for o in load_policy(PROJECT_ROOT / "policies").retention.obligations}
    assert obligations["cn_ecommerce_transactions"] == {"zh": "电子商务交易信息保存义务", "en": "e-commerce transaction information to be kept"}
    assert all(label["zh"] != label["en"] and name not in label.values() for name, label in obligations.items())
