"""Every free-text field that staff or services type is searched for values of personal data after normalisation
(NFKC, zero-width characters, separators between digits): a dotted mobile, full-width digits, a full-width ＠, a spaced
resident ID or a dashed card number in an incident's title, a reason, a note, a recipient's name, a webhook's name or
an external_ref is refused with 400 problem+json naming the field and the kind, never the value, and nothing is
stored. The table walks the API's free-text fields; the console's forms reach the same checks."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.breach.conftest import TEXTS, iso
from tests.conftest import FIXTURE_BASES

MOBILE_DOTTED = "客户 138.1234.5678"
MOBILE_FULL_WIDTH = "回电 １３８１２３４５６７８"
MOBILE_ZERO_WIDTH = "call 138\u200b1234\u200d5678"
EMAIL_FULL_WIDTH = "wrote from li.si＠example.com"
ID_SPACED = "ID 110105 19491231 002X"
CARD_DASHED = "card 4111-1111-1111-1111"
KINDS = {MOBILE_DOTTED: "a mobile number", MOBILE_FULL_WIDTH: "a mobile number", MOBILE_ZERO_WIDTH: "a mobile number",
         EMAIL_FULL_WIDTH: "an e-mail address", ID_SPACED: "a resident identity number", CARD_DASHED: "a bank-card number"}
DIGITS = re.compile(r"13812345678|110105|4111|li\.si")


@pytest.fixture
def ctx(client_as, make_subject, make_principal):
    """The people and things the table's requests name: an open incident, a subject, a hold, a recipient, a request."""
    dpo, privacy, admin = client_as("dpo"), client_as("privacy_staff"), client_as("admin")
    aware = datetime.now(timezone.utc) - timedelta(hours=2)
    incident = dpo.post("/api/v1/incidents", json={"title": "Lost laptop", "detected_at": iso(aware), "aware_at": iso(aware)})
    assert incident.status_code == 201, incident.json
    sid = make_subject()
    hold = privacy.post("/api/v1/holds", json={"subject_id": str(sid), "reason": "litigation", "note": "case 2026-0042"})
    recipient = privacy.post("/api/v1/recipients", json=_recipient())
    request = privacy.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "web"})
    owner, _ = make_principal("sales_service")
    endpoint = admin.post("/api/v1/webhooks/endpoints", json={
        "url": "https://crm.example.cn/hooks/govern", "owner": {"kind": "principal", "id": str(owner.id)}, "event_types": ["subject.erased"],
    })
    for r in (hold, recipient, request, endpoint):
        assert r.status_code == 201, r.json
    return {
        "dpo": dpo, "privacy_staff": privacy, "admin": admin, "sales_service": client_as("sales_service"),
        "incident": incident.json["id"], "subject": str(sid), "hold": hold.json["id"], "recipient": recipient.json["id"],
        "recipient_etag": recipient.headers["ETag"], "request": request.json["id"], "endpoint": endpoint.json["id"],
        "endpoint_etag": endpoint.headers["ETag"],
    }


def _recipient(**over):
    return {
        "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity"],
        "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": (date.today() + timedelta(days=365)).isoformat(), **over,
    }


def _review(text):
    return {"to": "closed", "review": {"cause": "false alarm", "lessons": "tune the alert", "actions": [text]}}


# (who, method, path, body with the text in one field, the name of that field in the problem's `errors`)
TABLE = [
    ("dpo", "POST", "/api/v1/incidents", lambda t: {"title": t, "detected_at": "2026-11-27T08:00:00+08:00"}, "title"),
    ("dpo", "POST", "/api/v1/incidents", lambda t: {"title": "Lost laptop", "detected_at": "2026-11-27T08:00:00+08:00", "reported_by": t}, "reported_by"),
    ("dpo", "POST", "/api/v1/incidents", lambda t: {"title": "Lost laptop", "detected_at": "2026-11-27T08:00:00+08:00", "description": t}, "description"),
    ("dpo", "POST", "/api/v1/incidents/{incident}/assessment", lambda t: {"risk": "unlikely", "notify": "no", "rationale": t}, "rationale"),
    ("dpo", "POST", "/api/v1/incidents/{incident}/assessment",
     lambda t: {"rationale": "laptop encrypted", "texts": {**TEXTS, "what_happened": {"zh": t, "en": "A laptop was lost."}}}, "texts"),
    ("dpo", "POST", "/api/v1/incidents/{incident}/transition", lambda t: {"to": "assessing", "note": t}, "note"),
    ("dpo", "POST", "/api/v1/incidents/{incident}/transition", _review, "review"),
    ("dpo", "POST", "/api/v1/incidents/{incident}/containment", lambda t: {"action": "other", "note": t}, "note"),
    ("privacy_staff", "POST", "/api/v1/holds", lambda t: {"subject_id": "{subject}", "reason": "litigation", "note": t}, "note"),
    ("privacy_staff", "POST", "/api/v1/holds", lambda t: {"subject_id": "{subject}", "reason": "litigation", "owner": t}, "owner"),
    ("privacy_staff", "DELETE", "/api/v1/holds/{hold}", lambda t: {"reason": t}, "reason"),
    ("privacy_staff", "POST", "/api/v1/retention/plans", lambda t: {"note": t}, "note"),
    ("privacy_staff", "POST", "/api/v1/recipients", lambda t: _recipient(name=t), "name"),
    ("privacy_staff", "POST", "/api/v1/recipients", lambda t: _recipient(agreement_ref=t), "agreement_ref"),
    ("privacy_staff", "PATCH", "/api/v1/recipients/{recipient}", lambda t: {"name": t}, "name"),
    ("admin", "POST", "/api/v1/webhooks/endpoints",
     lambda t: {"name": t, "url": "https://crm.example.cn/hooks/x", "owner": {"kind": "recipient", "id": "{recipient}"}, "event_types": ["subject.erased"]}, "name"),
    ("admin", "PATCH", "/api/v1/webhooks/endpoints/{endpoint}", lambda t: {"name": t}, "name"),
    ("privacy_staff", "POST", "/api/v1/requests/{request}/verify", lambda t: {"method": "document", "reference": t}, "reference"),
    ("dpo", "POST", "/api/v1/requests/{request}/refuse", lambda t: {"reason": "other", "legal_basis": t}, "legal_basis"),
    ("dpo", "POST", "/api/v1/requests/{request}/refuse", lambda t: {"reason": "other", "legal_basis": "GDPR Art. 12(5)(b)", "explanation": t}, "explanation"),
]


