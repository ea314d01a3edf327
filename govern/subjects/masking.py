"""Masking rules named in policies/catalog.yaml: what a role that sees a field `masked` is shown."""

from __future__ import annotations

from typing import Callable


def _first_char(v: str) -> str:
    return v[:1] + "*" * max(1, len(v) - 1)


def _mobile(v: str) -> str:
    return v[:3] + "****" + v[-4:] if len(v) >= 8 else "*" * len(v)


def _id_card(v: str) -> str:
    return v[:3] + "*" * (len(v) - 7) + v[-4:] if len(v) > 7 else "*" * len(v)


def _email(v: str) -> str:
    local, _, domain = v.partition("@")
    return local[:1] + "***@" + domain


def _last_4(v: str) -> str:
    return "*" * max(0, len(v) - 4) + v[-4:]


def _year_only(v: str) -> str:
    return v[:4] + "-**-**"


def _prefix_6(v: str) -> str:
    return v[:6] + "***"


def _full_mask(_v: str) -> str:
    # A fixed mask: the length of a health note or a template must not leak either.
    return "***"


def _coarse_location(v: str) -> str:
    lat, lon = (float(p) for p in v.split(","))
    return f"{lat:.1f},{lon:.1f}"


RULES: dict[str, Callable[[str], str]] = {
    "first_char": _first_char,
    "mobile": _mobile,
    "id_card": _id_card,
    "email": _email,
    "last_4": _last_4,
    "year_only": _year_only,
    "prefix_6": _prefix_6,
    "full_mask": _full_mask,
    "coarse_location": _coarse_location,
}


def mask(rule: str, value: str) -> str:
    return RULES[rule](value)
