"""The console shows an erasure certificate's digest with the algorithm it was taken under (issue 21): on the request
page, in the downloads' headers and on the PDF — SM3 for a certificate made under commercial_cn — while
X-Content-SHA256 stays the SHA-256 of the bytes handed over (for sha256sum), whatever the suite."""

from __future__ import annotations

import hashlib
import io
import re

import pypdf
import pytest
from sqlalchemy import update

from govern.audit import verifier
from govern.subject_requests.models import DataSubjectRequest
from tests.subject_requests.test_certificate_digest import _canonical, _erase

pytestmark = pytest.mark.skipif(not verifier.sm3_available(), reason="this Python's OpenSSL has no SM3")


def test_the_console_names_an_sm3_certificates_algorithm_in_its_headers_page_and_pdf(runtime, make_subject, console_as):
    sid = make_subject()
    response, rid = _erase(runtime, sid, runtime.ledgers)
    cert = response["certificate"]
    sm3 = hashlib.new("sm3", _canonical(cert)).hexdigest()
    with runtime.database.unit_of_work() as session:  # as a commercial_cn process certifies it
        session.execute(update(DataSubjectRequest).where(DataSubjectRequest.id == rid).values(
            response={"certificate": cert, "certificate_digest": sm3, "digest_algorithm": "SM3"}))
    c = console_as("privacy_staff")
    page = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert f'id="certificate-digest">SM3 <code class="copyable">{sm3}</code>' in page
    as_json = c.get(f"/console/requests/{rid}/certificate.json")
    assert as_json.headers["X-Certificate-Digest"] == sm3 and as_json.headers["X-Certificate-Digest-Algorithm"] == "SM3"
    assert "X-Certificate-SHA256" not in as_json.headers
    assert as_json.headers["X-Content-SHA256"] == hashlib.sha256(as_json.data).hexdigest()  # of the bytes, for sha256sum, in either suite
    for lang, note in (("zh", "上述SM3为"), ("en", "theSM3above")):
        pdf = c.get(f"/console/requests/{rid}/certificate.pdf?lang={lang}")
        assert pdf.headers["X-Certificate-Digest-Algorithm"] == "SM3" and "X-Certificate-SHA256" not in pdf.headers
        # The subset font's glyphs come out one NUL apart (a space: two in a row); lines may break anywhere.
        text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages).replace("\x00\x00", " ").replace("\x00", "")
        flat = re.sub(r"\s+", "", text)
        assert f"SM3:{sm3}" in flat and note in flat and "SHA-256" not in text
