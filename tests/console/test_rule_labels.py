"""A retention rule an operator adds to policies/retention.yaml, and nowhere else (no catalog of the console, no
release), is named by its label there in the page's language: a purge plan's rules and the erasure preview's reason
for keeping an item read in words, in Chinese and in English, never as the rule's code."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from govern.config import PROJECT_ROOT
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.retention import service as retention
from govern.subjects import service as subjects
from tests.console.conftest import KEPT_BECAUSE, erasure_preview_kept
from tests.subject_requests.conftest import CRM, act, file_request, verify_by_session  # noqa: F401  (fixtures)

LAW = "Loyalty Test Statute Art. 4: loyalty point ledgers kept ninety days after each entry"
WORDS = {"zh": "积分流水", "en": "Loyalty point ledger"}
RECORD_WORDS = {"zh": "积分记录", "en": "Loyalty points"}
RECORD_TYPE = """  loyalty_points:
    category: transaction
    sensitive: false
    label: {zh: 积分记录, en: Loyalty points}
"""  # a record type added with the rule: it is named by its label too
RULE = f"""  loyalty_ledger:
    label: {{zh: {WORDS["zh"]}, en: {WORDS["en"]}}}
    record_types: [loyalty_points]
    keep: 90d
    counted_from: occurred_at
    on_account_closure: keep
    legal_basis:
      code: TEST-LOYALTY-4
      text: "{LAW}"
"""
ALICE = Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1))


@pytest.fixture
def policy_with_a_rule_added(tmp_path, runtime, monkeypatch):
    """The shipped policy with a record type more in catalog.yaml and its rule in retention.yaml (the law it cites in
    Chinese too, as start-up requires), loaded as start-up loads it and served by the running console."""
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    catalog = policies / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("\nrecord_types:\n", f"\nrecord_types:\n{RECORD_TYPE}", 1))
    rules = policies / "retention.yaml"
    rules.write_text(rules.read_text().replace("\nrules:\n", f"\nrules:\n{RULE}", 1))
    texts = policies / "translations" / "zh.yaml"
    texts.write_text(texts.read_text().replace("\ntexts:\n", f'\ntexts:\n  "{LAW}": "积分测试法第四条：积分流水自每笔记录起保存九十日"\n', 1))
    policy = load_policy(policies)
    assert policy.retention.record_rules["loyalty_points"].name == "loyalty_ledger"
    monkeypatch.setattr(runtime, "policy", policy)
    return policy


def _loyalty_record(runtime, sid, days_ago: int) -> None:
    with runtime.database.unit_of_work() as session:
        subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="loyalty_points",
                            occurred_at=datetime.now(timezone.utc) - timedelta(days=days_ago), payload={"points": 120})


def test_a_rule_added_only_to_the_policy_file_names_a_plans_rule_in_chinese_and_in_english(
    policy_with_a_rule_added, runtime, console_as, make_subject,
):
    _loyalty_record(runtime, make_subject(), days_ago=120)  # past its 90 days: due
    with runtime.database.unit_of_work() as session:
        plan_id = retention.make_plan(session=session, policy=runtime.policy, actor=ALICE, save=True).plan.id
    c = console_as("dpo")
    seen = {}
    for lang in ("zh", "en"):
        c.post("/console/preferences", {"language": lang})
        page = c.get(f"/console/retention/plans/{plan_id}").get_data(as_text=True)
        table = page.split('id="plan-rules"')[1].split("</table>")[0]
        assert "loyalty_ledger" not in table, lang  # never its code
        seen[lang] = set(re.findall(r'<th scope="row">([^<]+)</th>', table))
    assert WORDS["zh"] in seen["zh"] and WORDS["en"] in seen["en"]
    # and the shipped rules of the plan read by their labels in the page's language too
    for lang in ("zh", "en"):
        shipped = {r.label[lang] for r in runtime.policy.retention.rules.values()}
        assert len(seen[lang] & shipped) > 1 and not seen[lang] & set(runtime.policy.retention.rules), lang


def test_a_rule_added_only_to_the_policy_file_says_in_words_why_an_erasure_keeps_an_item(
    policy_with_a_rule_added, runtime, console_as, make_subject, file_request, verify_by_session,  # noqa: F811
):
    sid = make_subject()
    _loyalty_record(runtime, sid, days_ago=10)  # its 90 days still running, and the rule keeps it from an erasure
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    kept = erasure_preview_kept(console_as("dpo"), rid)
    seen = {lang: [w for code, w in re.findall(KEPT_BECAUSE, section) if code == "loyalty_ledger"] for lang, section in kept.items()}
    for lang, section in kept.items():  # the record type too, by its label in catalog.yaml
        assert f'"record:loyalty_points">{RECORD_WORDS[lang]}</td>' in section, lang
    assert seen == {"zh": [WORDS["zh"]], "en": [WORDS["en"]]}
