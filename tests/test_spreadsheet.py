"""Every CSV govern writes for people (the console's queues, the access review, the records of processing) holds its
values as text: a cell a spreadsheet would run as a formula is quoted, whatever wrote it."""

from __future__ import annotations

import pytest

from govern.identity.review import _cell as review_cell
from govern.spreadsheet import text_cell


@pytest.mark.parametrize("typed", ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_that_would_start_a_formula_is_shown_as_text(typed):
    assert text_cell(typed) == "'" + typed
    assert review_cell(typed) == "'" + typed  # the access review's cells too


@pytest.mark.parametrize("value, cell", [("plain", "plain"), ("a=b", "a=b"), (None, ""), (42, "42"), ("张三", "张三")])
def test_any_other_value_is_written_as_it_is(value, cell):
    assert text_cell(value) == cell
