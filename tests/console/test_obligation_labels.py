"""An obligation an operator adds to policies/retention.yaml, and nowhere else (no catalog, no release), is named in the
erasure preview by its label there, in the page's language: the preview says why a purchase is kept in words, in
Chinese and in English, never as the obligation's code."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.subjects import service as subjects
from tests.console.conftest import KEPT_BECAUSE, erasure_preview_kept
from tests.subject_requests.conftest import CRM, act, file_request, verify_by_session  # noqa: F401  (fixtures)

LAW = "Consumer Disputes Test Statute Art. 9: purchase records kept ten years for dispute resolution"
SOURCE = "Consumer Disputes Test Statute (2026), Art. 9 (a statute of this test only)"
OBLIGATION = f"""  cn_dispute_evidence:
    label: {{zh: 消费纠纷证据保存义务, en: consumer-dispute evidence to be kept}}
    jurisdictions: [CN]
    record_types: [purchase]
    keep: 10y
    counted_from: occurred_at
    legal_basis:
      code: CN-TEST-9
      text: "{LAW}"
    source: "{SOURCE}"
"""


@pytest.fixture
def policy_with_an_obligation_added(tmp_path, runtime, monkeypatch):
    """The shipped policy with one obligation more in retention.yaml (and its citations' Chinese form, which start-up
    requires of every law a policy file cites), loaded as start-up loads it and served by the running console."""
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    retention = policies / "retention.yaml"
    retention.write_text(retention.read_text().replace("\nobligations:\n", f"\nobligations:\n{OBLIGATION}", 1))
    texts = policies / "translations" / "zh.yaml"
    texts.write_text(texts.read_text().replace("\ntexts:\n", f'\ntexts:\n  "{LAW}": "消费纠纷测试法第九条：购买记录保存十年"\n'
                                                            f'  "{SOURCE}": "消费纠纷测试法（2026年）第九条（仅用于本测试）"\n', 1))
    policy = load_policy(policies)
    assert "cn_dispute_evidence" in {o.name for o in policy.retention.obligations}
    monkeypatch.setattr(runtime, "policy", policy)
    return policy


def test_an_obligation_added_only_to_the_policy_file_reads_by_its_label_in_chinese_and_in_english(
    policy_with_an_obligation_added, console_as, make_subject, file_request, verify_by_session, runtime,  # noqa: F811
):
    sid = make_subject()  # a CN subject: the obligation of CN keeps its purchase, ten years running longest
    with runtime.database.unit_of_work() as session:
        subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type="purchase",
                            occurred_at=datetime.now(timezone.utc) - timedelta(days=200), payload={"label": "purchase", "amount": 200})
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    kept = erasure_preview_kept(console_as("dpo"), rid)
    seen = {lang: re.findall(KEPT_BECAUSE, section) for lang, section in kept.items()}
    assert seen == {"zh": [("cn_dispute_evidence", "消费纠纷证据保存义务")], "en": [("cn_dispute_evidence", "consumer-dispute evidence to be kept")]}
