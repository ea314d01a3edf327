"""Carrying out a verified request across domains: the access and portability package (subjects, consent, sharing,
retention), rectification (subjects), erasure and account closure by crypto-shredding with what the law obliges the
company to keep left in place and restricted (subjects, retention), restriction, objection and consent withdrawal
(subjects, consent). Every step goes through the other domains' services."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.access import service as access
from govern.audit import service as audit
from govern.audit.tags import RequestAction
from govern.consent import scopes
from govern.consent import service as consent
from govern.consent.collection import Collection
from govern.consent.objections import objections_of, record_objections
from govern.crypto import suites
from govern.crypto.envelope import Envelope
from govern.crypto.models import SubjectKey
from govern.crypto.suites import HASH_LABELS, Suite
from govern.errors import Conflict, Forbidden, NotFound, SubjectErased, validation_failed
from govern.identity import service as identity
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.identity.permissions import Permission
from govern.ledgers import ErasureLedgers, Ledger, LedgerMissing
from govern.policy import Policy
from govern.refusals import Refusal
from govern.retention import keeping, shredding
from govern.sharing import service as sharing
from govern.subject_requests import propagation, summary
from govern.subject_requests import service as requests
from govern.subject_requests.models import DataSubjectRequest
from govern.subjects import erasure, masking
from govern.subjects import facts as subject_facts
from govern.subjects import rights as subject_rights
from govern.subjects import service as subjects
from govern.timeutil import as_utc, utcnow
from govern.webhooks import service as webhooks

PACKAGE_TYPES = requests.PACKAGE_TYPES
ERASURE_TYPES = ("erasure", "account_closure")
LEGAL_PURPOSE = "legal_compliance"  # answering a request is a legal obligation: the purpose of its reads


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


# --- completing a request -----------------------------------------------------------------------------------------


def complete(
    *, session: Session, policy: Policy, envelope: Envelope, actor: Actor, request_id: uuid.UUID, ledgers: ErasureLedgers | None = None,
    explanation: str | None = None, occurred_at: datetime | None = None, occurred_reason: str | None = None, now: datetime | None = None,
) -> DataSubjectRequest:
    """Carries the request out and closes it; refused (and nothing done) before the requester's identity is verified.
    An erasure or account closure records what it destroyed in `ledgers` (the runtime's), counting when this commits.
    Staff enter an answer given earlier outside govern (a copy sent by post) with its real time and why
    (`requests.closing_time`): whether it was on time counts from then."""
    now = as_utc(now) if now else utcnow()
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.state != "in_progress":
        if req.state in ("received", "identity_pending"):
            requests.require_verified(req, action=RequestAction.COMPLETE)
        raise requests._illegal(req, "completed", "completed")
    requests.require_verified(req, action=RequestAction.COMPLETE)
    explanation = requests._reason(explanation, required=False)
    at, why = requests.closing_time(policy=policy, actor=actor, req=req, outcome="completed", occurred_at=occurred_at,
                                    occurred_reason=occurred_reason, now=now)
    # GDPR Art. 19: every recipient of the changed data is told (webhook), has a manual task, or a recorded exemption;
    # checked before anything is changed, so a refusal (409 recipients_not_told) leaves the request as it was.
    told = propagation.view(propagation.require_told(session=session, req=req))
    if req.type in PACKAGE_TYPES:
        hours = policy.requests.package_download_hours
        # The package is for the data subject: the filing service asks for a one-time download token to hand over.
        response: dict[str, Any] = {"package": {
            "download_token": f"/api/v1/requests/{req.id}/download-token", "url": f"/api/v1/requests/{req.id}/package",
            "available_until": (at + timedelta(hours=hours)).isoformat(),  # as package_window_end counts it
        }}
    elif req.type == "rectification":
        response = _rectify(session, policy, envelope, actor, req)
    elif req.type in ERASURE_TYPES:
        response = _erase(session, policy, envelope, actor, req, now, ledgers, told)
    elif req.type == "restriction":
        subject_rights.set_status(session=session, actor=actor, subject_id=req.subject_id, status="restricted", reason="restriction_request", reference=requests._ref(req))
        response = {"restricted": True, "allowed": sorted(n for n, p in policy.purposes.items() if p.allowed_when_restricted)}
    elif req.type in ("objection", "withdrawal"):
        response = _stop_purposes(session, policy, envelope, actor, req, now)
    else:  # complaint: recorded, handled by staff, answered
        response = {"handled": True}
    if explanation:
        response["explanation"] = explanation
    if told:
        response["recipients"] = told  # the subject may be told who received the data (GDPR Art. 19, second sentence)
    req.response = response
    data = certificate_digest_fields(response) if response.get("certificate") else {}
    if why:
        data.update(entered_at=now.isoformat(), entered_because=why)
    requests.transition(session, actor, req, "completed", "completed", at, action=RequestAction.COMPLETE, reason=explanation, data=data or None)
    if why:
        requests._backdated(session, actor, req, "completed", at, now)
    webhooks.request_completed(session=session, actor=actor, request=req, now=now)  # propagation (GDPR Art. 19), same transaction
    return req


def _rectify(session: Session, policy: Policy, envelope: Envelope, actor: Actor, req: DataSubjectRequest) -> dict[str, Any]:
    if req.sealed_details is None:
        raise validation_failed({"details.fields": ["the request carries no values to correct"]})
    values = json.loads(subject_facts.open_for_subject(session=session, envelope=envelope, subject_id=req.subject_id, slot=f"request:{req.id}", blob=req.sealed_details))
    subject = subject_facts.get_or_raise(session=session, subject_id=req.subject_id)
    # Validated and audited like any write (field names, never values).
    # A corrected field keeps the basis it was collected on (PIPL Art. 46, GDPR Art. 16); a field the subject did not
    # hold yet needs its own, like any collection (govern/consent/collection.py).
    subjects.update(
        session=session, policy=policy, envelope=envelope, actor=actor, subject_id=subject.id, expected_version=subject.version, fields=values,
        purpose=LEGAL_PURPOSE, collection=Collection(carry_over=f"request:{req.id}"),
    )

    req.sealed_details = None  # applied: the request keeps no copy of the values
    return {"rectified": sorted(values)}


def _stop_purposes(session: Session, policy: Policy, envelope: Envelope, actor: Actor, req: DataSubjectRequest, now: datetime) -> dict[str, Any]:
    """Consent-based (and sale/share) purposes: the consent is withdrawn through the consent registry. An objection also
    records a standing objection to each legitimate-interest purpose (the named ones, or all of them in the subject's
    jurisdiction), which every read for that purpose then refuses (`objection_recorded`) until staff lift it on
    compelling legitimate grounds (GDPR Art. 21(1); 21(3) marketing objection is absolute, and marketing rests on
    consent here). A named purpose on another basis (a contract, a legal obligation: fraud checks in CN) is not stopped
    and is listed with its basis."""
    subject = subject_facts.get_or_raise(session=session, subject_id=req.subject_id)
    named = req.details.get("purposes")
    current = consent.history(session=session, policy=policy, envelope=envelope, actor=actor, subject_id=subject.id, now=now)["current"]
    granted = sorted(c["purpose"] for c in current if c["status"] == "granted" and (named is None or c["purpose"] in named))
    channel = req.channel if req.channel in consent.CHANNELS else "web"
    withdrawn: list[str] = []
    for name in granted:
        consent.record(
            session=session, policy=policy, envelope=envelope, actor=actor, subject_id=subject.id, action="withdraw", purposes=[name],
            channel=channel, evidence=requests._ref(req), now=now,
        )
        withdrawn.append(name)
    response: dict[str, Any] = {"consent_withdrawn": withdrawn}
    if req.type == "objection":
        bases = {n: p.basis_for(subject.jurisdiction) for n, p in policy.purposes.items() if named is None or n in named}
        # Direct marketing (purposes.yaml `direct_marketing`): an absolute objection whatever the basis, never lifted (Art. 21(3)).
        marketing = [n for n in bases if policy.purposes[n].direct_marketing]
        legitimate = [n for n, b in bases.items() if b == access.LEGITIMATE_INTEREST and n not in marketing]
        response["legitimate_interest_objected"] = record_objections(
            session=session, actor=actor, subject_id=subject.id, purposes=legitimate, request_id=req.id, now=now,
        )
        response["direct_marketing_objected"] = record_objections(
            session=session, actor=actor, subject_id=subject.id, purposes=marketing, request_id=req.id, now=now,
        )
        if named is not None:
            response["not_stopped"] = [
                {"purpose": n, "legal_basis": b} for n, b in sorted(bases.items()) if b not in (access.LEGITIMATE_INTEREST, "consent") and n not in marketing
            ]
    else:
        response["legitimate_interest_objected"] = []
    return response


# --- erasure ------------------------------------------------------------------------------------------------------


def _erase(
    session: Session, policy: Policy, envelope: Envelope, actor: Actor, req: DataSubjectRequest, now: datetime, ledgers: ErasureLedgers | None,
    told: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    scope_fields = set(req.details["fields"]) if req.details.get("fields") else None
    scope_types = set(req.details["record_types"]) if req.details.get("record_types") else None
    whole = scope_fields is None and scope_types is None
    if not whole:  # an erasure limited to some data: what it does not name stays
        scope_fields, scope_types = scope_fields or set(), scope_types or set()
    try:
        subject_facts.get_or_raise(session=session, subject_id=req.subject_id)
        algorithm = _key_algorithm(session, req)
    except SubjectErased:
        # Already shredded: an erasure killed after its tombstone reached the file (before its commit) is re-applied
        # at restart, or a purge shredded the subject meanwhile. Nothing is left to destroy or keep; the request
        # must still complete, with a certificate that says when and why the subject was erased.
        method, earlier, destroyed_key = _already_erased(session, req)
        return _certify(session, envelope.suite, actor, req, now, method, destroyed_fields=[], destroyed_types={}, kept=[], status="erased",
                        told=told, already_erased=earlier, key_algorithm=destroyed_key)
    if whole:
        shredded = _shred_at_once(session, policy, envelope, actor, req, now, ledgers, algorithm, told)
        if shredded is not None:
            return shredded
    inv = subject_rights.inventory(session=session, subject_id=req.subject_id)
    keep_fields, keep_records = keeping.what_must_be_kept(session=session, policy=policy, subject_id=req.subject_id, now=now)
    if scope_fields is not None or scope_types is not None:
        keep_fields = {n: k for n, k in keep_fields.items() if scope_fields is None or n in scope_fields}
        keep_records = {r: k for r, k in keep_records.items() if scope_types is None or k.what.removeprefix("record:") in scope_types}
    reason = "erasure_request" if req.type == "erasure" else "account_closure"
    destroyed_types: dict[str, int] = {}
    for rid, rtype, *_ in inv.records:
        if rid not in keep_records and (scope_types is None or rtype in scope_types):
            destroyed_types[rtype] = destroyed_types.get(rtype, 0) + 1
    if whole and not keep_fields and not keep_records:
        shredding.shred(session=session, envelope=envelope, actor=actor, subject_id=req.subject_id, reason=reason, reference=requests._ref(req),
                        ledger=ledgers.tombstones if ledgers else None)
        destroyed_fields = sorted(n for n, _ in inv.fields)
        status = "erased"
    else:
        result = subject_rights.erase_except(
            session=session, envelope=envelope, actor=actor, subject_id=req.subject_id, keep_fields=set(keep_fields), keep_record_ids=set(keep_records),
            erase_fields=scope_fields, erase_record_types=scope_types, reason=reason, reference=requests._ref(req),
        )
        destroyed_fields = result.fields_erased
        status = "active"
        if whole:
            # What is kept may only be stored and used for the purpose it is kept for (PIPL Art. 47 ¶2, GDPR Art. 18(2)).
            subject_rights.set_status(
                session=session, actor=actor, subject_id=req.subject_id, status="restricted", reason=reason, reference=requests._ref(req),
                close_account=req.type == "account_closure",
            )
            status = "restricted"
        if ledgers is not None:
            _stage_erasure(session, ledgers.request_erasures, req, now, set(keep_fields), set(keep_records), scope_fields, scope_types)
    kept_summary: dict[tuple[str, str, str, str | None], int] = {}
    for k in list(keep_fields.values()) + list(keep_records.values()):
        key = (k.what, k.reason, k.legal_basis, k.until)
        kept_summary[key] = kept_summary.get(key, 0) + 1
    kept = [
        {"what": what, "count": n, "reason": reason_, "legal_basis": basis, "until": until, "use": f"storage and {LEGAL_PURPOSE} only"}
        for (what, reason_, basis, until), n in sorted(kept_summary.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3] or ""))
    ]
    method = (
        _SHREDDED.format(algorithm=algorithm)
        if status == "erased" else
        "crypto-shredding: what is kept was sealed under a new data key and the old key destroyed, so every copy of the "
        "erased values, backups included, is unreadable; blind-index entries removed; rows deleted"
    )
    return _certify(session, envelope.suite, actor, req, now, method, destroyed_fields=destroyed_fields, destroyed_types=destroyed_types, kept=kept,
                    status=status, told=told, key_algorithm=algorithm)


# The algorithm of a subject's data key, as a certificate names it, by the format byte its wrapped form starts with.
KEY_ALGORITHMS = {suites.AES_GCM: "AES-256-GCM", suites.SM4_GCM: "SM4-GCM"}
_SHREDDED = (
    "crypto-shredding: the subject's data key ({algorithm}) was destroyed first, so every copy of the erased values, "
    "backups included, is unreadable; blind-index entries removed; cached keys dropped; rows deleted"
)


def _key_algorithm(session: Session, req: DataSubjectRequest) -> str:
    """The algorithm of the data key this erasure destroys, as it stands now: the key's own format (the wrapped key's
    first byte: govern.crypto.envelope), not the suite in force — while `govern keys migrate-suite` converts the data a
    subject not yet converted still has an AES-256 key under commercial_cn. A certificate is evidence: it names that
    key. The row is locked so a migration cannot replace the key between this read and its destruction (it skips
    locked subjects)."""
    wrapped = session.scalar(select(SubjectKey.wrapped_key).where(SubjectKey.subject_id == req.subject_id).with_for_update())
    if wrapped is None:  # a live subject always has its key; without one nothing of it can be read any more
        raise SubjectErased()
    return _algorithm_of(wrapped[0])


def _algorithm_of(key_format: int) -> str:
    return KEY_ALGORITHMS.get(key_format, f"format {key_format}")  # govern writes no other; never a reason to refuse the erasure


def _shred_at_once(
    session: Session, policy: Policy, envelope: Envelope, actor: Actor, req: DataSubjectRequest, now: datetime, ledgers: ErasureLedgers | None,
    algorithm: str, told: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """A whole-subject erasure with nothing to keep (retention decides that in a fixed number of statements), done
    without weighing each record; None when something may have to be kept (the caller then weighs every record)."""
    held = keeping.nothing_to_keep(session=session, policy=policy, subject_id=req.subject_id, now=now)
    if held is None:
        return None
    reason = "erasure_request" if req.type == "erasure" else "account_closure"
    result = shredding.shred(
        session=session, envelope=envelope, actor=actor, subject_id=req.subject_id, reason=reason, reference=requests._ref(req),
        ledger=ledgers.tombstones if ledgers else None,
    )
    method = _SHREDDED.format(algorithm=algorithm)
    if result.rows_pending:
        # Counting them would make unreadability wait on their number: the sweep deletes (and audits) them instead.
        method += (
            f"; the subject has more than {erasure.INLINE_RECORDS:,} records: their rows (unreadable ciphertext) are deleted in batches "
            f"after this certificate, each batch audited as {erasure.ErasureAction.RECORDS_ERASE} with reference {requests._ref(req)}, "
            "so their number per type is not stated here"
        )
    # The same facts as data, so a certificate in another language can say them too (console/certificate_pdf.py).
    after = {"more_than": erasure.INLINE_RECORDS, "audited_as": str(erasure.ErasureAction.RECORDS_ERASE), "reference": requests._ref(req)} \
        if result.rows_pending else None
    destroyed = result.records_deleted if result.records_deleted is not None else {t: None for t in held.record_types}
    return _certify(session, envelope.suite, actor, req, now, method, destroyed_fields=held.fields, destroyed_types=destroyed, kept=[], status="erased",
                    told=told, rows_deleted_after=after, key_algorithm=algorithm)


def _already_erased(session: Session, req: DataSubjectRequest) -> tuple[str, dict[str, Any], str | None]:
    """The method of an erasure that found the subject erased, when and why it was (its tombstone) as data, so a
    certificate in another language can say it too (console/certificate_pdf.py), and the algorithm of the key destroyed
    then, as its tombstone recorded it — null for a tombstone kept before it recorded the key's format."""
    stone = session.get(erasure.Tombstone, req.subject_id)
    when = as_utc(stone.erased_at).isoformat() if stone else None
    algorithm = _algorithm_of(stone.key_format) if stone is not None and stone.key_format is not None else None
    method = (
        f"crypto-shredding: the subject's data key{f' ({algorithm})' if algorithm else ''} had already been destroyed and every row "
        f"deleted at {when or 'an earlier time'} ({stone.reason if stone else 'erased'}); nothing of the subject remained to destroy or keep"
    )
    return method, {"erased_at": when, "reason": stone.reason if stone else None}, algorithm


