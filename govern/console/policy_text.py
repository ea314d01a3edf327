"""Legal citations in the reader's language: the Chinese form of every citation and reason the policy files write in
English (`source:`, `*_source:`, an exemption's text, a retention rule's `legal_basis: {text:}`), kept as policy data in policies/translations/zh.yaml, keyed by
the exact English text, so that a lawyer edits a citation in both languages without a release.

Start-up (govern/console/policy.py, load_console_policy) refuses a policy where ANY citation in any policy file
(policies/**/*.yaml but this one) has no Chinese form, naming the file, the key and the text: a lawyer who changes the
English changes the Chinese too, and no page, certificate, letter or summary shown in Chinese can carry English legal
text — whichever citation it starts showing later. The policy is read once, at start-up: a file changed while govern
runs takes effect (and is checked) at the next start.
A page shows a citation with `policy_text(value, lang)` inside <span class="policy-text">: the English as written on
English pages, its Chinese form on Chinese pages."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marshmallow import fields as ma
from marshmallow import validate

from govern.identity.guard import current_runtime
from govern.policy import PolicyError, StrictSchema, read_yaml, validate_file

from .i18n import translate

TRANSLATIONS = Path("translations") / "zh.yaml"

_CJK = re.compile(r"[\u4e00-\u9fff]")


class _TranslationsSchema(StrictSchema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    texts = ma.Dict(keys=ma.Str(validate=validate.Length(min=1)), values=ma.Str(validate=validate.Length(min=1)), required=True)


def citations(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(key path, text) of every citation under `node`: a string `source`, a string `*_source`, an exemption's text, the
    `text` of a `legal_basis` (the law an erasure certificate says kept data is kept under)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and (
                key == "source" or str(key).endswith("_source") or path.endswith(".exemptions") or path == "exemptions"
                or (key == "text" and (path == "legal_basis" or path.endswith(".legal_basis")))
            ):
                yield where, value
            else:
                yield from citations(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from citations(value, f"{path}.{i}")


def policy_citations(directory: Path) -> Iterator[tuple[str, str, str]]:
    """(file, key path, text) of every citation the policy files write: every *.yaml under `directory` (calendars and
    notices included) but the translations themselves, in file order."""
    for path in sorted(directory.rglob("*.yaml")):
        name = path.relative_to(directory).as_posix()
        if name.startswith(f"{TRANSLATIONS.parent.as_posix()}/"):
            continue
        for where, text in citations(read_yaml(path)):
            yield name, where, text


def load_policy_texts(directory: Path) -> Mapping[str, str]:
    """policies/translations/zh.yaml: English citation -> its Chinese form, checked: every form is Chinese, and every
    citation in the policy files has one (else PolicyError naming the file, the key and the text)."""
    doc = validate_file("translations/zh", read_yaml(directory / TRANSLATIONS), _TranslationsSchema())
    texts: dict[str, str] = doc["texts"]
    for english, chinese in texts.items():
        if not _CJK.search(chinese):
            raise PolicyError(f"translations/zh.yaml: texts: the Chinese form of {english!r} is not Chinese: {chinese!r}")
    for name, where, text in policy_citations(directory):
        if text not in texts:
            raise PolicyError(
                f"translations/zh.yaml: texts: no Chinese form for {name} {where}: {text!r} — every citation in the policy "
                "files may be shown in Chinese (pages, certificates, letters, summaries): add it under texts, keyed by "
                "the English exactly as written"
            )
    return MappingProxyType(dict(texts))


# A retention obligation as retention/keeping.py cites it for what an erasure keeps (RetentionObligation.citation):
# "<code> [<jurisdictions>]: <its text as retention.yaml writes it>".
_OBLIGATION = re.compile(r"(?P<code>[^\s\[\]]+) \[(?P<where>[^\]]+)\]: (?P<text>.+)", re.S)


def policy_text(value: str | None, lang: str, texts: Mapping[str, str] | None = None) -> str:
    """A citation from the policy files in `lang`: its Chinese form (policies/translations/zh.yaml) on Chinese pages,
    as written otherwise; an obligation's citation keeps its code and jurisdictions and gives its text in Chinese.
    `texts` defaults to the running policy's."""
    if not value or lang != "zh":
        return value or ""
    if texts is None:
        texts = current_runtime().policy.console.policy_texts
    if value in texts:
        return texts[value]
    cited = _OBLIGATION.fullmatch(value)
    if cited and cited["text"] in texts:
        return f"{cited['code']}（{cited['where']}）：{texts[cited['text']]}"
    return value


# A legal hold as retention/keeping.py names it for what an erasure keeps: "legal hold <id> (<reason code>)".
_HOLD = re.compile(r"legal hold (?P<id>\S+) \((?P<reason>[^()]*)\)")


def kept_basis(kept: Mapping[str, Any], lang: str, hold_reasons: Mapping[str, Mapping[str, str]], texts: Mapping[str, str] | None = None) -> str:
    """What an item an erasure keeps is kept under, in `lang`: a legal hold by its id and its reason in words
    (retention.yaml hold_reasons), a law by its citation (policy_text)."""
    hold = _HOLD.fullmatch(str(kept.get("legal_basis") or ""))
    if hold is None or not str(kept.get("reason") or "").startswith("legal_hold:"):
        return policy_text(kept.get("legal_basis"), lang, texts)
    reason = hold["reason"]
    words = hold_reasons.get(reason, {}).get(lang) or reason
    return translate("kept_legal_hold", lang, hold=hold["id"], reason=words)
