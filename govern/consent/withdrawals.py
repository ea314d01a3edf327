"""The consent registry's answer to retention: which subjects withdrew their consent and hold none in its place, as a
SQL condition a purge plan can join on without reading consent's tables itself (PIPL Art. 47 ¶1(3); GDPR Art.
17(1)(b)). Reads the state projection only; decides nothing about what is deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Collection

from sqlalchemy import and_, exists, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from govern.consent.models import ConsentState

GRANTED, WITHDRAWN = "granted", "withdrawn"


def withdrawn_and_none_in_force(subject_id: ColumnElement, purposes: Collection[str], cutoff: datetime) -> ColumnElement[bool]:
    """True for the subject (`subject_id`, a column of the caller's query) who withdrew consent to at least one of
    `purposes` at or before `cutoff` and now holds no consent to any of them: none granted, none withdrawn after
    `cutoff` (the latest withdrawal is the one a grace period counts from)."""
    names = sorted(purposes)
    mine = and_(ConsentState.subject_id == subject_id, ConsentState.purpose.in_(names))
    withdrawn = exists().where(mine, ConsentState.status == WITHDRAWN, ConsentState.occurred_at <= cutoff)
    in_force_or_recent = exists().where(
        mine, or_(ConsentState.status == GRANTED, and_(ConsentState.status == WITHDRAWN, ConsentState.occurred_at > cutoff))
    )
    return and_(withdrawn, not_(in_force_or_recent))
