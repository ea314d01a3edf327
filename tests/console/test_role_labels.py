"""A role an operator adds to policies/roles.yaml, and nowhere else (no catalog of the console, no release), is named
by its label there in the page's language: the header of a member of that role and the access review read its name in
words, in Chinese and in English, never as the role's code."""

from __future__ import annotations

import re
import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy

WORDS = {"zh": "数据治理专员", "en": "data steward"}
ROLE = f"""  data_steward:
    label: {{zh: {WORDS["zh"]}, en: {WORDS["en"]}}}
    kind: staff
    permissions:
      - console:page:view
      - console:review:read
    purposes: []
    visibility: {{default: hidden}}
"""


@pytest.fixture
def policy_with_a_role_added(tmp_path, runtime, monkeypatch):
    """The shipped policy with one role more in roles.yaml, loaded as start-up loads it and served by the console."""
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    roles = policies / "roles.yaml"
    roles.write_text(roles.read_text().replace("\nroles:\n", f"\nroles:\n{ROLE}", 1))
    policy = load_policy(policies)
    assert "data_steward" in policy.roles
    monkeypatch.setattr(runtime, "policy", policy)
    return policy


def test_a_role_added_only_to_the_policy_file_reads_by_its_label_in_chinese_and_in_english(policy_with_a_role_added, console_as):
    c = console_as("data_steward")
    seen = {}
    for lang in ("zh", "en"):
        c.post("/console/preferences", {"language": lang})
        page = c.get("/console/access-review").get_data(as_text=True)
        header = re.search(r'<strong id="user-name">[^<]*</strong> <span class="muted">\(([^)]*)\)</span>', page).group(1)
        row = re.search(rf'<tr data-principal="{re.escape(c.name)}">(.*?)</tr>', page, re.S).group(1)
        assert "data_steward" not in page, lang  # never its code
        seen[lang] = (header, re.findall(r"<td>([^<]*)</td>", row)[1])
    assert seen == {"zh": (WORDS["zh"], WORDS["zh"]), "en": (WORDS["en"], WORDS["en"])}
