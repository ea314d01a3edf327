"""A role is named in words by the policy itself (roles.yaml `roles.<name>.label`, in Chinese and in English), not by
the console's catalogs: a role an operator adds reads in both languages without a release, and one without both names
is refused at start-up with a message naming the file, the role and what is missing (tests/test_policy_labels.py)."""

import re

from govern.config import PROJECT_ROOT
from govern.policies import load_policy


def test_each_shipped_role_is_named_in_chinese_and_in_english():
    roles = {name: role.label for name, role in load_policy(PROJECT_ROOT / "policies").roles.items()}
    assert roles["sales_service"] == {"zh": "销售业务系统", "en": "sales service"}
    # each in Chinese words on a Chinese page (an English name may be the code itself: auditor, security)
    assert all(label["zh"] != label["en"] and not re.search("[A-Za-z_]", label["zh"]) for label in roles.values())
