"""Every zh/en text of processing.yaml a record of processing or the duties show — the categories of data subjects,
an entrusted processor's name, each duty's label — and its organisational security measures are given in Chinese and
in English, required at start-up like every name a policy file defines (govern.policy.required_label): one without
both is refused with a message naming the file, the key and what is missing (each text's cases: tests/test_policy_labels.py)."""


import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError


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
