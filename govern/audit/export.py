"""Exports a range of the sealed log for auditors: events.jsonl (each line carries the event's stored bytes verbatim,
with its seq and chain hashes), manifest.json (range, anchor and head hashes, the signed checkpoints covering it, the
public keys; itself signed), and optionally events.ocsf.jsonl (OCSF API Activity, for a SIEM). Resumable."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from govern.audit import chain, checkpoints, signing
from govern.audit.models import AuditChainEntry, AuditEvent
from govern.audit.verifier import EXPORT_FORMAT, GENESIS, canonical, file_digest_fields, hash_statement, hasher
from govern.config import Settings
from govern.db import Database
from govern.timeutil import utcnow

EVENTS_FILE = "events.jsonl"
OCSF_FILE = "events.ocsf.jsonl"
STATE_FILE = ".export-state.json"
BATCH = 10_000


@dataclass
class ExportResult:
    out: Path
    first_seq: int
    last_seq: int
    events: int
    resumed: bool
    manifest: dict[str, Any]


def line_bytes(seq: int, event_id: int, prev: str, hash_: str, canonical_text: str) -> bytes:
    """One export line. The event's stored canonical text is spliced in unchanged: the verifier hashes those bytes."""
    return f'{{"seq":{seq},"id":{event_id},"prev":"{prev}","hash":"{hash_}","event":{canonical_text}}}\n'.encode("utf-8")


