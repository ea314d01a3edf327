"""Every zh/en text of processing.yaml a record of processing or the duties show — the categories of data subjects,
an entrusted processor's name, each duty's label — and its organisational security measures are given in Chinese and
in English, required at start-up like every name a policy file defines (govern.policy.required_label): one without
both is refused with a message naming the file, the key and what is missing."""

import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError


@pytest.fixture
def policies(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", target)
    return target


CASES = [
    ("  en: Customers (including prospects and members), by jurisdiction\n", "",
     "processing.yaml: data_subjects: give the categories of data subjects in both languages", "missing en"),
    ("  zh: 客户（含潜在客户与会员），按司法辖区\n", "  zh: 客户（含潜在客户与会员），按司法辖区\n  fr: Clients\n",
     "processing.yaml: data_subjects: give the categories of data subjects in both languages", "unknown language(s) fr"),
    ('    processor: {zh: 示例物流有限公司, en: "Example Logistics Co., Ltd."}\n', '    processor: {en: "Example Logistics Co., Ltd."}\n',
     "processing.yaml: entrusted.order_fulfilment.processor: give the processor's name in both languages", "missing zh"),
    ("      label: {zh: 指定个人信息保护负责人并向履行个人信息保护职责的部门报送, en: Designate a personal information protection officer and report their details to the authority}\n",
     "      label: {zh: 指定个人信息保护负责人并向履行个人信息保护职责的部门报送}\n",
     "processing.yaml: handler_duties.thresholds.protection_officer.label: give the duty's name in both languages", "missing en"),
    ("      label: {zh: 个人信息安全事件应急演练, en: Personal information security incident drill}\n", "",
     "processing.yaml: handler_duties.periodic.incident_drill.label: give the duty's name in both languages", "missing zh and en"),
    ("    label: {zh: 网络日志留存不少于六个月, en: Network logs kept at least six months}\n", "    label: {zh: '', en: Network logs kept at least six months}\n",
     "processing.yaml: handler_duties.log_retention.label: give the duty's name in both languages", "missing zh"),
    ("  en:\n    - Purpose- and role-based access control, with masking per role\n", "  xx:\n    - Purpose- and role-based access control, with masking per role\n",
     "processing.yaml: security_measures.xx", "Must be one of: zh, en"),
]


@pytest.mark.parametrize(("old", "new", "where", "problem"), CASES, ids=[c[2].split(":")[1].strip() + "-" + c[3] for c in CASES])
def test_a_processing_text_without_both_languages_is_refused_naming_the_file_and_the_key(policies, old, new, where, problem):
    path = policies / "processing.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert where in str(err.value) and problem in str(err.value), str(err.value)


def test_the_security_measures_are_refused_without_their_english_list(policies):
    path = policies / "processing.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  en:\n    - Purpose- and role-based")
    end = text.index("# Activities entrusted")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert str(err.value) == ("processing.yaml: security_measures: give the organisational security measures in both languages, "
                              "{zh: [...], en: [...]} (missing en)")


def test_every_shipped_processing_text_is_given_in_chinese_and_in_english():
    p = load_policy(PROJECT_ROOT / "policies").processing
    labels = [p.data_subjects, *(e.processor for e in p.entrusted.values()), *(t.label for t in p.thresholds),
              *(d.label for d in p.periodic), p.log_retention.label]
    assert len(labels) >= 7 and all(set(label) == {"zh", "en"} and label["zh"] != label["en"] for label in labels)
