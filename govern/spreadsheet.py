"""CSV cells a spreadsheet program shows as text: every CSV govern writes for people (the console's queues, the access
review, the records of processing) goes through `text_cell`, so a value typed by staff or a subject never runs there."""

from __future__ import annotations

from typing import Any

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> str:
    """The value as a CSV cell ('' for None); one that would start a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
