"""Legal citations in Chinese (issue 19 item 3): the Chinese form of every citation the policy files write is policy
data (policies/translations/zh.yaml, keyed by the English as written), checked at start-up — a citation anywhere in
policies/ (shown today or not: calendars, schedules, notices ...) new or changed in English without its Chinese form,
or a "Chinese" form that is not Chinese, refuses to start naming the file, the key and the text; the policy is read
once, so a file edited while govern runs changes nothing until the next start, which checks it — and a page shows the
citation in the reader's language."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from govern.config import PROJECT_ROOT
from govern.console.policy_text import TRANSLATIONS, load_policy_texts, policy_citations, policy_text
from govern.policies import load_policy
from govern.policy import PolicyError

from .test_chinese_throughout import ALLOWED

POLICIES = PROJECT_ROOT / "policies"


@pytest.fixture
def policies(tmp_path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _texts() -> dict[str, str]:
    return yaml.safe_load((POLICIES / TRANSLATIONS).read_text(encoding="utf-8"))["texts"]


def test_every_citation_in_the_policy_files_has_a_chinese_form():
    texts = _texts()
    written = list(policy_citations(POLICIES))
    files = {name for name, _, _ in written}
    # Not only what a page shows today: calendars, notices, schedules, retention obligations, EU minors ... every file.
    assert {"jurisdictions.yaml", "processing.yaml", "calendars/CN.yaml", "notices/global_membership/versions.yaml", "schedules.yaml",
            "retention.yaml", "purposes.yaml", "requests.yaml", "console.yaml", "rate_limits.yaml", "webhooks.yaml", "sharing.yaml"} <= files
    assert not any(name.startswith("translations/") for name in files)
    assert len(written) > 170
    assert [(name, where) for name, where, text in written if text not in texts] == []
    assert load_policy(POLICIES).console.policy_texts == texts


def test_each_chinese_form_is_chinese_with_no_english_word_but_codes():
    # The same allow-list as the console pages (tests/console/test_chinese_throughout.py): laws and standards by their
    # codes (GDPR, CCPA, GB/T 35273-2020), section numbers; never an English word.
    # Every run of Latin letters is read (not only whole tokens: a Chinese sentence has no spaces between words), less
    # subsection letters, which are numbers: 1798.140(ae), 第9条第2款(a)项.
    found = {english: sorted(words) for english, chinese in _texts().items()
             if (words := set(re.findall(r"[A-Za-z]{2,}", re.sub(r"\([a-z]{1,2}\)", "", chinese))) - ALLOWED)}
    assert found == {}
    assert all(re.search(r"[\u4e00-\u9fff]", chinese) for chinese in _texts().values())


def test_every_english_key_is_a_citation_the_policy_files_write():
    """A lawyer who changes a citation's English changes its key here too: no form is left behind for a text gone."""
    written = {text for _, _, text in policy_citations(POLICIES)}
    assert sorted(set(_texts()) - written) == []


