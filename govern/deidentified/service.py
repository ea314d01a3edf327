"""Pseudonymised exports (PIPL Art. 73(3) 去标识化, GDPR Art. 4(5)) and anonymised aggregates (PIPL Art. 73(4) 匿名化,
GDPR Recital 26), each for a stated purpose and audited with it.

A pseudonymised export is still personal data, so it stays inside rights handling: it carries only the subjects whose
data the purpose may be used for now (access.allowed_subjects: the read rule — an erased subject is gone, a restricted
one, one without the consent or with a standing objection is left out), only the fields and record payload keys
policies/deidentified.yaml lists (further limited to what the purpose may use and the role sees in full), times cut to
the day, and the subject id replaced by a keyed pseudonym (deidentified/keys.py). Each subject's read is audited as an
export with the export's id; the export itself once, with the purpose and the key version.

An aggregate counts subjects by the chosen dimensions, over the same subjects, and suppresses every cell with fewer
than `aggregate.min_group_size` subjects; it publishes neither a total nor the size of what it suppressed, so a
suppressed cell cannot be recovered by subtraction. It opens no value: the dimensions are what govern keeps in the
clear (jurisdiction, language, record type, month of a record).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlalchemy.orm import Session

from govern.access import service as access
from govern.audit import service as audit
from govern.audit.tags import DeidentifiedAction
from govern.consent.service import MAX_CHECK_IDS
from govern.crypto.envelope import Envelope
from govern.deidentified import keys as export_keys
from govern.errors import validation_failed
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.subjects import rights as subject_rights
from govern.timeutil import as_utc, utcnow

PSEUDONYMISED_FORMAT = "govern-pseudonymised/1"
AGGREGATE_FORMAT = "govern-aggregate/1"
RECORD_DIMENSIONS = ("record_type", "month")


def _allowed_ids(session: Session, policy: Policy, envelope: Envelope, actor: Actor, purpose: str, now: datetime) -> Iterator[list[uuid.UUID]]:
    """The subjects whose data may be used for the purpose now, in batches the bulk read rule takes at once."""
    last: uuid.UUID | None = None
    while True:
        batch = subject_rights.live_subject_ids(session=session, after=last, limit=MAX_CHECK_IDS)
        if not batch:
            return
        last = batch[-1]
        allowed = access.allowed_subjects(session=session, policy=policy, envelope=envelope, actor=actor, purpose_name=purpose, subject_ids=batch, now=now)
        yield [uuid.UUID(str(s)) for s in allowed]


def _names(given: Sequence[str] | None, allowed: set[str], key: str) -> set[str]:
    if given is None:
        return set(allowed)
    outside = sorted(set(given) - allowed)
    if outside:
        raise validation_failed({key: [f"not exportable for this purpose: {', '.join(outside)} (policies/deidentified.yaml, policies/purposes.yaml)"]})
    return set(given)


@dataclass(frozen=True)
class Export:
    id: uuid.UUID
    document: dict[str, Any]


def pseudonymised(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, key_file: Path, purpose: str | None,
    fields: Sequence[str] | None = None, record_types: Sequence[str] | None = None, now: datetime | None = None,
) -> Export:
    """A pseudonymised export of the subjects the purpose may use now: pseudonym, jurisdiction, the listed fields and
    the listed payload keys of the listed record types; audited per subject and once as a whole. The export key is
    read from `key_file` once the purpose is authorised (503 export_key_missing without a usable one)."""
    now = as_utc(now) if now else utcnow()
    rules = policy.deidentified
    chosen = access.authorise_purpose(policy=policy, actor=actor, purpose_name=purpose, action=DeidentifiedAction.PSEUDONYMISED_EXPORT)
    visible = access.field_visibility(policy=policy, actor=actor, purpose=chosen)
    field_names = _names(fields, {f for f in rules.fields if f in chosen.fields and visible.get(f) == "full"}, "fields")
    type_names = _names(record_types, {t for t in rules.record_payload_keys if t in chosen.record_types}, "record_types")
    keys = export_keys.load(key_file)
    export_id = uuid.uuid4()
    reference = f"deidentified-export:{export_id}"
    rows: list[dict[str, Any]] = []
    for batch in _allowed_ids(session, policy, envelope, actor, chosen.name, now):
        for sid in batch:
            data = subject_rights.export_all(
                session=session, policy=policy, envelope=envelope, actor=actor, subject_id=sid, purpose=chosen.name, reference=reference,
                field_names=sorted(field_names), record_types=sorted(type_names),
            )
            records = []
            for r in data.records:
                keep = rules.record_payload_keys[r.type]
                when = as_utc(r.occurred_at).date().isoformat()
                records.append({
                    "type": r.type, "occurred_on": when if rules.time_precision == "day" else when[:7],
                    "data": {k: v for k, v in sorted(r.payload.items()) if k in keep} if isinstance(r.payload, dict) else {},
                })
            records.sort(key=lambda x: (x["occurred_on"], x["type"]))
            rows.append({
                "pseudonym": keys.pseudonym(sid), "jurisdiction": data.subject.jurisdiction,
                "fields": {f.name: f.value for f in data.fields}, "records": records,
            })
    # Ordered by pseudonym, not by subject id or creation: the order must not lead back to the id either.
    rows.sort(key=lambda row: row["pseudonym"])
    audit.append(
        session=session, actor=actor, action=DeidentifiedAction.PSEUDONYMISED_EXPORT, purpose=chosen.name,
        field_names=sorted(field_names) + [f"record:{t}" for t in sorted(type_names)],
        resource=f"{reference}/key:v{keys.active}/subjects:{len(rows)}",
    )
    document = {
        "format": PSEUDONYMISED_FORMAT, "export_id": str(export_id), "created_at": now.isoformat(), "purpose": chosen.name,
        "kind": "pseudonymised", "personal_data": True, "key_version": keys.active,
        "statement": (
            "Pseudonymised (去标识化, PIPL Art. 73(3); GDPR Art. 4(5)): subject ids are replaced by keyed pseudonyms (HMAC-SHA256 "
            "under an export key held apart from this file and from the data keys), direct identifiers are left out and times "
            "cut to the " + rules.time_precision + ". Still personal data: whoever holds the export key can link a pseudonym back. "
            "Use it only for the stated purpose; erased, restricted or objecting subjects, and those without the consent the "
            "purpose needs, are not in it."
        ),
        "source": rules.pseudonymised_source, "fields": sorted(field_names), "record_types": sorted(type_names), "subjects": rows,
    }
    return Export(id=export_id, document=document)


def aggregate(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, purpose: str | None, dimensions: Sequence[str], now: datetime | None = None,
) -> Export:
    """Counts of subjects (and of records, when a dimension is a record's) by the dimensions, over the subjects the
    purpose may use now; every cell with fewer subjects than the policy's minimum group size is suppressed. Audited."""
    now = as_utc(now) if now else utcnow()
    rules = policy.deidentified
    chosen = access.authorise_purpose(policy=policy, actor=actor, purpose_name=purpose, action=DeidentifiedAction.AGGREGATE_EXPORT)
    dims = list(dict.fromkeys(dimensions or []))
    unknown = [d for d in dims if d not in rules.dimensions]
    if not dims or unknown:
        raise validation_failed({"dimensions": [f"one or more of {', '.join(rules.dimensions)} (policies/deidentified.yaml)"]})
    by_record = any(d in RECORD_DIMENSIONS for d in dims)
    types = sorted(chosen.record_types)
    if by_record and not types:
        raise validation_failed({"dimensions": [f"'{chosen.name}' may use no record type"]})
    subjects_in: dict[tuple, set[uuid.UUID]] = defaultdict(set)
    records_in: dict[tuple, int] = defaultdict(int)
    for batch in _allowed_ids(session, policy, envelope, actor, chosen.name, now):
        if not batch:
            continue
        heads = subject_rights.attributes(session=session, subject_ids=batch)
        if not by_record:
            for sid, (j, lang) in heads.items():
                subjects_in[tuple({"jurisdiction": j, "language": lang}[d] for d in dims)].add(sid)
            continue
        for sid, rtype, occurred in subject_rights.record_times(session=session, subject_ids=batch, record_types=types):
            j, lang = heads[sid]
            values = {"jurisdiction": j, "language": lang, "record_type": rtype, "month": occurred.strftime("%Y-%m")}
            key = tuple(values[d] for d in dims)
            subjects_in[key].add(sid)
            records_in[key] += 1
    k = rules.min_group_size
    cells, suppressed = [], 0
    for key in sorted(subjects_in):
        n = len(subjects_in[key])
        if n < k:
            suppressed += 1
            continue
        cell: dict[str, Any] = {"dimensions": dict(zip(dims, key, strict=True)), "subjects": n}
        if by_record:
            cell["records"] = records_in[key]
        cells.append(cell)
    export_id = uuid.uuid4()
    audit.append(
        session=session, actor=actor, action=DeidentifiedAction.AGGREGATE_EXPORT, purpose=chosen.name,
        resource=f"deidentified-aggregate:{export_id}/by:{','.join(dims)}/k:{k}/cells:{len(cells)}",
    )
    document = {
        "format": AGGREGATE_FORMAT, "export_id": str(export_id), "created_at": now.isoformat(), "purpose": chosen.name, "kind": "anonymised_aggregate",
        "personal_data": False, "dimensions": dims, "min_group_size": k, "suppressed_cells": suppressed, "cells": cells,
        "statement": (
            f"Anonymised aggregate (匿名化, PIPL Art. 73(4); GDPR Recital 26): counts of distinct subjects per cell; every cell "
            f"with fewer than {k} subjects is suppressed, and no total or suppressed count is given, so no cell can be "
            "recovered by subtraction. It holds no identifier, pseudonym or value. What it does not guarantee: exports of "
            "other dimensions or periods, combined, can narrow a group; publish a series only with the DPO's review."
        ),
        "source": rules.aggregate_source,
    }
    return Export(id=export_id, document=document)
