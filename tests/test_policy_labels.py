"""Every name a policy file defines and the console, the certificates or the letters show — a category, field and
record type of catalog.yaml, a purpose, a jurisdiction, a legal hold's reason — is given in Chinese and in English in
that file (its `label`), so one an operator adds reads in words in both languages without a release; one without both
is refused at start-up with a message naming the file, the key and what is missing. A role, a retention rule and an
obligation are named so too (their shipped words: tests/identity, tests/retention)."""


import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError

OBLIGATION_LABEL = "    label: {zh: 电子商务交易信息保存义务, en: e-commerce transaction information to be kept}\n"
CASES = [
    ("catalog.yaml", "  contact: {zh: 联系方式, en: contact details}\n", "  contact: {zh: 联系方式}\n",
     "catalog.yaml: categories.contact: give the category's name in both languages", "missing en"),
    ("catalog.yaml", "    label: {zh: 手机号码, en: Mobile number}\n", "",
     "catalog.yaml: fields.mobile.label: give the field's name in both languages", "missing zh and en"),
    ("catalog.yaml", "    label: {zh: 购买记录, en: Purchase}\n", "    label: {zh: '', en: Purchase}\n",
     "catalog.yaml: record_types.purchase.label: give the record type's name in both languages", "missing zh"),
    ("purposes.yaml", "    label: {zh: 营销推广, en: Marketing}\n", "    label: {en: Marketing}\n",
     "purposes.yaml: purposes.marketing.label: give the purpose's name in both languages", "missing zh"),
    ("jurisdictions.yaml", "    label: {zh: 中国（个人信息保护法）, en: China (PIPL)}\n", "",
     "jurisdictions.yaml: jurisdictions.CN.label: give the jurisdiction's name in both languages", "missing zh and en"),
    ("retention.yaml", "  litigation: {zh: 诉讼或仲裁, en: litigation or arbitration}\n", "  litigation: {en: litigation or arbitration}\n",
     "retention.yaml: hold_reasons.litigation: give the hold reason's name in both languages", "missing zh"),
    # roles.yaml, retention.yaml's rules and obligations: each way a label can be wrong
    ("roles.yaml", "    label: {zh: 个人信息保护负责人, en: DPO}\n", "",
     "roles.yaml: roles.dpo.label: give the role's name in both languages", "missing zh and en"),
    ("roles.yaml", "    label: {zh: 个人信息保护负责人, en: DPO}\n", "    label: {en: DPO}\n",
     "roles.yaml: roles.dpo.label: give the role's name in both languages", "missing zh"),
    ("roles.yaml", "    label: {zh: 个人信息保护负责人, en: DPO}\n", "    label: {zh: 个人信息保护负责人, en: ''}\n",
     "roles.yaml: roles.dpo.label: give the role's name in both languages", "missing en"),
    ("roles.yaml", "    label: {zh: 个人信息保护负责人, en: DPO}\n", "    label: {zh: 个人信息保护负责人, en: DPO, ja: 個人情報保護責任者}\n",
     "roles.yaml: roles.dpo.label: give the role's name in both languages", "unknown language(s) ja"),
    ("retention.yaml", "    label: {zh: 浏览记录, en: Browsing}\n", "",
     "retention.yaml: rules.browsing.label: give the rule's name in both languages", "missing zh and en"),
    ("retention.yaml", "    label: {zh: 浏览记录, en: Browsing}\n", "    label: {zh: 浏览记录}\n",
     "retention.yaml: rules.browsing.label: give the rule's name in both languages", "missing en"),
    ("retention.yaml", "    label: {zh: 浏览记录, en: Browsing}\n", "    label: {zh: ' ', en: Browsing}\n",
     "retention.yaml: rules.browsing.label: give the rule's name in both languages", "missing zh"),
    ("retention.yaml", "    label: {zh: 浏览记录, en: Browsing}\n", "    label: {zh: 浏览记录, en: Browsing, de: Surfverlauf}\n",
     "retention.yaml: rules.browsing.label: give the rule's name in both languages", "unknown language(s) de"),
    ("retention.yaml", OBLIGATION_LABEL, "", "retention.yaml: obligations.cn_ecommerce_transactions.label", "missing zh and en"),
    ("retention.yaml", OBLIGATION_LABEL, "    label: {zh: 电子商务交易信息保存义务}\n", "retention.yaml: obligations.cn_ecommerce_transactions.label", "missing en"),
    ("retention.yaml", OBLIGATION_LABEL, "    label: {zh: '', en: e-commerce transaction information to be kept}\n",
     "retention.yaml: obligations.cn_ecommerce_transactions.label", "missing zh"),
    ("retention.yaml", OBLIGATION_LABEL, "    label: {zh: 电子商务交易信息保存义务, en: e-commerce, fr: commerce électronique}\n",
     "retention.yaml: obligations.cn_ecommerce_transactions.label", "unknown language(s) fr"),
    # processing.yaml: the texts a record of processing or the duties show
    ("processing.yaml", "  en: Customers (including prospects and members), by jurisdiction\n", "",
     "processing.yaml: data_subjects: give the categories of data subjects in both languages", "missing en"),
    ("processing.yaml", "  zh: 客户（含潜在客户与会员），按司法辖区\n", "  zh: 客户（含潜在客户与会员），按司法辖区\n  fr: Clients\n",
     "processing.yaml: data_subjects: give the categories of data subjects in both languages", "unknown language(s) fr"),
    ("processing.yaml", '    processor: {zh: 示例物流有限公司, en: "Example Logistics Co., Ltd."}\n', '    processor: {en: "Example Logistics Co., Ltd."}\n',
     "processing.yaml: entrusted.order_fulfilment.processor: give the processor's name in both languages", "missing zh"),
    ("processing.yaml", "      label: {zh: 指定个人信息保护负责人并向履行个人信息保护职责的部门报送, en: Designate a personal information protection officer and report their details to the authority}\n",
     "      label: {zh: 指定个人信息保护负责人并向履行个人信息保护职责的部门报送}\n",
     "processing.yaml: handler_duties.thresholds.protection_officer.label: give the duty's name in both languages", "missing en"),
    ("processing.yaml", "      label: {zh: 个人信息安全事件应急演练, en: Personal information security incident drill}\n", "",
     "processing.yaml: handler_duties.periodic.incident_drill.label: give the duty's name in both languages", "missing zh and en"),
    ("processing.yaml", "    label: {zh: 网络日志留存不少于六个月, en: Network logs kept at least six months}\n", "    label: {zh: '', en: Network logs kept at least six months}\n",
     "processing.yaml: handler_duties.log_retention.label: give the duty's name in both languages", "missing zh"),
    ("processing.yaml", "  en:\n    - Purpose- and role-based access control, with masking per role\n", "  xx:\n    - Purpose- and role-based access control, with masking per role\n",
     "processing.yaml: security_measures.xx", "Must be one of: zh, en"),
]


@pytest.mark.parametrize(("file", "old", "new", "where", "problem"), CASES, ids=[f"{c[3].split(':')[1].strip()}-{c[4]}" for c in CASES])
def test_a_name_without_its_words_in_both_languages_is_refused_naming_the_file_and_the_key(policies, file, old, new, where, problem):
    path = policies / file
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    assert where in str(err.value) and problem in str(err.value)


def test_every_shipped_name_is_given_in_chinese_and_in_english():
    p = load_policy(PROJECT_ROOT / "policies")
    labels = [*p.catalog.categories.values(), *(f.label for f in p.catalog.fields.values()), *(r.label for r in p.catalog.record_types.values()),
              *(x.label for x in p.purposes.values()), *(j.label for j in p.jurisdictions.values()), *p.retention.hold_reasons.values()]
    assert len(labels) > 40 and all(set(label) == {"zh", "en"} and label["zh"] != label["en"] for label in labels)