def test_a_citation_changed_in_english_only_refuses_to_start_naming_file_key_and_text(policies):
    path = policies / "jurisdictions.yaml"
    old = "GDPR Art. 33(5): document every personal data breach"
    path.write_text(path.read_text(encoding="utf-8").replace(old, "GDPR Art. 33(5): record every personal data breach"), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    message = str(err.value)
    assert message.startswith("translations/zh.yaml: texts: no Chinese form for jurisdictions.yaml jurisdictions.EU.breach.register.source: ")
    assert "GDPR Art. 33(5): record every personal data breach" in message
    # ... and starts once the lawyer writes the Chinese form under the new English.
    zh = policies / TRANSLATIONS
    zh.write_text(zh.read_text(encoding="utf-8").replace(old, "GDPR Art. 33(5): record every personal data breach"), encoding="utf-8")
    assert "GDPR Art. 33(5): record every personal data breach, notified or not: the facts, its effects and the remedial action taken" in load_policy(policies).console.policy_texts


def test_a_new_duty_in_processing_yaml_needs_its_citation_in_chinese(policies):
    path = policies / "processing.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('source: "Cybersecurity Law of the PRC Art. 21(3)"', 'source: "Cybersecurity Law of the PRC Art. 21(3) and Art. 34"'), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"no Chinese form for processing\.yaml handler_duties\.log_retention\.source: 'Cybersecurity Law"):
        load_policy(policies)


@pytest.mark.parametrize(("name", "old", "new", "key"), [
    # A citation no page shows today: a job's legal basis, a calendar year's source, a rate limit's.
    ("schedules.yaml", '"GDPR Art. 19; PIPL Art. 47 (recipients told of erasure and correction)"', '"GDPR Art. 19; PIPL Art. 47 and Art. 48"',
     "jobs.webhooks_deliver.source"),
    ("calendars/CN.yaml", "（国办发明电〔2024〕12号，2024-11-12）", " (国办发明电〔2024〕12号, 2024-11-12)", "years.2025.source"),
    ("rate_limits.yaml", 'source: "OWASP API Security Top 10 2023 API4"', 'source: "OWASP API Security Top 10 2023 API4 and API2"', "limits.consent_check.source"),
    # The legal basis an erasure certificate gives for what it keeps.
    ("retention.yaml", 'text: "PIPL Art. 19: the shortest period necessary for customer service"',
     'text: "PIPL Art. 19: the shortest period necessary for customer service and complaints"', "rules.communications.legal_basis.text"),
])
def test_a_new_citation_in_any_policy_file_without_its_chinese_form_refuses_to_start(policies, name, old, new, key):
    path = policies / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(policies)
    message = str(err.value)
    assert message.startswith(f"translations/zh.yaml: texts: no Chinese form for {name} {key}: "), message
    assert new.removeprefix("source: ").removeprefix("text: ").strip('"').strip() in message and "add it under texts, keyed by the English exactly as written" in message


def test_translations_edited_while_running_change_nothing_until_a_restart_which_checks_them(policies, settings, app):
    from govern.app import create_app
    from govern.runtime import build_runtime

    signature = "company rule (HMAC-SHA256 signatures, RFC 2104)"
    before = _texts()
    running = build_runtime(replace(settings, policies_dir=policies))
    try:
        zh = policies / TRANSLATIONS
        text = zh.read_text(encoding="utf-8")
        edited = text.replace('"GDPR Art. 34": "《通用数据保护条例》（GDPR）第34条"', '"GDPR Art. 34": "《通用数据保护条例》第三十四条"')
        lines = [line for line in edited.splitlines(keepends=True) if not line.startswith(f'  "{signature}": ')]
        assert len(lines) == len(text.splitlines()) - 1 and edited != text
        zh.write_text("".join(lines), encoding="utf-8")
        # The running installation still shows the forms it started with: pages read the policy read at start-up.
        with create_app(runtime=running).test_request_context("/console/"):
            assert policy_text("GDPR Art. 34", "zh") == before["GDPR Art. 34"] == "《通用数据保护条例》（GDPR）第34条"
            assert policy_text(signature, "zh") == before[signature]
        # A restart reads the edited file and checks it: the citation whose form was deleted stops it, by name.
        with pytest.raises(PolicyError, match=r"no Chinese form for webhooks\.yaml webhooks\.signature\.source: 'company rule \(HMAC-SHA256"):
            build_runtime(replace(settings, policies_dir=policies))
        # Once the form is back, the restarted installation shows the edited forms.
        zh.write_text("".join(lines) + f'  "{signature}": "公司规则（HMAC-SHA256签名）"\n', encoding="utf-8")
        restarted = build_runtime(replace(settings, policies_dir=policies))
        try:
            with create_app(runtime=restarted).test_request_context("/console/"):
                assert policy_text("GDPR Art. 34", "zh") == "《通用数据保护条例》第三十四条"
                assert policy_text(signature, "zh") == "公司规则（HMAC-SHA256签名）"
        finally:
            restarted.database.dispose()
    finally:
        running.database.dispose()


def test_a_chinese_form_that_is_not_chinese_is_refused(policies):
    zh = policies / TRANSLATIONS
    zh.write_text(zh.read_text(encoding="utf-8").replace('"GDPR Art. 34": "《通用数据保护条例》（GDPR）第34条"', '"GDPR Art. 34": "GDPR Art. 34"'), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"translations/zh\.yaml: texts: the Chinese form of 'GDPR Art\. 34' is not Chinese"):
        load_policy_texts(policies)


def test_a_missing_translations_file_is_named(policies):
    (policies / TRANSLATIONS).unlink()
    with pytest.raises(PolicyError, match=r"translations/zh\.yaml: file is missing"):
        load_policy(policies)


def test_a_citation_reads_in_the_readers_language():
    texts = {"GDPR Art. 33": "《通用数据保护条例》（GDPR）第33条"}
    assert policy_text("GDPR Art. 33", "zh", texts) == "《通用数据保护条例》（GDPR）第33条"
    assert policy_text("GDPR Art. 33", "en", texts) == "GDPR Art. 33"  # English pages unchanged
    assert policy_text(None, "zh", texts) == ""


def test_an_obligation_cited_for_what_an_erasure_keeps_reads_in_chinese_with_its_code():
    """What an erasure keeps under a retention obligation is cited "<code> [<jurisdictions>]: <text>" (retention/keeping.py):
    the erasure preview and the certificate show that text's Chinese form, its code and jurisdictions kept."""
    policy = load_policy(PROJECT_ROOT / "policies")
    [obligation] = [o for o in policy.retention.obligations if o.code == "CN-ECL-31"]
    zh = policy_text(obligation.citation(), "zh", policy.console.policy_texts)
    assert zh.startswith("CN-ECL-31（CN）：《中华人民共和国电子商务法》第三十一条") and "Law" not in zh
    assert policy_text(obligation.citation(), "en", policy.console.policy_texts) == obligation.citation()


def test_an_item_kept_under_a_legal_hold_reads_as_the_hold_and_its_reason_in_words():
    """What an erasure keeps for a legal hold (retention/keeping.py: "legal hold <id> (<reason code>)") reads in the
    page's language with the reason's words from retention.yaml hold_reasons; a kept law reads as its citation."""
    from govern.console.policy_text import kept_basis

    policy = load_policy(PROJECT_ROOT / "policies")
    held = {"reason": "legal_hold:litigation", "legal_basis": "legal hold 7f0c-hold (litigation)"}
    assert kept_basis(held, "zh", policy.retention.hold_reasons, policy.console.policy_texts) == "法律保全 7f0c-hold（诉讼或仲裁）"
    assert kept_basis(held, "en", policy.retention.hold_reasons, policy.console.policy_texts) == "legal hold 7f0c-hold (litigation or arbitration)"
    [obligation] = [o for o in policy.retention.obligations if o.code == "CN-ECL-31"]
    law = {"reason": "cn_ecommerce_transactions", "legal_basis": obligation.citation()}
    assert "《中华人民共和国电子商务法》第三十一条" in kept_basis(law, "zh", policy.retention.hold_reasons, policy.console.policy_texts)


def test_an_exemption_reads_as_the_assessments_words_with_each_citation(app):
    from govern.console.pages_breach import reason_text

    reason = ("encrypted_key_safe: GDPR Art. 34(3)(a): the data was rendered unintelligible (e.g. encrypted) and the key was not compromised; "
              "disproportionate_effort: GDPR Art. 34(3)(c): it would involve disproportionate effort; a public communication informs the subjects instead")
    with app.test_request_context("/console/", headers={"Accept-Language": "en"}):
        why, cited = reason_text(reason, {})
    assert cited == ["GDPR Art. 34(3)(a): the data was rendered unintelligible (e.g. encrypted) and the key was not compromised",
                     "GDPR Art. 34(3)(c): it would involve disproportionate effort; a public communication informs the subjects instead"]
    assert "name" not in why and "encrypted_key_safe" not in why and why.count("; ") == 1
    assert all(c in _texts() for c in cited)
