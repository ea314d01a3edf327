"""The certificate PDF, in Chinese and in English, names the algorithm of the data key the erasure destroyed, as the
certificate records it (`key_algorithm`): SM4-GCM for a subject of the commercial_cn suite, never AES-256-GCM for it; a
certificate made before the field reads as it always has (AES-256-GCM); one that found the subject already erased
names no algorithm."""

from __future__ import annotations

import io
import re

import pypdf
import pytest
from sqlalchemy import select

from govern.audit import verifier
from govern.console import certificate_pdf
from govern.crypto.cli import runtime_for
from govern.subject_requests.models import DataSubjectRequest
from tests.crypto.test_suite_migration import _migrate, cn_home  # noqa: F401  (fixture)
from tests.crypto.test_suites import seed
from tests.subject_requests.test_certificate_key_algorithm import _erase

ZONE = "Asia/Shanghai"


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    # The subset font's glyphs come out one NUL apart (a space: two in a row); lines may break anywhere.
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.data)).pages).replace("\x00\x00", " ").replace("\x00", "")
    return re.sub(r"\s+", "", text)


@pytest.mark.skipif(not verifier.sm3_available(), reason="this Python's OpenSSL has no SM3 (commercial_cn cannot run)")
def test_the_pdf_of_a_commercial_cn_erasure_names_the_sm4_key_in_chinese_and_in_english(runtime, cn_home, console_as):  # noqa: F811
    (sid,) = seed(runtime, 1)
    rt = runtime_for(cn_home)
    try:
        _migrate(rt, cn_home)
        response = _erase(rt, sid, runtime.ledgers)
    finally:
        rt.database.dispose()
    with runtime.database.unit_of_work() as session:
        rid = session.scalar(select(DataSubjectRequest.id).where(DataSubjectRequest.subject_id == sid))
    c = console_as("privacy_staff")
    zh = _pdf_text(c.get(f"/console/requests/{rid}/certificate.pdf?lang=zh"))
    en = _pdf_text(c.get(f"/console/requests/{rid}/certificate.pdf?lang=en"))
    assert "先销毁该个人的数据密钥（SM4-GCM）" in zh and "AES" not in zh
    assert "thesubject'sdatakey(SM4-GCM)wasdestroyedfirst" in en and "AES" not in en
    assert response["certificate"]["key_algorithm"] == "SM4-GCM"


def test_a_certificate_made_before_it_named_its_key_reads_as_before_and_one_that_found_the_subject_erased_names_none(runtime, make_subject):
    sid = make_subject()
    response = _erase(runtime, sid, runtime.ledgers)
    cert = dict(response["certificate"])
    as_made = {lang: certificate_pdf.method_text(cert, lang, ZONE) for lang in ("zh", "en")}
    assert "（AES-256-GCM）" in as_made["zh"] and "(AES-256-GCM) was destroyed first" in as_made["en"]
    del cert["key_algorithm"]  # as every certificate was stored before the field
    assert {lang: certificate_pdf.method_text(cert, lang, ZONE) for lang in ("zh", "en")} == as_made
    sm4 = {**cert, "key_algorithm": "SM4-GCM"}
    assert "先销毁该个人的数据密钥（SM4-GCM）" in certificate_pdf.method_text(sm4, "zh", ZONE)

    earlier = {"subject_status": "erased", "already_erased": {"erased_at": "2026-12-04T00:30:00+00:00", "reason": "retention_purge"}}
    zh, en = (certificate_pdf.method_text(earlier, lang, ZONE) for lang in ("zh", "en"))  # made before the field: as before
    assert "该个人的数据密钥（AES-256-GCM）已于 2026-12-04 08:30 UTC+8 销毁" in zh and "data key (AES-256-GCM) had already" in en
    unknown = {**earlier, "key_algorithm": None}
    zh, en = (certificate_pdf.method_text(unknown, lang, ZONE) for lang in ("zh", "en"))
    assert "该个人的数据密钥已于 2026-12-04 08:30 UTC+8 销毁" in zh and "因保存期限届满清除" in zh
    assert "the subject's data key had already been destroyed and every row deleted at 2026-12-04 08:30 CST (the retention purge" in en
    assert not re.search("AES|SM4", zh + en)

