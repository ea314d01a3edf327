"""A request's page shows privacy staff the subject's consents and what each covered as the person was told it:
purpose, state, notice version, fields, record types and the recipients the grant named (zh and en), taken from the
receipts; the look is audited as a consent-history read."""

from __future__ import annotations

from tests.subject_requests.conftest import file_request  # noqa: F401  (fixtures)
from tests.subject_requests.test_package_consent_scope import _consented_subject


def test_the_request_page_shows_the_subjects_consents_and_their_scope(console_as, client_as, make_subject, runtime, file_request, audit_events):  # noqa: F811
    sid, _ = _consented_subject(client_as, make_subject, runtime)
    rid = file_request(sid, "access")
    c = console_as("privacy_staff")
    zh = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    table = zh.split('id="consent-scope"')[1].split("</table>")[0]
    assert "该个人的同意及其范围" in zh and "partner_marketing" in table and "2026-01" in table and "已同意" in table
    assert "电子邮箱, 手机号码, 姓名" in table and "购买记录" in table and "Partner Brand Ltd (CN, privacy@partner.example)" in table  # by their names
    assert "已撤回同意" in table and "2026-06" in table  # the marketing consent, withdrawn since
    c.post("/console/preferences", {"language": "en"})
    en = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert "The subject&#39;s consents and what each covers" in en or "The subject's consents and what each covers" in en
    assert [e.resource for e in audit_events(action="consent:history:read", subject_id=sid)] == [f"subject:{sid}/consents/scope"] * 2


def test_a_subject_without_consents_says_so(console_as, make_subject, file_request):  # noqa: F811
    rid = file_request(make_subject(), "access")
    page = console_as("privacy_staff").get(f"/console/requests/{rid}").get_data(as_text=True)
    assert 'id="consent-scope"' in page and "没有同意记录。" in page
