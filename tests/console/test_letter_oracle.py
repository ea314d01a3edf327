"""The console's letter pages show a reader who sees names masked the letter masked, and no bare SHA-256 of it that a
guessed name could be checked against (the API's side: tests/breach/test_letter_oracle.py)."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.breach.test_letter_oracle import CANDIDATES, MASKED, NAME, _letters


@pytest.fixture
def dpo(client_as):
    return client_as("dpo")


def test_the_console_shows_a_masked_name_reader_the_letter_masked_and_no_bare_digest(client_as, dpo, make_subject, console_as):
    iid, nid, lid, _ = _letters(client_as, dpo, make_subject)
    c = console_as("security")
    page = c.get(f"/console/incidents/{iid}/letters/{lid}").get_data(as_text=True)
    listing = c.get(f"/console/incidents/{iid}/notifications/{nid}/letters").get_data(as_text=True)
    assert NAME not in page and MASKED in page
    text = re.search(r'<pre class="letter" id="letter-text"[^>]*>(.*?)</pre>', page, re.S).group(1)
    for candidate in CANDIDATES:
        bare = hashlib.sha256(text.replace(MASKED, candidate).encode()).hexdigest()
        assert bare not in page and bare[:16] not in listing
