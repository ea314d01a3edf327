"""An erasure limited to some data (details.fields) leaves the subject active; its certificate's PDF says the subject's
status and the method in words in Chinese and in English, as for a whole erasure — never the codes `active` or
`erasure_method.active`."""

from __future__ import annotations

import io
import re

import pypdf
from sqlalchemy import select

from govern.subject_requests.models import DataSubjectRequest
from tests.subject_requests.test_certificate_key_algorithm import _erase

from .test_chinese_throughout import latin_words


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    # The subset font's glyphs come out one NUL apart (a space: two in a row): join the characters back.
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.data)).pages).replace("\x00\x00", " ").replace("\x00", "")


def test_a_limited_erasures_pdf_says_the_subjects_status_and_the_method_in_words(runtime, make_subject, console_as):
    sid = make_subject()
    cert = _erase(runtime, sid, runtime.ledgers, fields=["email"])["certificate"]
    assert cert["subject_status"] == "active" and cert["destroyed"]["fields"] == ["email"]
    with runtime.database.unit_of_work() as session:
        rid = session.scalar(select(DataSubjectRequest.id).where(DataSubjectRequest.subject_id == sid))
    c = console_as("privacy_staff")
    zh = _pdf_text(c.get(f"/console/requests/{rid}/certificate.pdf?lang=zh"))
    en = _pdf_text(c.get(f"/console/requests/{rid}/certificate.pdf?lang=en"))
    flat_zh, flat_en = re.sub(r"\s+", "", zh), re.sub(r"\s+", "", en)
    assert "正常：仅删除了本次请求所指定的信息" in flat_zh and "不在本次删除范围内的信息" in flat_zh and "原密钥已销毁" in flat_zh
    assert "active:onlythedatatherequestnamedwaserased" in flat_en and "whattheerasuredidnotcover" in flat_en
    assert "erasure_method" not in zh + en and "subject_status" not in zh + en
    assert latin_words(zh, data={"CN"}) == set()  # nothing left in English in the Chinese certificate
