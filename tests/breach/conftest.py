"""Factories for breach tests: open an incident through the API or the service, at a chosen moment."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone

import pytest

from govern.identity.actor import Actor

DPO = Actor(name="dpo-test", kind="staff", roles=("dpo",))

TEXTS = {
    "what_happened": {"zh": "一个客服系统的API密钥被盗用，攻击者读取了部分客户资料。", "en": "A customer-service API key was stolen and used to read customer profiles."},
    "cause": {"zh": "该密钥被误提交到公开代码仓库。", "en": "The key had been committed to a public code repository by mistake."},
    "consequences": {"zh": "可能收到诈骗电话或钓鱼邮件。", "en": "Scam calls or phishing e-mails are possible."},
    "measures": {"zh": "已停用该密钥并轮换主密钥。", "en": "The key was disabled and the master key rotated."},
    "what_you_can_do": {"zh": "警惕冒充本公司的来电和邮件。", "en": "Be wary of calls and e-mails claiming to be from us."},
}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


@pytest.fixture
def act(runtime):
    """act(fn, **kw): calls a breach service/flows/letters function in its own transaction with the runtime's context."""

    def call(fn, actor: Actor = DPO, **kw):
        with runtime.database.unit_of_work() as session:
            params = inspect.signature(fn).parameters
            extra = {k: v for k, v in {"policy": runtime.policy, "envelope": runtime.envelope, "actor": actor}.items() if k in params}
            return fn(session=session, **extra, **kw)

    return call


@pytest.fixture
def open_incident(act):
    """open_incident(aware_at=…, **fields) -> incident id, through the service."""
    from govern.breach import service

    def make(aware_at: datetime | None = None, detected_at: datetime | None = None, now: datetime | None = None, **data):
        aware_at = aware_at or datetime.now(timezone.utc) - timedelta(hours=1)
        body = {"title": "Stolen API key", "detected_at": detected_at or aware_at, "aware_at": aware_at, **data}
        return act(service.create, data=body, now=now or max(aware_at, datetime.now(timezone.utc))).id

    return make


@pytest.fixture
def dpo(client_as):
    return client_as("dpo")


def late_gdpr_filing(runtime) -> tuple:
    """An incident the security team became aware of 80 hours ago, assessed as notifiable to the GDPR authority (so
    its 72-hour filing is late), and that filing's letter with the reasons for the delay, in zh and en:
    (incident id, notification id, letter id)."""
    from govern.breach import letters, service

    soc = Actor(name="soc", kind="staff", roles=("security",))
    aware = datetime.now(timezone.utc) - timedelta(hours=80)
    with runtime.database.unit_of_work() as session:
        incident = service.create(session=session, policy=runtime.policy, actor=soc, data={"title": "Laptop with a CRM export stolen from a car", "detected_at": aware, "aware_at": aware})
        service.assess(session=session, policy=runtime.policy, actor=soc, incident_id=incident.id, data={
            "risk": "risk", "notify": "yes", "rationale": "unencrypted", "people": {"EU": 12}, "categories": ["contact"], "texts": TEXTS})
        [gdpr] = [n for n in service.notifications(session=session, incident_id=incident.id) if n.key == "gdpr_authority"]
        letters.generate(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=soc, incident_id=incident.id, notification_id=gdpr.id,
                         delay_reasons={"zh": "处理者第四天才告知我们", "en": "the processor told us only on the fourth day"})
        return incident.id, gdpr.id, letters.list_letters(session=session, incident_id=incident.id, notification_id=gdpr.id)[0].id
