"""Field validators named in policies/catalog.yaml. Each returns (value to store, normal form to index).

Kernel rules: the subjects' fields, the OpenAPI field types (govern/openapi.py) and every domain's free-text check for
personal data use them, so they import nothing of govern.

Error messages name the rule, never the value: they end up in responses and logs.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from datetime import date
from typing import Any, Callable, Collection, Mapping

Cleaned = tuple[str, str]


class FieldInvalid(ValueError):
    """The value breaks the field's rule; the message is safe to show and log."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: Any, options: Mapping[str, Any]) -> Cleaned:
    if not isinstance(value, str):
        raise FieldInvalid("text: must be a string")
    cleaned = value.strip()
    if not cleaned:
        raise FieldInvalid("text: must not be empty")
    if _CONTROL.search(cleaned):
        raise FieldInvalid("text: must not contain control characters")
    limit = options.get("max_length", 1000)
    if len(cleaned) > limit:
        raise FieldInvalid(f"text: at most {limit} characters")
    return cleaned, cleaned


def _person_name(value: Any, options: Mapping[str, Any]) -> Cleaned:
    cleaned, _ = _text(value, {"max_length": options.get("max_length", 100)})
    if "\n" in cleaned or "\t" in cleaned:
        raise FieldInvalid("person_name: must be a single line")
    return cleaned, cleaned.casefold()