def _certify(
    session: Session, suite: Suite, actor: Actor, req: DataSubjectRequest, now: datetime, method: str, *, destroyed_fields: list[str],
    destroyed_types: dict[str, int], kept: list[dict[str, Any]], status: str, told: list[dict[str, Any]] | None = None,
    already_erased: dict[str, Any] | None = None, rows_deleted_after: dict[str, Any] | None = None, key_algorithm: str | None,
) -> dict[str, Any]:
    certificate = {
        "certificate": "erasure",
        "request_id": str(req.id),
        "subject_id": str(req.subject_id),
        "type": req.type,
        "jurisdiction": req.jurisdiction,
        "erased_at": now.isoformat(),
        "method": method,
        # The destroyed data key's algorithm (AES-256-GCM or SM4-GCM), or null when it was destroyed before the request.
        # A certificate made before this field names AES-256-GCM in its method (console/certificate_pdf.py reads it so).
        "key_algorithm": key_algorithm,
        "destroyed": {"fields": destroyed_fields, "records": dict(sorted(destroyed_types.items()))},
        "kept": kept,
        "subject_status": status,
        "tombstone": status == "erased",
    }
    if already_erased is not None:
        certificate["already_erased"] = already_erased
    if rows_deleted_after is not None:
        certificate["rows_deleted_after"] = rows_deleted_after
    if told:
        # Who received the erased data and how each is told (GDPR Art. 19; CCPA regs §7022(b)(3)): names and ids only.
        certificate["recipients"] = told
    # An unkeyed hash is right here: the certificate holds ids, dates, field and record-type names, never a value, and
    # the requester who is handed it can check it against the log. It is govern's own integrity value, so it follows
    # the suite in force (SM3 under commercial_cn, the whole 256 bits: it is stored in JSON, not a 64-character column)
    # and names its algorithm beside it.
    response = {"certificate": certificate, **_digest_fields(suite.hash_label, suite.hash(_canonical(certificate)))}
    audit.append(session=session, actor=actor, action=RequestAction.CERTIFICATE, subject_id=req.subject_id, resource=_certificate_resource(req, response))
    return response


