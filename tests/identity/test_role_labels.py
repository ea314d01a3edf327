"""A role is named in words by the policy itself (roles.yaml `roles.<name>.label`, in Chinese and in English), not by
the console's catalogs: a role an operator adds reads in both languages without a release, and one without both names
is refused at start-up with a message naming the file, the role and what is missing."""

import re
import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError

LABEL = "    label: {zh: 个人信息保护负责人, en: DPO}\n"


@pytest.fixture
def policies(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


def test_each_shipped_role_is_named_in_chinese_and_in_english():
    roles = {name: role.label for name, role in load_policy(PROJECT_ROOT / "policies").roles.items()}
    assert roles["sales_service"] == {"zh": "销售业务系统", "en": "sales service"}
    # each in Chinese words on a Chinese page (an English name may be the code itself: auditor, security)
    assert all(label["zh"] != label["en"] and not re.search("[A-Za-z_]", label["zh"]) for label in roles.values())


@pytest.mark.parametrize(("label", "problem"), [
    ("", "missing zh and en"),
    ("    label: {en: DPO}\n", "missing zh"),
    ("    label: {zh: 个人信息保护负责人, en: ''}\n", "missing en"),
    ("    label: {zh: 个人信息保护负责人, en: DPO, ja: 個人情報保護責任者}\n", "unknown language(s) ja"),
])
def test_a_role_without_its_name_in_both_languages_is_refused_naming_it(policies, label, problem):
    path = policies / "roles.yaml"
    text = path.read_text()
    assert text.count(LABEL) == 1
    path.write_text(text.replace(LABEL, label))
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert "roles.yaml: roles.dpo.label: give the role's name in both languages" in str(err.value) and problem in str(err.value)
