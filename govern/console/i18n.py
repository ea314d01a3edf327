"""The console's words in Chinese and English, as gettext catalogs (Babel): govern/console/translations/{zh,en}/
LC_MESSAGES/messages.po, compiled to messages.mo. A msgid is the word's stable key ("request_state.open",
"sign_in"), never English prose, so both catalogs translate every msgid and a missing word shows as its key (a test
fails on that). Terms follow docs/glossary.md (the wording of PIPL and GB/T 35273-2020), so a Chinese DPO reads the
console in the language of the law. docs/console.md "Words and translations" says how to add or change one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache
from pathlib import Path

from babel.dates import format_skeleton
from babel.messages.mofile import read_mo
from babel.support import Translations

LANGUAGES = ("zh", "en")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"


def N_(msgid: str) -> str:
    """Marks a msgid for extraction (pybabel -k N_) where the page builds it at run time; translates nothing."""
    return msgid


@cache
def catalog(lang: str) -> Translations:
    """The compiled catalog of `lang` (English for a language the console does not have)."""
    return Translations.load(str(TRANSLATIONS), [lang if lang in LANGUAGES else "en"], DOMAIN)


def translate(key: str, lang: str, **values) -> str:
    """The words of msgid `key` in `lang`, with {name} placeholders filled in from `values`."""
    text = catalog(lang).gettext(key)
    return text.format(**values) if values else text


def month_title(month: date, lang: str) -> str:
    """A month as its language writes it (CLDR's year-and-full-month form): 2026年12月, December 2026."""
    return format_skeleton("yMMMM", month, locale=lang if lang in LANGUAGES else "en")


@cache
def _table() -> dict[str, tuple[str, str]]:
    read = {}
    for lang in LANGUAGES:
        with open(TRANSLATIONS / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as f:
            read[lang] = {m.id: m.string for m in read_mo(f) if m.id}
    return {key: (read["zh"].get(key, ""), read["en"].get(key, "")) for key in read["zh"].keys() | read["en"].keys()}


class _Messages(Mapping[str, tuple[str, str]]):
    """msgid → (zh, en), read from the compiled catalogs: what tests check for completeness."""

    def __getitem__(self, key: str) -> tuple[str, str]:
        return _table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(_table())

    def __len__(self) -> int:
        return len(_table())


MESSAGES: Mapping[str, tuple[str, str]] = _Messages()