CERTIFICATE_HASHES = {label: name for name, label in HASH_LABELS.items()}  # digest_algorithm -> hashlib's name (and the audit resource's)


def _digest_fields(algorithm: str, digest: str) -> dict[str, str]:
    """How a certificate's digest is kept with it: `certificate_digest` and `digest_algorithm` (SHA-256 or SM3), and
    `certificate_sha256` as well when it is SHA-256 — the only field before suites, which clients may read."""
    return {"certificate_digest": digest, "digest_algorithm": algorithm, **({"certificate_sha256": digest} if algorithm == "SHA-256" else {})}


def certificate_digest(response: dict[str, Any]) -> tuple[str, str]:
    """(algorithm, hex digest) of a completed erasure's certificate: as its response names them, or SHA-256 for one
    certified before suites (only `certificate_sha256`)."""
    if "digest_algorithm" in response:
        return response["digest_algorithm"], response["certificate_digest"]
    return "SHA-256", response["certificate_sha256"]


def certificate_digest_fields(response: dict[str, Any]) -> dict[str, str]:
    return _digest_fields(*certificate_digest(response))


def _certificate_resource(req: DataSubjectRequest, response: dict[str, Any]) -> str:
    # `certificate-sha256:` as before suites; `certificate-sm3:` for an SM3 digest.
    algorithm, digest = certificate_digest(response)
    return f"{requests._ref(req)}/certificate-{CERTIFICATE_HASHES.get(algorithm, algorithm.lower())}:{digest}"


