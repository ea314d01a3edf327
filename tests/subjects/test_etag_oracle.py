"""A subject's ETag is no offline oracle: it names the row and its version counter, nothing derived from a value, so a
role that sees a field masked learns nothing about the value by trying candidates against it. (It does change when a
field the caller sees masked changes: the same ETag guards the caller's own writes to such fields — If-Match — and
a lost update there would be a silent overwrite.)"""

from __future__ import annotations

import hashlib
import re


def test_a_masked_reader_cannot_confirm_a_candidate_value_from_the_etag(client_as, make_subject, valid_fields):
    support = client_as("support_service")  # sees mobile masked
    one = make_subject(fields={**valid_fields, "mobile": "13812345678"})
    two = make_subject(fields={**valid_fields, "mobile": "13987654321"})
    first = support.get(f"/api/v1/subjects/{one}", purpose="customer_service")
    second = support.get(f"/api/v1/subjects/{two}", purpose="customer_service")
    assert first.status_code == second.status_code == 200 and "13812345678" not in first.get_data(as_text=True)
    tags = [r.headers["ETag"] for r in (first, second)]
    assert all(re.fullmatch(r'"[0-9a-f]{8}-\d+"', t) for t in tags)
    # Same shape, same version: the values behind them differ and nothing of them is in the tag.
    assert tags[0].split("-")[1] == tags[1].split("-")[1]
    for candidate in ("13812345678", "+8613812345678", "13987654321"):
        assert hashlib.sha256(candidate.encode()).hexdigest()[:8] not in "".join(tags)
