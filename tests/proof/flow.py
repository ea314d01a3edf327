"""A realistic day of govern, driven through the API: a subject with every catalog field, records, consent, a
disclosure, an access request answered with a package, an erasure, an audit export and checkpoint, a retention plan
and hold, and a breach with letters. The fuzzing seeds its ids from it; the leak scan runs it with canary values and
then looks for them everywhere.

Every response is kept (role, method, path, status, content type, body) so that a scan can ask who saw what.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from govern.validators import luhn_valid, resident_id_check_char
from tests.conftest import FIXTURE_BASES

TEXTS = {
    "what_happened": {"zh": "一个客服系统的API密钥被盗用。", "en": "A customer-service API key was stolen."},
    "cause": {"zh": "密钥被误提交到公开代码仓库。", "en": "The key was committed to a public repository."},
    "consequences": {"zh": "可能收到诈骗电话。", "en": "Scam calls are possible."},
    "measures": {"zh": "已停用该密钥。", "en": "The key was disabled."},
    "what_you_can_do": {"zh": "警惕冒充本公司的来电。", "en": "Be wary of calls claiming to be from us."},
}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def canary_fields() -> dict[str, str]:
    """A value for every catalog field that could not occur by chance anywhere else (gender is an enumeration: left out
    of the scan, but still sent)."""
    tag = secrets.token_hex(4)
    day = secrets.randbelow(28) + 1
    body = f"1101051987{secrets.randbelow(12) + 1:02d}{day:02d}{secrets.randbelow(1000):03d}"
    card_body = f"62220{secrets.randbelow(10**13):013d}"
    card = next(card_body + str(d) for d in range(10) if luhn_valid(card_body + str(d)))
    return {
        "name": f"金丝雀{tag}",
        "birth_date": f"1987-06-{day:02d}",
        "gender": "undisclosed",
        "mobile": f"139{secrets.randbelow(10**8):08d}",
        "email": f"canary.{tag}@example.cn",
        "address": f"广州市天河区金丝雀路{tag}号",
        "id_card_number": body + resident_id_check_char(body),
        "bank_card_number": card,
        "health": f"哮喘-{tag}",
        "religion": f"religion-{tag}",
        "biometric": base64.b64encode(b"canary-biometric-" + tag.encode()).decode(),
        "precise_location": f"23.{secrets.randbelow(10**5):05d}{secrets.randbelow(9) + 1},113.{secrets.randbelow(10**5):05d}{secrets.randbelow(9) + 1}",  # no trailing 0 to normalise away
    }


@dataclass
class Seen:
    role: str
    method: str
    path: str
    status: int
    content_type: str
    body: bytes


@dataclass
class Client:
    """A principal's API client that keeps every answer it was given."""

    client: Any
    api_key: str
    role: str
    name: str
    seen: list[Seen]

    def open(self, method: str, url: str, json=None, purpose: str | None = None, headers: dict | None = None, **kw):
        sent = {**({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}), **({"X-Purpose": purpose} if purpose else {}), **(headers or {})}
        r = self.client.open(url, method=method, json=json, headers=sent, **kw)
        self.seen.append(Seen(self.role, method, url.split("?")[0], r.status_code, r.content_type or "", r.get_data()))
        r.close()  # file answers (packages, exports) hold a spooled file until closed
        return r

    def get(self, url, **kw):
        return self.open("GET", url, **kw)

    def post(self, url, json=None, **kw):
        return self.open("POST", url, json=json, **kw)

    def patch(self, url, json=None, **kw):
        return self.open("PATCH", url, json=json, **kw)


@dataclass
class Flow:
    """What the flow made: ids to seed the fuzzing with, and the values that went in."""

    subject_id: str = ""
    erased_subject_id: str = ""
    record_id: str = ""
    receipt_id: str = ""
    recipient_id: str = ""
    request_id: str = ""
    erasure_request_id: str = ""
    hold_id: str = ""
    plan_id: str = ""
    incident_id: str = ""
    notification_id: str = ""
    letter_id: str = ""
    endpoint_id: str = ""
    delivery_id: str = ""
    audit_seq: int = 1
    fields: dict[str, str] = field(default_factory=dict)
    erased_fields: dict[str, str] = field(default_factory=dict)
    record_secret: str = ""
    seen: list[Seen] = field(default_factory=list)

    def path_values(self) -> dict[str, Any]:
        """Real values for the OpenAPI path parameters, by name."""
        return {
            "subject_id": self.subject_id, "request_id": self.request_id, "recipient_id": self.recipient_id, "receipt_id": self.receipt_id,
            "hold_id": self.hold_id, "plan_id": self.plan_id, "incident_id": self.incident_id, "notification_id": self.notification_id,
            "letter_id": self.letter_id, "seq": self.audit_seq, "purpose": "marketing", "run_id": 1,
            "endpoint_id": self.endpoint_id, "delivery_id": self.delivery_id,
        }


