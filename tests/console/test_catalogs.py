"""The console's words live in gettext catalogs (issue 19 item 3): govern/console/translations/{zh,en}/LC_MESSAGES/
messages.po, compiled to the messages.mo that a checkout and the wheel ship. These tests hold the catalogs whole:
every msgid the code marks is in both languages (never empty, never fuzzy), the committed .pot is what pybabel
extracts today, and each committed .mo is its .po compiled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "govern" / "console" / "translations"
PYBABEL = Path(sys.executable).with_name("pybabel")


def _po(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=lang)


def _strings(catalog) -> dict[str, str]:
    return {m.id: m.string for m in catalog if m.id}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_msgid_has_words_in_both_languages_none_fuzzy(lang):
    catalog = _po(lang)
    assert not catalog.fuzzy
    assert [m.id for m in catalog if m.id and (not m.string or m.fuzzy)] == []
    assert [m.id for m in catalog.obsolete.values()] == []


def test_the_two_languages_say_different_things_for_every_msgid():
    zh, en = _strings(_po("zh")), _strings(_po("en"))
    assert zh.keys() == en.keys()
    assert [k for k in zh if zh[k] == en[k]] == []


def test_the_catalogs_hold_exactly_what_the_code_marks(tmp_path):
    """`make messages` was run: a word added to a page or the code without its catalog entry fails here, and so does
    a catalog entry no code uses any more."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(PYBABEL), "-q", "extract", "-F", "babel.cfg", "-k", "t", "-k", "N_", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as f:
        marked = {m.id for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    assert sorted(marked - committed) == [] and sorted(committed - marked) == []
    for lang in ("zh", "en"):
        assert _strings(_po(lang)).keys() == marked, lang


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_compiled_catalog_is_its_po_compiled(lang):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = _strings(read_mo(f))
    assert compiled == _strings(_po(lang))


def test_a_msgid_reads_in_the_language_asked_for_and_fills_its_placeholders():
    from govern.console.i18n import translate

    assert translate("last_n_weeks", "zh", n=12) == "最近 12 周"
    assert translate("last_n_weeks", "en", n=12) == "Last 12 weeks"
    assert translate("request_state.received", "fr") == translate("request_state.received", "en")


def test_the_retention_rules_fixed_in_code_have_words_and_those_of_the_policy_are_named_by_it():
    """A plan's rules and why an erasure keeps an item read in words, never as a code: the rules fixed in code
    (closed accounts, consent withdrawn, subjects left with nothing) by the catalogs, a rule of retention.yaml by its
    label there (required: tests/retention/test_rule_labels.py), so the catalogs hold no words for it."""
    from govern.config import PROJECT_ROOT
    from govern.policies import load_policy
    from govern.retention.service import CLOSED_ACCOUNTS, CONSENT_WITHDRAWN, LEFT_EMPTY

    retention = load_policy(PROJECT_ROOT / "policies").retention
    for lang in ("zh", "en"):
        words = _strings(_po(lang))
        assert [n for n in (CLOSED_ACCOUNTS, CONSENT_WITHDRAWN, LEFT_EMPTY) if not words.get(f"retention_rule.{n}")] == [], lang
        assert sorted(n for n in retention.rules if f"retention_rule.{n}" in words) == [], lang