def _fill(value, ctx):
    if isinstance(value, str):
        return ctx[value[1:-1]] if re.fullmatch(r"\{\w+\}", value) else value
    if isinstance(value, dict):
        return {k: _fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value


@pytest.mark.parametrize("text", list(KINDS))
@pytest.mark.parametrize(("who", "method", "path", "body", "field"), TABLE, ids=[f"{m} {p} {f}" for _, m, p, _, f in TABLE])
def test_free_text_holding_a_personal_value_in_any_spelling_is_refused_naming_the_kind(ctx, row_counts, who, method, path, body, field, text):
    client = ctx[who]
    headers = {"If-Match": ctx["recipient_etag"] if "recipients/" in path else ctx["endpoint_etag"]} if method == "PATCH" else {}
    before = row_counts()
    payload = _fill(body(text), ctx)
    if method == "DELETE":  # a hold is lifted with its reason in the query
        r = client.open(path.format(**ctx), method=method, query_string=payload, headers=headers)
    else:
        r = client.open(path.format(**ctx), method=method, json=payload, headers=headers)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json"), r.json
    messages = [m for name, ms in r.json["errors"].items() if field in name.split(".") for m in ms]
    # A zero-width character is not printable: fields that take printable text only refuse it for that already.
    assert any(KINDS[text] in m or (not text.isprintable() and "printable" in m) for m in messages), r.json
    answer = json.dumps({k: v for k, v in r.json.items() if k != "instance"}, ensure_ascii=False)  # the request id is random hex
    assert not DIGITS.search(answer) and "１３８" not in answer and "＠" not in answer
    assert row_counts() == before


def test_a_recipient_contact_may_be_a_role_address_but_not_a_persons_mobile(ctx):
    privacy = ctx["privacy_staff"]
    assert privacy.post("/api/v1/recipients", json=_recipient(name="Partner Two Ltd", contact="dpo＠partner.example")).status_code == 201
    r = privacy.post("/api/v1/recipients", json=_recipient(contact="Mr Li, 138-1234-5678"))
    assert r.status_code == 400 and "a mobile number" in r.json["errors"]["contact"][0]


ORDINARY = [
    "Laptop lost on 2026-11-27 at 13:45, found 2026/11/28",
    "Refund ¥1,380.00 of order ORD-2026-000123-7; ticket 20261127000001",
    "Between 2026-11-15 – 2026-11-16 the key 172.16.254.123 read 13 800 000 000.00 yuan of invoices",
    "GDPR Art. 33(1), PIPL Art. 57, GB/T 35273-2020 §9.1; case DOC-2026-000123",
    "客服热线 400-820-8820，工单 2026-1127-0001，金额 ￥12,345.67",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_with_dates_order_numbers_and_amounts_is_accepted(ctx, text):
    dpo, privacy = ctx["dpo"], ctx["privacy_staff"]
    assert dpo.post(f"/api/v1/incidents/{ctx['incident']}/assessment", json={"risk": "unlikely", "notify": "no", "rationale": text}).status_code == 201
    assert privacy.post("/api/v1/holds", json={"subject_id": ctx["subject"], "reason": "litigation", "note": text[:500]}).status_code == 201


@pytest.mark.parametrize(("ref", "code"), [
    ("crm-1", 201), ("SHOP:eu.customer_000042", 201), ("a" * 128, 201),
    ("a" * 129, 400), ("crm 1", 400), ("张三", 400), ("li@example.com", 400), ("crm/1", 400),
    ("13812345678", 400), ("138.1234.5678", 400), ("11010519491231002X", 400), ("4111-1111-1111-1111", 400),
])
def test_external_ref_follows_its_documented_pattern_and_holds_no_personal_value(client_as, valid_fields, row_counts, ref, code):
    sales = client_as("sales_service")
    before = row_counts()
    r = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "external_ref": ref, "fields": valid_fields})
    assert r.status_code == code, r.json
    if code == 400:
        assert r.json["code"] == "validation_failed" and "external_ref" in r.json["errors"]
        assert ref not in r.get_data(as_text=True) and row_counts() == before


def test_the_documented_external_ref_pattern_is_in_the_openapi_document(client_as):
    spec = client_as("sales_service").get("/api/v1/openapi.json").json
    assert spec["components"]["schemas"]["SubjectCreate"]["properties"]["external_ref"]["pattern"] == r"^[A-Za-z0-9._:-]{1,128}$"


@pytest.mark.parametrize("url", ["https://crm.example.cn/hooks?notify=138.1234.5678", "https://crm.example.cn/hooks/li.si＠example.com"])
def test_a_webhook_url_holding_a_personal_value_is_refused(ctx, url):
    r = ctx["admin"].post("/api/v1/webhooks/endpoints", json={
        "url": url, "owner": {"kind": "recipient", "id": ctx["recipient"]}, "event_types": ["subject.erased"],
    })
    assert r.status_code == 400 and "url" in r.json["errors"] and "1234" not in json.dumps(r.json["errors"]) + r.json["detail"]