def _stage_erasure(session: Session, ledger: Ledger, req: DataSubjectRequest, now: datetime, keep_fields: set[str], keep_records: set[uuid.UUID],
                   scope_fields: set[str] | None, scope_types: set[str] | None) -> None:
    """A partial erasure, in the request-erasures ledger (ids and names only), counting when the request's completion
    commits, so a restored older backup has it re-applied. A missing ledger refuses the erasure (503 ledger_missing)."""
    try:
        ledger.stage(session, {
            "request_id": str(req.id), "subject_id": str(req.subject_id), "erased_at": now.isoformat(), "keep_fields": sorted(keep_fields),
            "keep_records": sorted(str(r) for r in keep_records), "fields": sorted(scope_fields) if scope_fields is not None else None,
            "record_types": sorted(scope_types) if scope_types is not None else None,
            "restrict": scope_fields is None and scope_types is None, "close_account": req.type == "account_closure",
        })
    except LedgerMissing as exc:
        raise erasure.ledger_missing(exc.ledger) from None


def settle_request_erasures(*, session: Session, ledger: Ledger) -> dict[str, int]:
    """The recovery rule for a partial erasure killed between its ledger line and the end of its transaction: committed
    when this database shows its request completed. Only against the database it ran on (see govern/ledgers.py)."""
    def completed(entry: dict[str, Any]) -> bool:
        req = session.get(DataSubjectRequest, uuid.UUID(entry["request_id"])) if "request_id" in entry else None
        return req is not None and req.state == "completed"

    return ledger.settle_unsettled(completed)


