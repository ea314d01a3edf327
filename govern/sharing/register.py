"""Sharing's answer to consent's port (govern/consent/recipients.py): the recipients a grant or a notice names, read
from this domain's register. Installed when govern.sharing is imported (its __init__)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.consent import recipients
from govern.consent.recipients import RegisteredRecipient
from govern.sharing.models import Recipient


def _registered(r: Recipient) -> RegisteredRecipient:
    return RegisteredRecipient(
        id=r.id, name=r.name, contact=r.contact, country=r.country, purpose=r.purpose, categories=tuple(r.categories or ()),
        disabled=r.disabled_at is not None,
    )


class SharingRegister:
    def find(self, session: Session, recipient_id: uuid.UUID) -> RegisteredRecipient | None:
        r = session.get(Recipient, recipient_id)
        return None if r is None else _registered(r)

    def in_force(self, session: Session, purpose: str, today: date) -> list[RegisteredRecipient]:
        rows = session.scalars(
            select(Recipient).where(Recipient.purpose == purpose, Recipient.disabled_at.is_(None), Recipient.agreement_expires_on >= today)
            .order_by(Recipient.name)
        )
        return [_registered(r) for r in rows]


recipients.install(SharingRegister())
