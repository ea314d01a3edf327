"""The access package's summary.{zh,en}.txt (issue 19 item 3, govern/subject_requests/summary.py): the Chinese summary is Chinese
throughout — section titles, legal bases, sources, consent actions and channels, states, dates in Chinese form in
the policy's time zone — with no English legal text and no raw ISO timestamp; the English one says the same in
English. What is left in Latin script is data (a recipient's name, a notice version, an e-mail address) or a code
(an id, a country code)."""

from __future__ import annotations

import re
from datetime import date

from govern.identity.actor import Actor
from govern.sharing import service as sharing
from tests.console.test_chinese_throughout import latin_words
from tests.subject_requests.test_erasure_and_package import _records, _unzip

ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _rich_subject(client_as, make_subject, runtime, language: str):
    """A subject with a record, consent granted to a partner and to marketing (then withdrawn), a disclosure and an
    objection: every section of the summary has something in it."""
    sid = make_subject(language=language)
    with runtime.database.unit_of_work() as session:
        partner = sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity", "contact"],
            "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": date(2099, 1, 1)})
        courier = sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "顺丰速运", "contact": "dpo@sf.example", "purpose": "order_fulfilment", "categories": ["basic_identity", "contact"], "country": "CN",
            "agreement_ref": "DSA-2026-01", "agreement_expires_on": date(2099, 1, 1)})
    crm = client_as("sales_service")
    _records(runtime, sid, [("order-1", "purchase", 10), ("ticket", "service_ticket", 5)])
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
        "separate": True, "recipients": [str(partner.id)]}).status_code == 201
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "marketing", "notice_version": "2026-06", "channel": "web", "evidence": "form-10"}).status_code == 201
    assert crm.post(f"/api/v1/subjects/{sid}/consents", json={"action": "withdraw", "purpose": "marketing", "channel": "app"}).status_code == 201
    with runtime.database.unit_of_work() as session:
        sharing.disclose(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor(name="crm-test", kind="service", roles=("sales_service",)),
                         subject_id=sid, recipient_id=courier.id, fields=["name", "address"], purpose="order_fulfilment")
    return sid


def _summaries(client_as, make_subject, file_request, verify_by_session, runtime, language="zh") -> dict[str, str]:
    sid = _rich_subject(client_as, make_subject, runtime, language)
    rid = file_request(sid, "access")
    verify_by_session(rid)
    files = _unzip(client_as("privacy_staff").get(f"/api/v1/requests/{rid}/package").data)
    return {name: body.decode() for name, body in files.items() if name.startswith("summary.")}


# Latin-script words the Chinese summary may hold: codes and names, not words of a sentence — stricter than a console
# page's list (no PIPL: the summary names it 《个人信息保护法》).
#   GDPR, CCPA, GB/T: the laws' and the standard's own names, as Chinese texts cite them; UTC: the time zone's offset
#   (UTC+08:00). Everything else in Latin script must be data the test put in (DATA), an e-mail address or a code.
ALLOWED = {"GDPR", "CCPA", "GB", "UTC"}
DATA = {"Partner", "Brand", "Ltd", "CN"}


def test_the_chinese_summary_is_chinese_throughout(client_as, make_subject, file_request, verify_by_session, runtime):
    text = _summaries(client_as, make_subject, file_request, verify_by_session, runtime)["summary.zh.txt"]
    assert ISO_TIMESTAMP.search(text) is None
    # The console's check (cut at every CJK character: a code or an article number excuses only its own Latin run).
    assert latin_words(text, DATA, allowed=ALLOWED) == set(), text
    assert re.search(r"\b(Art|Recital|Law|Code)\b", text) is None, text  # no English citation, not even beside a number
    # The sections, legal bases, provisions and dates in Chinese form in the policy's time zone (Asia/Shanghai).
    for words_ in ("请求编号", "北京时间（UTC+08:00）", "## 同意记录", "个人同意", "订立、履行合同所必需", "《个人信息保护法》第十九条", "自最近一次互动起算",
                   "3 年", "收集方", "营销推广: 撤回同意（渠道 移动应用）", "合作伙伴营销（向第三方提供）", "《个人信息保护法》第十三条第（二）项"):
        assert words_ in text, words_
    # A citation reads as the lawyer wrote it in Chinese (policies/translations/zh.yaml), nothing of the English lost:
    # the gloss of PIPL Art. 23 and the purposes a retention rule names.
    assert "第二十三条（向其他个人信息处理者提供须取得单独同意）" in text and "实现处理目的所必要的最短时间（会员服务和订单履行）" in text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} 订单履行", text) is None  # a disclosure names its purpose after the recipient
    assert re.search(r"- \d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2} → 顺丰速运 \(CN\): 地址、姓名 \[订单履行, 订立、履行合同所必需\]", text), text


def test_the_english_summary_says_the_same_in_english(client_as, make_subject, file_request, verify_by_session, runtime):
    text = _summaries(client_as, make_subject, file_request, verify_by_session, runtime, language="en")["summary.en.txt"]
    assert ISO_TIMESTAMP.search(text) is None and re.search(r"[\u4e00-\u9fff]", text.split("## Retention")[1]) is None
    for words_ in ("Times are in Asia/Shanghai (UTC+08:00).", "## Consent history", "Marketing: withdrawn (via app)", "basis: contract (PIPL Art. 13(2)",
                   "kept 3 years, from your last interaction — legal basis: PIPL Art. 19: the shortest period necessary"):
        assert words_ in text, words_