def reapply_erasures(*, session: Session, envelope: Envelope, actor: Actor, ledger: Ledger) -> int:
    """Re-applies every partial erasure the log records to a database restored from an older backup. Returns how many
    subjects had erased data again (and had it shredded again)."""
    again = 0
    for entry in ledger.to_apply():
        if "request_id" not in entry:
            continue
        sid = uuid.UUID(entry["subject_id"])
        if erasure.is_erased(session=session, subject_id=sid):
            continue  # shredded since: the tombstones deal with it
        try:
            inv = subject_rights.inventory(session=session, subject_id=sid)
        except (SubjectErased, NotFound):
            continue
        erased_at = datetime.fromisoformat(entry["erased_at"])
        keep_fields, keep_records = set(entry["keep_fields"]), {uuid.UUID(r) for r in entry["keep_records"]}
        scope_f = set(entry["fields"]) if entry["fields"] is not None else None
        scope_t = set(entry["record_types"]) if entry["record_types"] is not None else None
        back = [n for n, c in inv.fields if n not in keep_fields and (scope_f is None or n in scope_f) and c <= erased_at]
        back += [str(r) for r, t, _, c in inv.records if r not in keep_records and (scope_t is None or t in scope_t) and c <= erased_at]
        if not back:
            continue
        subject_rights.erase_except(
            session=session, envelope=envelope, actor=actor, subject_id=sid, keep_fields=keep_fields, keep_record_ids=keep_records,
            erase_fields=scope_f, erase_record_types=scope_t, reason="erasure_reapplied", reference=f"request:{entry['request_id']}",
            created_before=erased_at,
        )
        if entry.get("restrict"):
            subject_rights.set_status(
                session=session, actor=actor, subject_id=sid, status="restricted", reason="erasure_reapplied", reference=f"request:{entry['request_id']}",
                close_account=bool(entry.get("close_account")),
            )
        again += 1
    return again


# --- the access / portability package -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    filename: str
    content: bytes
    sha256: str


def package(*, session: Session, policy: Policy, envelope: Envelope, actor: Actor, request_id: uuid.UUID, now: datetime | None = None) -> Package:
    """Builds the zip for a verified access or portability request (while it is worked, and for the policy's hours after
    it is completed), for privacy staff downloading it with their own credential (requests:package:download, a
    permission no service role may hold); its hash goes into the audit log. The data subject gets it through a
    one-time token instead (`redeem`)."""
    now = as_utc(now) if now else utcnow()
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    if actor.kind not in ("operator", "system") and not access.has_permission(policy, actor, Permission.REQUESTS_PACKAGE):
        raise Forbidden(
            "permission_denied", "Permission denied", "The package is for the data subject: hand over a download token instead.",
            extra={"reason": "permission_denied", "permission": Permission.REQUESTS_PACKAGE.value},
            audit=Refusal(action=RequestAction.PACKAGE, reason="permission_denied", subject_id=req.subject_id),
        )
    requests.require_package(policy, req, now)
    return _build_package(session, policy, envelope, actor, req, now, view=None, via="staff")


def redeem(*, session: Session, policy: Policy, envelope: Envelope, actor: Actor, token: str, now: datetime | None = None) -> Package:
    """The package for whoever holds a one-time download token (the data subject): the token is spent atomically, the
    download audited with the request and the token's id (never the token). The package holds no more than the
    filing service may read itself, unless both the requester's identity was checked by a method that does not pass
    through the service (requests.yaml `package.full_copy_methods`) and the token was handed to staff who may download
    the package themselves: a service cannot obtain through a request, by any route, what its role does not show it."""
    now = as_utc(now) if now else utcnow()
    row, req = requests.redeem_download_token(session=session, envelope=envelope, token=token, now=now)
    requests.require_package(policy, req, now)
    full = req.verification_method in policy.requests.package_full_copy_methods and _issued_to_staff(session, policy, row)
    view = None if full else _filer_view(session, policy, req)
    audit.append(session=session, actor=actor, action=RequestAction.TOKEN_REDEEM, subject_id=req.subject_id, resource=f"{requests._ref(req)}/download-token:{row.id}")
    return _build_package(session, policy, envelope, actor, req, now, view=view, via=f"token:{row.id}")


