"""Demo data for a first look: a demo CRM service key and a handful of customers with real-shaped values."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from govern.consent.collection import Collection, StatedBasis
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.subjects import service as subjects
from govern.timeutil import utcnow
from govern.validators import luhn_valid, resident_id_check_char

DEMO_PRINCIPAL = "demo-sales"
_SURNAMES = "王李张刘陈杨黄赵吴周"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳"]
# The ID and bank card numbers are sensitive (PIPL Art. 28): collected for the real-name and anti-fraud checks the law
# requires (fraud_prevention rests on a legal obligation in CN), which is the basis each demo write records.
DEMO_BASIS = StatedBasis(basis="legal_obligation", reference="反电信网络诈骗法 real-name check (demo)", purpose="fraud_prevention")


def resident_id(rng: random.Random) -> str:
    body = f"110105{rng.randint(1960, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def bank_card(rng: random.Random) -> str:
    while True:
        card = "622202" + "".join(str(rng.randint(0, 9)) for _ in range(13))
        if luhn_valid(card):
            return card


def seed(*, runtime, count: int = 20) -> str | None:
    """Creates the demo principal and subjects once; returns the demo key when it was created now."""
    actor = Actor(name="demo-seed", kind="system", roles=("system",))
    with runtime.database.unit_of_work() as session:
        if session.scalar(select(Principal.id).where(Principal.name == DEMO_PRINCIPAL)) is not None:
            return None
        issued = identity.create(session=session, policy=runtime.policy, actor=actor, name=DEMO_PRINCIPAL, roles=["sales_service"])
        rng = random.Random(2026)
        for i in range(count):
            subject = subjects.create(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, jurisdiction="CN", language="zh",
                external_ref=f"demo-{i:04d}",
                fields={
                    "name": rng.choice(_SURNAMES) + rng.choice(_GIVEN),
                    "mobile": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
                    "email": f"customer{i}@example.cn",
                    "address": "北京市朝阳区建国路88号",
                    "id_card_number": resident_id(rng),
                    "bank_card_number": bank_card(rng),
                },
                collection=Collection(stated=DEMO_BASIS),
            )
            subjects.add_record(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, subject_id=subject.id,
                type="purchase", occurred_at=utcnow() - timedelta(days=rng.randint(1, 400)),
                payload={"order": f"SO-{i:05d}", "amount_cny": rng.randint(20, 5000)},
            )
        return issued.api_key