def make_clients(app, runtime, roles: list[str], seen: list[Seen], prefix: str = "proof") -> dict[str, Client]:
    """One principal per role, created through the identity service (the key is shown once, as to an operator)."""
    from govern.identity import service
    from govern.identity.actor import Actor

    out = {}
    with runtime.database.unit_of_work() as session:
        for role in roles:
            name = f"{prefix}-{role}-{uuid.uuid4().hex[:6]}".replace("_", "-")
            kind = "staff" if runtime.policy.roles[role].kind == "staff" else "service"  # a staff API key names a person (four eyes)
            issued = service.create(session=session, policy=runtime.policy, actor=Actor.operator(), name=name, roles=[role], kind=kind)
            out[role] = Client(app.test_client(), issued.api_key, role, name, seen)
    return out


def _ok(r, *statuses: int) -> dict:
    assert r.status_code in (statuses or (200, 201)), (r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json(silent=True) or {}


def run(app, runtime, *, fields: dict[str, str] | None = None, erased_fields: dict[str, str] | None = None, with_breach: bool = True) -> Flow:
    flow = Flow(fields=dict(fields or canary_fields()), erased_fields=dict(erased_fields or canary_fields()))
    roles = ["sales_service", "support_service", "marketing_service", "privacy_staff", "dpo", "security", "auditor", "admin"]
    c = make_clients(app, runtime, roles, flow.seen)
    sales, support, marketing, privacy, dpo, security = (c[r] for r in roles[:6])
    start = datetime.now(timezone.utc) - timedelta(seconds=2)

    # Subjects with every catalog field, through the API; records; purpose-bound reads as several roles; a look-up.
    # Sensitive fields are collected on a recorded basis (govern/consent/collection.py): the test fixture's.
    basis = FIXTURE_BASES["CN"]
    flow.subject_id = _ok(sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "external_ref": "crm-proof-1", "fields": flow.fields, "sensitive_basis": basis}))["id"]
    flow.erased_subject_id = _ok(sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "external_ref": "crm-proof-2", "fields": flow.erased_fields, "sensitive_basis": basis}))["id"]

    flow.record_secret = f"送货备注-{secrets.token_hex(4)}"
    sid = flow.subject_id
    flow.record_id = _ok(sales.post(f"/api/v1/subjects/{sid}/records", json={
        "type": "purchase", "occurred_at": iso(datetime.now(timezone.utc)), "payload": {"note": flow.record_secret, "amount": 42},
    }))["id"]
    _ok(sales.post(f"/api/v1/subjects/{flow.erased_subject_id}/records", json={
        "type": "communication", "occurred_at": iso(datetime.now(timezone.utc)), "payload": {"note": flow.erased_fields["name"]},
    }))
    read = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    _ok(read)
    support.get(f"/api/v1/subjects/{sid}", purpose="customer_service")
    support.get(f"/api/v1/subjects/{sid}", purpose="health_services")  # refused without separate consent: an error response
    dpo.get(f"/api/v1/subjects/{sid}", purpose="legal_compliance")
    dpo.get(f"/api/v1/subjects/{sid}/records", purpose="legal_compliance")
    security.get(f"/api/v1/subjects/{sid}", purpose="fraud_prevention")
    _ok(sales.post("/api/v1/subjects/lookup", json={"field": "mobile", "value": flow.fields["mobile"]}, purpose="order_fulfilment"))
    sales.post("/api/v1/subjects/lookup", json={"field": "email", "value": "nobody." + flow.fields["email"]}, purpose="order_fulfilment")
    # Refused writes carry the values in their requests: the answers must not echo them.
    sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"email": "not valid " + flow.fields["email"]}}, headers={"If-Match": read.headers["ETag"]})
    sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {**flow.fields, "mobile": "1" + flow.fields["mobile"]}})
    sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "fields": {**flow.fields, "id_card_number": flow.fields["id_card_number"][:-1] + "0"}})

    # Consent, a recipient and a disclosure.
    flow.recipient_id = _ok(privacy.post("/api/v1/recipients", json={
        "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing", "categories": ["basic_identity", "contact"],
        "country": "CN", "agreement_ref": "DSA-2026-007", "agreement_expires_on": (date.today() + timedelta(days=365)).isoformat(),
    }))["id"]
    receipt = _ok(sales.post(f"/api/v1/subjects/{sid}/consents", json={
        "action": "grant", "purpose": "partner_marketing", "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
        "separate": True, "recipients": [flow.recipient_id],
    }))
    flow.receipt_id = receipt["consentReceiptID"]
    _ok(sales.post(f"/api/v1/subjects/{sid}/consents", json={"action": "grant", "purpose": "marketing", "notice_version": "2026-01", "channel": "web", "evidence": "form-10"}), 201)
    _ok(marketing.post(f"/api/v1/subjects/{sid}/disclosures", json={"recipient_id": flow.recipient_id, "fields": ["name", "mobile"]}))
    marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    sales.get(f"/api/v1/subjects/{sid}/consents")

    # An access request answered with a package; an erasure of the second subject (a tombstone in GOVERN_HOME).
    flow.request_id = _ok(sales.post("/api/v1/requests", json={"subject_id": sid, "type": "access", "channel": "app"}))["id"]
    verified = _ok(sales.post(f"/api/v1/requests/{flow.request_id}/verify", json={"method": "crm_session", "reference": "sess-proof-1"}))
    _ok(privacy.post(f"/api/v1/requests/{flow.request_id}/complete", json={"explanation": "package ready"}))
    _ok(privacy.get(f"/api/v1/requests/{flow.request_id}/package"))  # privacy staff, with their own credential
    # The CRM hands the one-time token to the customer, who downloads without any API key.
    subject = Client(app.test_client(), "", "subject", "subject", flow.seen)
    _ok(subject.post("/api/v1/requests/download", json={"token": verified["package_token"]["token"]}))
    # A webhook endpoint of the CRM component, told of the erasure below (the outbox keeps the delivery; nobody sends it here).
    principals = _ok(c["admin"].get("/api/v1/principals?limit=200"))["items"]
    crm_id = next(p["id"] for p in principals if p["name"] == sales.name)
    flow.endpoint_id = _ok(c["admin"].post("/api/v1/webhooks/endpoints", json={
        "url": "https://crm.example.cn/govern-hooks", "owner": {"kind": "principal", "id": crm_id}, "event_types": ["subject.erased"],
    }), 201)["id"]
    flow.erasure_request_id = _ok(sales.post("/api/v1/requests", json={"subject_id": flow.erased_subject_id, "type": "erasure", "channel": "app"}))["id"]
    _ok(sales.post(f"/api/v1/requests/{flow.erasure_request_id}/verify", json={"method": "crm_session", "reference": "sess-proof-2"}))
    _ok(privacy.post(f"/api/v1/requests/{flow.erasure_request_id}/complete", json={}))
    privacy.get(f"/api/v1/requests/{flow.erasure_request_id}/certificate")
    flow.delivery_id = _ok(privacy.get(f"/api/v1/webhooks/deliveries?request_id={flow.erasure_request_id}"))["items"][0]["id"]

    # Retention: a hold, a plan (dry run and saved), and its approval by a second person.
    flow.hold_id = _ok(privacy.post("/api/v1/holds", json={"subject_id": sid, "reason": "litigation", "note": "case 7"}))["id"]
    _ok(privacy.post("/api/v1/retention/plans", json={"dry_run": True}))
    flow.plan_id = _ok(privacy.post("/api/v1/retention/plans", json={"note": "monthly review"}))["id"]
    dpo.post(f"/api/v1/retention/plans/{flow.plan_id}/approve")

    # The audit log: a checkpoint in GOVERN_HOME and an export.
    from govern.audit import checkpoints

    checkpoints.issue(database=runtime.database, settings=runtime.settings)
    export = dpo.get("/api/v1/audit/export")
    _ok(export)
    events = dpo.get("/api/v1/audit/events?limit=5").get_json() or {}
    flow.audit_seq = next((e.get("seq") for e in events.get("items", []) if e.get("seq")), 1)

    # A breach: the sales key read the subject; scope, assessment, letters to the subjects.
    if with_breach:
        flow.incident_id = _ok(dpo.post("/api/v1/incidents", json={
            "title": "Leaked key", "detected_at": iso(datetime.now(timezone.utc)), "source": {"principals": [sales.name], "from": iso(start)},
        }))["id"]
        iid = flow.incident_id
        _ok(dpo.post(f"/api/v1/incidents/{iid}/scope", json={}))
        _ok(dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "contact data read", "texts": TEXTS}))
        notes = _ok(dpo.get(f"/api/v1/incidents/{iid}")).get("notifications", [])
        subject_note = next(n for n in notes if n["key"] == "pipl_subjects")
        flow.notification_id = subject_note["id"]
        _ok(dpo.post(f"/api/v1/incidents/{iid}/notifications/{flow.notification_id}/letters", json={}))
        letters = _ok(dpo.get(f"/api/v1/incidents/{iid}/notifications/{flow.notification_id}/letters")).get("items", [])
        for row in letters:
            flow.letter_id = row["id"]
            _ok(dpo.get(f"/api/v1/incidents/{iid}/letters/{row['id']}"))
        dpo.get(f"/api/v1/incidents/{iid}/report")
    return flow