def _issued_to_staff(session: Session, policy: Policy, row) -> bool:
    """Whether the token went to someone who may download the package with their own credential (or to the operator)."""
    if row.issued_to_id is None:
        return True  # the operator at the command line
    roles = session.scalar(select(Principal.roles).where(Principal.id == row.issued_to_id)) or []
    holder = Actor(name=row.issued_to, kind="staff", roles=tuple(roles))
    return access.has_permission(policy, holder, Permission.REQUESTS_PACKAGE)


@dataclass(frozen=True)
class FilerView:
    """What the service that filed a request may read itself: field -> full | masked (hidden ones absent), and the
    record types it may read, over every purpose of its roles."""

    fields: dict[str, str]
    record_types: frozenset[str]
    sections: frozenset[str]  # parts of the access package beyond fields and records that it may read: consent, disclosures, sources


def _filer_view(session: Session, policy: Policy, req: DataSubjectRequest) -> FilerView:
    roles: tuple[str, ...] = ()
    if req.filed_by_id is not None:
        try:
            principal = identity.get_by_name_or_id(session=session, ref=str(req.filed_by_id))
        except NotFound:
            principal = None
        if principal is not None and principal.disabled_at is None:
            roles = tuple(principal.roles)
    probe = Actor(name=req.filed_by, kind="service", roles=roles)
    rank = {"masked": 1, "full": 2}
    fields: dict[str, str] = {}
    types: set[str] = set()
    for role_name in roles:
        role = policy.roles.get(role_name)
        if role is None:
            continue
        for purpose_name in role.purposes:
            purpose = policy.purposes.get(purpose_name)
            if purpose is None:
                continue
            if access.has_permission(policy, probe, Permission.SUBJECTS_READ):
                for name, vis in access.field_visibility(policy=policy, actor=probe, purpose=purpose).items():
                    if rank[vis] > rank.get(fields.get(name, ""), 0):
                        fields[name] = vis
            if access.has_permission(policy, probe, Permission.RECORDS_READ):
                types |= set(purpose.record_types)
    readable = {
        "consent": Permission.CONSENT_READ, "disclosures": Permission.DISCLOSURE_READ, "sources": Permission.PRINCIPALS_READ,
    }
    sections = frozenset(name for name, perm in readable.items() if access.has_permission(policy, probe, perm))
    return FilerView(fields=fields, record_types=frozenset(types), sections=sections)


def _build_package(
    session: Session, policy: Policy, envelope: Envelope, actor: Actor, req: DataSubjectRequest, now: datetime, *, view: FilerView | None, via: str,
) -> Package:
    field_names = req.details.get("fields")
    record_types = req.details.get("record_types")
    limited: dict[str, Any] | None = None
    if view is not None:
        held = subject_rights.inventory(session=session, subject_id=req.subject_id)
        held_fields = {n for n, _ in held.fields if field_names is None or n in field_names}
        held_types = {t for _, t, *_ in held.records if record_types is None or t in record_types}
        field_names = sorted(held_fields & set(view.fields))
        record_types = sorted(held_types & view.record_types)
        limited = {
            "complete": False,
            "why": "identity_verified_through_the_filing_service",
            "masked_fields": sorted(n for n in field_names if view.fields[n] == "masked"),
            "withheld_fields": sorted(held_fields - set(view.fields)),
            "withheld_record_types": sorted(held_types - view.record_types),
            "withheld_sections": sorted({"consent", "disclosures", "sources"} - view.sections),
            "full_copy": "ask privacy staff: after a document check the full copy is delivered to you",
        }
    export = subject_rights.export_all(
        session=session, policy=policy, envelope=envelope, actor=actor, subject_id=req.subject_id, purpose=LEGAL_PURPOSE,
        reference=requests._ref(req), field_names=field_names, record_types=record_types,
    )
    if view is not None:
        export = dataclasses.replace(export, fields=[
            f if view.fields[f.name] == "full" else dataclasses.replace(f, value=masking.mask(policy.catalog.fields[f.name].masking, f.value))
            for f in export.fields
        ])
    files = _portability_files(policy, export, limited) if req.type == "portability" else _access_files(session, policy, req, export, limited)
    content = _zip(files, envelope.suite)
    # The log and the request's events keep a keyed digest: the zip is deterministic and holds the person's data, so a
    # bare SHA-256 of it, readable by whoever reads the log or the request, would let them confirm a guessed value.
    # govern can still tell whether a copy someone shows is the one it handed out (keyed_digest of that copy).
    digest = envelope.keyed_digest("request-package", str(req.id), content)
    requests._event(session, req, actor, "package", now, data={"digest": digest, "bytes": len(content), "via": via, "complete": limited is None})
    audit.append(
        session=session, actor=actor, action=RequestAction.PACKAGE, subject_id=req.subject_id, resource=f"{requests._ref(req)}/package-digest:{digest}",
        reason=("full" if limited is None else "limited"),
    )
    # The SHA-256 that travels with the download (X-Content-SHA256) is of the bytes the reader is handed: it tells them
    # nothing they do not hold, and lets them check the file they saved.
    return Package(filename=f"{req.type}-{req.id}.zip", content=content, sha256=hashlib.sha256(content).hexdigest())


