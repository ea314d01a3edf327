"""Reading one event back from an archive (govern/audit/archive.py), for an inclusion proof of an event that has left
the database: the signed purge statement naming the archive that covers its seq, then a binary search over the
archive's events.jsonl (lines in seq order). Imports nothing of the audit log but the verifier's line format, so that
checkpoints.py can use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from govern.audit.verifier import LINE
from govern.config import Settings


def find_event(settings: Settings, statements: list[dict[str, Any]], seq: int) -> tuple[int, str] | None:
    """(event id, canonical text) of the archived event at `seq`, from the archive one of the signed purge statements
    (checkpoint bodies) names, or None."""
    for body in statements:
        p = body.get("purge") or {}
        if not isinstance(p.get("archive"), dict) or not p["first_seq"] <= seq <= p["through_seq"]:
            continue
        folder = settings.audit_archive_dir / str(p["archive"]["folder"])
        try:
            name = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["events"]["file"]
        except (OSError, ValueError, KeyError):
            continue
        path = folder / Path(str(name)).name
        if path.exists():
            return _bisect(path, seq)
    return None


def _bisect(path: Path, seq: int) -> tuple[int, str] | None:
    """The line of `seq` in an events.jsonl, found by binary search over byte offsets."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)

        def line_from(pos: int) -> bytes:
            fh.seek(max(pos - 1, 0))
            if pos > 0:
                fh.readline()  # the rest of the line `pos` falls in: the next whole line starts after it
            return fh.readline()

        def seq_of(line: bytes) -> int:
            m = LINE.match(line)
            return int(m[1]) if m else 1 << 62

        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) // 2
            line = line_from(mid)
            if line and seq_of(line) < seq:
                lo = mid + 1
            else:
                hi = mid
        line = line_from(lo).rstrip(b"\n")
    m = LINE.match(line)
    if not m or int(m[1]) != seq:
        return None
    return int(m[2]), line[m.end():-1].decode("utf-8")