def _iso_date(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise FieldInvalid("iso_date: must be a date as YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise FieldInvalid("iso_date: not a calendar date") from None
    if parsed > date.today() or parsed.year < 1900:
        raise FieldInvalid("iso_date: must be between 1900-01-01 and today")
    return value, value


def _one_of(value: Any, options: Mapping[str, Any]) -> Cleaned:
    choices = options["choices"]
    if value not in choices:
        raise FieldInvalid(f"one_of: must be one of {', '.join(choices)}")
    return value, value


_MOBILE_SEPARATORS = re.compile(r"[\s\-()]")


def _cn_mobile(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    """Mainland China mobile numbers: 11 digits starting 13–19; stored national, indexed as E.164."""
    if not isinstance(value, str):
        raise FieldInvalid("cn_mobile: must be a string")
    digits = _MOBILE_SEPARATORS.sub("", value)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix):]
            break
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise FieldInvalid("cn_mobile: not a mainland China mobile number (11 digits, 13x–19x)")
    return digits, "+86" + digits


_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def _email(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    if not isinstance(value, str):
        raise FieldInvalid("email: must be a string")
    cleaned = value.strip()
    if len(cleaned) > 254 or not _EMAIL.fullmatch(cleaned) or ".." in cleaned.split("@")[0]:
        raise FieldInvalid("email: not a valid e-mail address")
    local, domain = cleaned.rsplit("@", 1)
    if len(local) > 64:
        raise FieldInvalid("email: local part longer than 64 characters")
    return cleaned, cleaned.lower()


# GB 11643-1999: weights for the 17 body digits and the check characters for the sum modulo 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}


def resident_id_check_char(body17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def _cn_resident_id(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    """18-character resident identity number (GB 11643): region, birth date, sequence, check character."""
    if not isinstance(value, str):
        raise FieldInvalid("cn_resident_id: must be a string")
    cleaned = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", cleaned):
        raise FieldInvalid("cn_resident_id: must be 17 digits and a check digit or X")
    if int(cleaned[:2]) not in _ID_PROVINCES:
        raise FieldInvalid("cn_resident_id: unknown province code")
    try:
        born = date(int(cleaned[6:10]), int(cleaned[10:12]), int(cleaned[12:14]))
    except ValueError:
        raise FieldInvalid("cn_resident_id: the birth date part is not a calendar date") from None
    if born > date.today() or born.year < 1850:
        raise FieldInvalid("cn_resident_id: the birth date part is out of range")
    if resident_id_check_char(cleaned[:17]) != cleaned[17]:
        raise FieldInvalid("cn_resident_id: check digit does not match (GB 11643)")
    return cleaned, cleaned


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _bank_card(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    if not isinstance(value, str):
        raise FieldInvalid("bank_card: must be a string")
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{12,19}", digits):
        raise FieldInvalid("bank_card: must be 12 to 19 digits")
    if not luhn_valid(digits):
        raise FieldInvalid("bank_card: fails the Luhn check")
    return digits, digits


def _base64(value: Any, options: Mapping[str, Any]) -> Cleaned:
    if not isinstance(value, str):
        raise FieldInvalid("base64: must be a string")
    limit = options.get("max_length", 65536)
    if len(value) > limit:
        raise FieldInvalid(f"base64: at most {limit} characters")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FieldInvalid("base64: not valid base64") from None
    return value, value


def _geo_point(value: Any, _options: Mapping[str, Any]) -> Cleaned:
    """'latitude,longitude' in decimal degrees (WGS-84 or GCJ-02, as the collecting app records it)."""
    if not isinstance(value, str) or not re.fullmatch(r"\s*-?\d{1,2}(\.\d+)?\s*,\s*-?\d{1,3}(\.\d+)?\s*", value):
        raise FieldInvalid("geo_point: must be 'latitude,longitude' in decimal degrees")
    lat, lon = (float(p) for p in value.split(","))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise FieldInvalid("geo_point: latitude or longitude out of range")
    cleaned = f"{lat},{lon}"
    return cleaned, cleaned


Rule = Callable[[Any, Mapping[str, Any]], Cleaned]

RULES: dict[str, Rule] = {
    "text": _text,
    "person_name": _person_name,
    "iso_date": _iso_date,
    "one_of": _one_of,
    "cn_mobile": _cn_mobile,
    "email": _email,
    "cn_resident_id": _cn_resident_id,
    "bank_card": _bank_card,
    "base64": _base64,
    "geo_point": _geo_point,
}

# Rules whose normal form is meaningful for exact-match look-up through a blind index.
NORMALISED = frozenset({"cn_mobile", "email", "cn_resident_id", "bank_card", "person_name"})

_OPTIONS: dict[str, set[str]] = {"text": {"max_length"}, "person_name": {"max_length"}, "base64": {"max_length"}, "one_of": {"choices"}}


def check_options(rule: str, options: Mapping[str, Any]) -> None:
    """Refuses catalog options a rule does not take, so that a typo in policy is not silently ignored."""
    unknown = set(options) - _OPTIONS.get(rule, set())
    if unknown:
        raise ValueError(f"rule '{rule}' takes no option(s) {', '.join(sorted(unknown))}")
    if rule == "one_of" and not (isinstance(options.get("choices"), list) and options["choices"]):
        raise ValueError("rule 'one_of' needs a non-empty list of choices")
    if "max_length" in options and not (isinstance(options["max_length"], int) and options["max_length"] > 0):
        raise ValueError("max_length must be a positive integer")


def clean(rule: str, options: Mapping[str, Any], value: Any) -> Cleaned:
    return RULES[rule](value, options)


# --- free text written by staff or clients (reasons, notes, references) must not carry personal data -------------
# A value of a catalog kind that validates is looked for in the text: a mobile number, an e-mail address, a resident
# identity number with its check digit, a card number of 16 to 19 digits that passes Luhn (shorter runs are too often
# order or case numbers). Only the kind is reported, never the value.
#
# The text is searched as a reader would read it, not as it is spelt: NFKC (full-width digits and ＠ become ASCII),
# format characters dropped (zero-width space/joiners, word joiner, BOM, soft hyphen: Unicode category Cf), digits of
# any script read as 0-9, the ideographic full stop read as a dot, spaces around @ dropped. Digits are then read as
# runs of groups joined by up to three separator characters (spaces, dots, dashes, slashes, middle dots, underscores),
# and every window of whole groups is tried as a value: "138.1234.5678", "110105 19491231 002X", "4111-1111-1111-1111".
# Windows of whole groups (never a cut through a group) keep order numbers, dates and amounts from matching: a
# 14-digit ticket number holds no 11-digit mobile, "2026-11-15 – 2026-11-16" is not grouped like a card, a dotted
# IPv4 address or an amount grouped in thousands is not read as a number of a person.
MOBILE_KIND, EMAIL_KIND, ID_KIND, CARD_KIND = "a mobile number", "an e-mail address", "a resident identity number", "a bank-card number"
_FREE_TEXT_KINDS = (MOBILE_KIND, EMAIL_KIND, ID_KIND, CARD_KIND)
_SEPARATOR = r"[\s.\-_/\\·・•‐‑‒–—―−]"
_DIGIT_RUN = re.compile(rf"[0-9](?:{_SEPARATOR}{{0,3}}[0-9])*(?:{_SEPARATOR}{{0,3}}[Xx](?![A-Za-z]))?")
_GROUP_SPLIT = re.compile(rf"({_SEPARATOR}{{1,3}})")
_AROUND_AT = re.compile(r"\s*@\s*")
_MOBILE_DIGITS = re.compile(r"(?:0{0,2}86)?1[3-9][0-9]{9}")
_VALUE_LENGTHS = frozenset({11, 13, 15, 16, 17, 18, 19})  # mobile (+86, 0086), card 16-19, resident ID 18
_LONGEST_VALUE = max(_VALUE_LENGTHS)


def normalise_free_text(text: str) -> str:
    """The text as it reads: NFKC, no format (zero-width) characters, ASCII digits, no spaces around @."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        chars = []
        for ch in text:
            category = unicodedata.category(ch)
            if category == "Cf":
                continue
            if category == "Nd" and not "0" <= ch <= "9":
                ch = str(unicodedata.decimal(ch))
            chars.append(ch)
        text = "".join(chars).replace("。", ".")
    return _AROUND_AT.sub("@", text) if "@" in text else text


def personal_data_in(text: str) -> list[str]:
    """The kinds of personal data the text holds values of (empty when none), for refusing it before it is stored."""
    text = normalise_free_text(text)
    found: set[str] = set()
    if "@" in text and _EMAIL.search(text):
        found.add(EMAIL_KIND)
    for run in _DIGIT_RUN.finditer(text):
        found.update(_kinds_in_run(run.group()))
        if len(found) == len(_FREE_TEXT_KINDS):
            break
    return [kind for kind in _FREE_TEXT_KINDS if kind in found]


def _kinds_in_run(run: str) -> set[str]:
    parts = _GROUP_SPLIT.split(run)
    groups, separators = parts[0::2], parts[1::2]
    lengths = [len(g) for g in groups]
    found: set[str] = set()
    for i in range(len(groups)):
        size = 0
        for j in range(i, len(groups)):
            size += lengths[j]
            if size > _LONGEST_VALUE:
                break
            if size not in _VALUE_LENGTHS:
                continue
            kind = _value_kind("".join(groups[i:j + 1]), lengths[i:j + 1], separators[i:j])
            if kind:
                found.add(kind)
    return found


def _value_kind(digits: str, lengths: list[int], separators: list[str]) -> str | None:
    if len(lengths) > 1 and _looks_like_a_numeral(lengths, separators):
        return None
    size = len(digits)
    # Cheap tests first (a birth year of 18xx-20xx, a mobile's length): a long run of digits is tried window by window.
    if size == 18 and digits[6:8] in ("18", "19", "20") and _is_value_of(ID_KIND, digits):
        return ID_KIND
    if not digits.isdigit():
        return None
    if size in (11, 13, 15) and _MOBILE_DIGITS.fullmatch(digits):
        return MOBILE_KIND
    if size >= 16 and _grouped_like_a_card(lengths) and luhn_valid(digits):
        return CARD_KIND
    return None


def _looks_like_a_numeral(lengths: list[int], separators: list[str]) -> bool:
    """An amount grouped in thousands (1 380 000, 13.800.000.000) or a dotted IPv4 address (172.16.254.123)."""
    thousands = 1 <= lengths[0] <= 3 and all(n == 3 for n in lengths[1:]) and len(set(separators)) == 1
    dotted_quad = len(lengths) == 4 and all(n <= 3 for n in lengths) and all(s == "." for s in separators)
    return thousands or dotted_quad


def _grouped_like_a_card(lengths: list[int]) -> bool:
    """How card numbers are written: in one piece, in fours (the last group shorter), 4-6-5 / 4-6-4, or digit by digit."""
    if len(lengths) == 1 or all(n == 1 for n in lengths) or lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def free_text_problem(text: str, *, allow: Collection[str] = ()) -> str | None:
    """The message refusing free text that holds personal data (naming the kinds, never the values), or None.
    `allow` names kinds a field may hold by design (a recipient's role address is an e-mail address)."""
    found = [kind for kind in personal_data_in(text) if kind not in allow]
    return f"must not contain personal data (it holds {' and '.join(found)}): name the case, not the person" if found else None


def free_text_errors(values: Mapping[str, Any], *, allow: Mapping[str, Collection[str]] | None = None) -> dict[str, list[str]]:
    """For a service reached without the API's schema (console, CLI): per name, the refusal of a value (a string or a
    list of strings) that holds personal data; empty when every value is clean. Feed it to errors.validation_failed."""
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        for text in value if isinstance(value, (list, tuple)) else [value]:
            problem = free_text_problem(text, allow=(allow or {}).get(name, ())) if isinstance(text, str) and text else None
            if problem:
                errors[name] = [problem]
                break
    return errors


# The CRM's own reference of a customer: an identifier, not a place for a name, a number or an address. Even within the
# pattern it must not read as a mobile, resident ID or card number (a CRM keyed by phone number would put one here).
EXTERNAL_REF_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_EXTERNAL_REF = re.compile(EXTERNAL_REF_PATTERN)


def external_ref_problem(value: Any) -> str | None:
    """Why `value` cannot be a subject's external_ref (the pattern, or the kind of personal data it holds), or None."""
    if not isinstance(value, str) or not _EXTERNAL_REF.fullmatch(value):
        return "1–128 characters of A–Z a–z 0–9 . _ : - (the CRM's own id of the customer)"
    return free_text_problem(value)


def _is_value_of(kind: str, candidate: str) -> bool:
    checks = {"a resident identity number": _cn_resident_id, "a bank-card number": _bank_card}
    check = checks.get(kind)
    if check is None:
        return True
    try:
        check(candidate, {})
    except FieldInvalid:
        return False
    return True