def _zip(files: dict[str, bytes], suite: Suite) -> bytes:
    # The manifest's hash of each file travels inside the package, next to the file itself: it is in the reader's hands.
    # It is govern's own integrity value, so it follows the suite in force (SM3 under commercial_cn) and names its
    # algorithm: a reader, or an assessor, checks each file with the hash the manifest says.
    manifest = {name: suite.hash(data) for name, data in sorted(files.items())}
    files = {**files, "manifest.json": json.dumps({"digest_algorithm": suite.hash_label, "files": manifest}, indent=2).encode()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()  # a BOM, so spreadsheet programs read the Chinese text as UTF-8


def _portability_files(policy: Policy, export: subject_rights.SubjectExport, limited: dict[str, Any] | None = None) -> dict[str, bytes]:
    doc = {
        "format": "govern-portability/1",
        "subject_id": str(export.subject.id),
        **({"limited": limited} if limited else {}),
        "fields": {f.name: f.value for f in export.fields},
        "records": [{"id": str(r.id), "type": r.type, "occurred_at": r.occurred_at.isoformat(), "payload": r.payload} for r in export.records],
    }
    return {"data.json": json.dumps(doc, ensure_ascii=False, indent=2).encode()}


def _access_files(
    session: Session, policy: Policy, req: DataSubjectRequest, export: subject_rights.SubjectExport, limited: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    subject = export.subject
    lang = subject.language if subject.language in ("zh", "en") else "en"
    objections = [
        {"purpose": o.purpose, "recorded_at": as_utc(o.recorded_at).isoformat(), "request_id": str(o.request_id) if o.request_id else None,
         "lifted_at": as_utc(o.lifted_at).isoformat() if o.lifted_at else None, "lifted_grounds": o.lifted_reason}
        for o in objections_of(session=session, subject_id=subject.id)
    ]
    objected = {o["purpose"] for o in objections if o["lifted_at"] is None}
    consent_events = [consent.event_view(e) for e in consent.events_of(session=session, subject_id=subject.id)]
    consent_state = consent.derive_state(consent.events_of(session=session, subject_id=subject.id))
    # What each consent covered as the person was told it (notice version, fields, record types, recipients).
    consent_scope = scopes.agreed(session=session, policy=policy, subject_id=subject.id, language=lang)
    disclosures = [sharing.disclosure_view(d, r) for d, r in sharing.disclosures_of(session=session, subject_id=subject.id)]
    held_fields = {f.name for f in export.fields}
    held_types = {r.type for r in export.records}
    processing = []
    for name, p in sorted(policy.purposes.items()):
        basis = p.basis_for(subject.jurisdiction)
        if basis == "consent" and consent_state.get(name) != "granted":
            continue
        if basis == access.LEGITIMATE_INTEREST and name in objected:
            continue  # stopped by the subject's objection (listed under "objections")
        used_f, used_t = sorted(held_fields & p.fields), sorted(held_types & p.record_types)
        if not used_f and not used_t:
            continue
        recipients = sorted({d["recipient"]["name"] for d in disclosures if d["purpose"] == name})
        processing.append({"purpose": name, "label": p.label.get(lang, name), "legal_basis": basis, "source": p.source, "fields": used_f, "record_types": used_t, "recipients": recipients})
    retention = []
    rp = policy.retention
    if rp is not None:
        for rule in rp.rules.values():
            names = sorted(rule.names & (held_fields if rule.target == "fields" else held_types))
            if names:
                retention.append({"rule": rule.name, "applies_to": rule.target, "names": names, "keep": str(rule.keep), "counted_from": rule.counted_from, "legal_basis": rule.legal_basis_text})
    sources = _sources(session, subject, export)
    if limited:
        # No more than the filing service reads itself: what its roles may not read is withheld, by section.
        withheld = set(limited["withheld_sections"])
        if "consent" in withheld:
            consent_events, consent_state, consent_scope = [], {}, []
        if "disclosures" in withheld:
            disclosures = []
            processing = [{**p, "recipients": []} for p in processing]
        if "sources" in withheld:
            sources = [{k: v for k, v in s.items() if k != "collected_by"} for s in sources]
    doc = {
        "format": "govern-access/1",
        "request_id": str(req.id),
        **({"limited": limited} if limited else {}),
        "subject": {"id": str(subject.id), "jurisdiction": subject.jurisdiction, "language": subject.language, "status": subject.status, "created_at": as_utc(subject.created_at).isoformat()},
        "fields": [{"name": f.name, "label": policy.catalog.fields[f.name].label.get(lang, f.name) if f.name in policy.catalog.fields else f.name,
                    "category": policy.catalog.fields[f.name].category if f.name in policy.catalog.fields else None, "value": f.value,
                    "collected_at": f.collected_at.isoformat(), "updated_at": f.updated_at.isoformat()} for f in export.fields],
        "records": [{"id": str(r.id), "type": r.type, "occurred_at": r.occurred_at.isoformat(), "created_at": r.created_at.isoformat(), "payload": r.payload} for r in export.records],
        "processing": processing,
        "sources": sources,
        "consent": {"current": consent_state, "events": consent_events, "scope": consent_scope},
        "disclosures": disclosures,
        "objections": objections,
        "retention": retention,
    }
    files = {
        "data.json": json.dumps(doc, ensure_ascii=False, indent=2, default=str).encode(),
        "fields.csv": _csv(["name", "label", "category", "value", "collected_at", "updated_at"], [[f["name"], f["label"], f["category"], f["value"], f["collected_at"], f["updated_at"]] for f in doc["fields"]]),
        "records.csv": _csv(["id", "type", "occurred_at", "created_at", "payload_json"], [[r["id"], r["type"], r["occurred_at"], r["created_at"], json.dumps(r["payload"], ensure_ascii=False, sort_keys=True)] for r in doc["records"]]),
        "consent_events.csv": _csv(["seq", "purpose", "action", "method", "channel", "notice_version", "occurred_at", "receipt_id"],
                                   [[e["seq"], e["purpose"], e["action"], e["method"], e["channel"], e["notice_version"], e["occurred_at"], e["receipt_id"]] for e in consent_events]),
        "consent_scope.csv": _csv(["purpose", "status", "notice_version", "given_at", "fields", "record_types", "recipients", "receipt_id"],
                                  [[c["purpose"], c["status"], c["notice_version"], c["given_at"], " ".join(c["fields"]), " ".join(c["record_types"]),
                                    "; ".join(f"{r.get('name')} ({r.get('country')})" for r in c["recipients"]), c["receipt_id"]] for c in consent_scope]),
        "disclosures.csv": _csv(["id", "recipient", "country", "purpose", "fields", "basis", "disclosed_at"],
                                [[d["id"], d["recipient"]["name"], d["recipient"]["country"], d["purpose"], " ".join(d["fields"]), d["basis"], d["disclosed_at"]] for d in disclosures]),
        f"summary.{lang}.txt": summary.render(policy, lang, doc).encode(),
    }
    return files


def _sources(session: Session, subject, export: subject_rights.SubjectExport) -> list[dict[str, Any]]:
    def name_of(pid) -> str:
        if pid is None:
            return "operator"
        try:
            return identity.get_by_name_or_id(session=session, ref=str(pid)).name
        except NotFound:
            return "unknown"

    out = [{"what": "profile", "collected_by": name_of(subject.created_by)}]
    by_type: dict[str, int] = {}
    for r in export.records:
        by_type[r.type] = by_type.get(r.type, 0) + 1
    for rtype, n in sorted(by_type.items()):
        out.append({"what": f"record:{rtype}", "count": n})
    return out


def certificate(*, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID) -> dict[str, Any]:
    """The erasure certificate of a completed erasure or account closure, with its hash; the read is audited. For the
    service that filed the request (to give the requester) and for staff; another service's id answers 404."""
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id)
    if req.type not in ERASURE_TYPES or req.state != "completed" or not (req.response or {}).get("certificate"):
        raise Conflict("no_certificate", "No certificate", "Only a completed erasure or account closure has a certificate.")
    audit.append(session=session, actor=actor, action=RequestAction.CERTIFICATE, subject_id=req.subject_id, resource=_certificate_resource(req, req.response))
    algorithm, digest = certificate_digest(req.response)
    # `digest` under `digest_algorithm` (SHA-256 or SM3: the suite in force when it was made); `sha256` too when it is
    # SHA-256, as before suites.
    return {"certificate": req.response["certificate"], "digest": digest, "digest_algorithm": algorithm, **({"sha256": digest} if algorithm == "SHA-256" else {})}


def lift_restriction(
    *, session: Session, policy: Policy, actor: Actor, request_id: uuid.UUID, reason: str, told_at: datetime | None = None,
    told_channel: str | None = None, now: datetime | None = None,
) -> DataSubjectRequest:
    """Lifts a restriction a completed restriction request put in place, once the subject was told (GDPR Art. 18(3)):
    when and how they were told is required (`requests.subject_told`), shown at its real time in the timeline."""
    now = as_utc(now) if now else utcnow()
    reason = requests._reason(reason, required=True)
    req = requests.get_for(session=session, policy=policy, actor=actor, request_id=request_id, for_update=True)
    if req.type != "restriction" or req.state != "completed":
        raise Conflict("not_a_restriction", "Nothing to lift", "Only a completed restriction request can be lifted.")
    told = requests.subject_told(policy=policy, req=req, told_at=told_at, channel=told_channel, now=now)
    subject_rights.set_status(session=session, actor=actor, subject_id=req.subject_id, status="active", reason="restriction_lifted", reference=requests._ref(req))
    requests._event(session, req, actor, "subject_told", told, data={"channel": told_channel, "about": "restriction_lift", "source": "GDPR Art. 18(3)"})
    requests._event(session, req, actor, "lifted", now, reason=reason, data={"told_at": told.isoformat(), "told_channel": told_channel})
    audit.append(session=session, actor=actor, action=RequestAction.LIFT, subject_id=req.subject_id, resource=requests._ref(req), reason=f"told:{told_channel}")
    webhooks.restriction_lifted(session=session, actor=actor, request=req, now=now)
    return req