def chain_rows(session: Session, first: int, last: int, batch: int = BATCH) -> Iterator[Row[int, int, str, str, str, str | None]]:
    """(seq, event id, prev, hash, leaf, canonical or None) in seq order, for seq in [first, last]."""
    after = first - 1
    while after < last:
        rows = session.execute(
            select(AuditChainEntry.seq, AuditChainEntry.event_id, AuditChainEntry.prev_hash, AuditChainEntry.hash, AuditChainEntry.leaf, AuditEvent.canonical)
            .outerjoin(AuditEvent, AuditEvent.id == AuditChainEntry.event_id)
            .where(AuditChainEntry.seq > after, AuditChainEntry.seq <= last)
            .order_by(AuditChainEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def resolve_range(session: Session, settings: Settings, time_from: datetime | None, time_to: datetime | None) -> tuple[int, int]:
    """The seq range of a time range: from the first to the last sealed event whose time falls in [from, to).
    Seq is seal order, so a few events just outside the time range may sit inside the seq range. The log starts
    after the newest signed purge statement (never after an unsigned audit_purges row)."""
    floor, _ = checkpoints.purged_through(session, settings)
    if time_from is None and time_to is None:
        return floor + 1, chain.head(session)[0]
    query = select(func.min(AuditChainEntry.seq), func.max(AuditChainEntry.seq)).join(AuditEvent, AuditEvent.id == AuditChainEntry.event_id)
    if time_from is not None:
        query = query.where(AuditEvent.occurred_at >= time_from)
    if time_to is not None:
        query = query.where(AuditEvent.occurred_at < time_to)
    lo, hi = session.execute(query).one()
    if lo is None:
        return max(floor + 1, 1), max(floor, 0)  # empty
    return max(lo, floor + 1), hi


def export(
    *, database: Database, settings: Settings, out: Path, time_from: datetime | None = None, time_to: datetime | None = None,
    fmt: str = "jsonl", on_progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Seals (and, for an export up to now, checkpoints) first, so the export ends on a signed head."""
    if time_to is None:
        checkpoints.issue(database=database, settings=settings)
    else:
        chain.seal(database=database, window_seconds=settings.audit_seal_window_seconds)
    with database.unit_of_work() as session:
        return write(session=session, settings=settings, out=out, time_from=time_from, time_to=time_to, fmt=fmt, on_progress=on_progress)


def write(
    *, session: Session, settings: Settings, out: Path, time_from: datetime | None = None, time_to: datetime | None = None,
    fmt: str = "jsonl", on_progress: Callable[[int, int], None] | None = None, seqs: tuple[int, int] | None = None,
    extra: dict[str, Any] | None = None,
) -> ExportResult:
    """Writes what is sealed now, in one read transaction (the API's request session, or a CLI unit of work). `seqs`
    gives the seq range itself (the archive's: it ends on a checkpoint, and only the checkpoints inside it are listed);
    `extra` adds signed members to the manifest."""
    open_end = time_to is None
    out.mkdir(parents=True, exist_ok=True)
    first, last = seqs if seqs is not None else resolve_range(session, settings, time_from, time_to)
    anchor_hash = GENESIS.hex() if first <= 1 else session.scalar(select(AuditChainEntry.hash).where(AuditChainEntry.seq == first - 1))
    listed = checkpoints.list_checkpoints(session, min_size=first - 1)
    cps = [checkpoints.as_line(cp) for cp in listed if seqs is None or cp.tree_size <= last]
    range_doc = {
        "from": time_from.isoformat() if time_from else None, "to": time_to.isoformat() if time_to else None,
        "first_seq": first, "last_seq": last, "open_end": open_end,
    }

    events_path = out / EVENTS_FILE
    state_path = out / STATE_FILE
    start, resumed = first, False
    if state_path.exists() and events_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("range", {}).get("first_seq") == first and state.get("written_seq", 0) < last + 1:
            # Resume: cut the file back to the last batch known complete and go on from there.
            with open(events_path, "r+b") as fh:
                fh.truncate(state["bytes"])
            start, resumed = state["written_seq"] + 1, True
    if not resumed:
        events_path.write_bytes(b"")
    written = start - first
    with open(events_path, "ab") as fh:
        buffer: list[bytes] = []
        for seq, event_id, prev, hash_, _leaf, text in chain_rows(session, start, last):
            if text is not None:  # a row deleted behind the trigger's back is left out; the verifier names the gap
                buffer.append(line_bytes(seq, event_id, prev, hash_, text))
            written += 1
            if len(buffer) >= BATCH:
                fh.write(b"".join(buffer))
                buffer.clear()
                fh.flush()
                state_path.write_text(json.dumps({"range": range_doc, "written_seq": seq, "bytes": fh.tell()}))
                if on_progress:
                    on_progress(written, last - first + 1)
        fh.write(b"".join(buffer))
    if on_progress:
        on_progress(written, last - first + 1)

    # The events file's digest in the signed manifest is govern's own integrity value: SM3 once the log is (the
    # commercial_cn suite is or was in force), else SHA-256, and the manifest names it (`digest_algorithm`).
    sm3_file = chain.files_in_sm3(session)
    digest, count = hasher(sm3_file)(), 0
    with open(events_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            count += block.count(b"\n")
    key = signing.load(settings)
    keys = signing.publish(settings, key)
    sm3_from = chain.sm3_from(session, last)
    manifest = {
        "format": EXPORT_FORMAT, "created_at": utcnow().isoformat(timespec="microseconds"), "range": range_doc,
        "anchor": {"seq": first - 1, "hash": anchor_hash}, "events": {"file": EVENTS_FILE, "count": count, **file_digest_fields(sm3_file, digest.hexdigest())},
        "checkpoints": cps, "keys": keys, "key_id": key.key_id,
        "hashing": "leaf = SHA-256(0x00 || event bytes); hash_n = SHA-256(hash_{n-1} || uint64_be(n) || leaf_n); hash_0 = 32 zero bytes; "
        "Merkle tree per RFC 9162 over the leaves"
        + (f"; from seq {sm3_from} (the switch event) on, SM3 in place of SHA-256 for leaves and links, and for every Merkle node "
           f"whose leaves reach seq {sm3_from}" if sm3_from <= last else ""),
        **hash_statement(sm3_from, last), **(extra or {}),
    }
    manifest["signature"] = key.sign(canonical(manifest))
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "manifest.json")
    if fmt == "ocsf":
        write_ocsf(events_path, out / OCSF_FILE)
    state_path.unlink(missing_ok=True)
    return ExportResult(out=out, first_seq=first, last_seq=last, events=count, resumed=resumed, manifest=manifest)


# --- OCSF ------------------------------------------------------------------------------------------------------------

_ACTIVITY = {"create": (1, "Create"), "read": (2, "Read"), "lookup": (2, "Read"), "list": (2, "Read"), "search": (2, "Read"),
             "update": (3, "Update"), "delete": (4, "Delete"), "disable": (3, "Update")}


def to_ocsf(seq: int, event: dict[str, Any]) -> dict[str, Any]:
    """OCSF 1.1 API Activity (class 6003). A derived view for a SIEM; events.jsonl stays the verifiable record."""
    verb = event["action"].rsplit(":", 1)[-1]
    activity_id, activity = _ACTIVITY.get(verb, (99, "Other"))
    ok = event["outcome"] == "allowed"
    when = datetime.fromisoformat(event["time"])
    return {
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6, "category_name": "Application Activity",
        "activity_id": activity_id, "activity_name": activity, "type_uid": 600300 + activity_id,
        "time": int(when.timestamp() * 1000), "severity_id": 1,
        "status_id": 1 if ok else 2, "status": "Success" if ok else "Failure", "status_detail": event.get("reason"),
        "metadata": {"version": "1.1.0", "uid": str(seq), "correlation_uid": event.get("request"),
                     "product": {"name": "govern", "vendor_name": "govern"}},
        "actor": {"user": {"name": event["actor"]["name"], "uid": event["actor"]["id"], "type": event["actor"]["kind"]},
                  "authorizations": [{"decision": event["outcome"]}]},
        "api": {"operation": event["action"]},
        "src_endpoint": {"ip": event.get("client")},
        "resources": [r for r in ({"uid": event.get("resource"), "type": "resource"}, {"uid": event.get("subject"), "type": "data_subject"}) if r["uid"]],
        "unmapped": {"purpose": event.get("purpose"), "fields": event.get("fields"), "roles": event.get("roles")},
    }


def write_ocsf(events_path: Path, out_path: Path) -> None:
    marker = b',"event":'
    with open(events_path, "rb") as src, open(out_path, "w", encoding="utf-8") as dst:
        for line in src:
            seq = int(line[7:line.index(b",")])
            event = json.loads(line[line.index(marker) + len(marker):-2])
            dst.write(json.dumps(to_ocsf(seq, event), ensure_ascii=False, separators=(",", ":")) + "\n")
