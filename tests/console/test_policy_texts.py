"""Legal citations in Chinese (issue 19 item 3): the Chinese form of every citation the console shows is policy data
(policies/translations/zh.yaml, keyed by the English as written), checked at start-up — a citation changed in English
without its Chinese form, or a "Chinese" form that is not Chinese, refuses to start naming the file, the key and the
text — and a page shows the citation in the reader's language."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from govern.config import PROJECT_ROOT
from govern.console.policy_text import SHOWN, TRANSLATIONS, citations, load_policy_texts, policy_text, shown_citations
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


def test_every_citation_the_console_shows_has_a_chinese_form():
    texts = _texts()
    shown = list(shown_citations(POLICIES))
    assert {name for name, _, _ in shown} == set(SHOWN)
    assert len(shown) > 30  # the breach clocks, exemptions, deadlines, register, CCPA 1798.150 and the handler's duties
    assert [(name, where) for name, where, text in shown if text not in texts] == []
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
    written = {text for path in POLICIES.glob("*.yaml") for _, text in citations(yaml.safe_load(path.read_text(encoding="utf-8")))}
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
