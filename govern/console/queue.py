"""What every staff queue of the console shares (issue 19 item 1) — data-subject requests, incidents, purge plans,
failed webhook deliveries: a date range read from the query in the user's time zone, the links of a page (the next
page by cursor, the first, the CSV of the same view), the urgency colour and words of the time left, and the CSV of
the whole filtered view, formula-safe. The templates' half is console/_queue.html (filters, pager, badges)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable

from flask import Response, url_for

from govern.identity.assignees import Assignee
from govern.spreadsheet import text_cell
from govern.timeutil import utcnow

from .views import parse_local, t


def day_range(args, start: str, end: str) -> tuple[datetime | None, datetime | None]:
    """[from, before) from two date fields, days in the user's time zone, the second inclusive."""
    last = parse_local(args.get(end))
    return parse_local(args.get(start)), (last + timedelta(days=1) if last is not None else None)


def assignee_words(assignee: Assignee | None) -> str | None:
    """The assignee by name; one who can no longer be assigned as a former staff member (a bare id tells a DPO nothing)."""
    if assignee is None or assignee.active:
        return assignee.name if assignee else None
    return t("former_staff_named", name=assignee.name) if assignee.name else t("former_staff")


def assignee_chosen(form, actor) -> uuid.UUID | None:
    """Whom an assign form names: the signed-in user ("me"), another staff member (their id) or nobody ("")."""
    value = form.get("assignee", "")
    try:
        return actor.principal_id if value == "me" else uuid.UUID(value) if value else None
    except ValueError:
        return uuid.UUID(int=0)  # no such staff account: the service refuses it (400)


def search_text(args) -> str | None:
    return (args.get("q") or "").strip() or None


def links(endpoint: str, export_endpoint: str, args, next_cursor: str | None) -> dict[str, str | None]:
    """The page's links keeping its filters: next (by cursor), first (when not on it), the CSV of the view."""
    base = {k: v for k, v in args.items() if k != "cursor" and v}
    return {
        "next_url": url_for(endpoint, **base, cursor=next_cursor) if next_cursor else None,
        "first_url": url_for(endpoint, **base) if args.get("cursor") else None,
        "export_url": url_for(export_endpoint, **base),
    }


def urgency(seconds_left: float | None, warn_seconds: float, *, running: bool = True) -> str:
    """closed (no clock running), bad (overdue), warn (less than the warning left) or ok: the badge's colour."""
    if not running or seconds_left is None:
        return "closed"
    return "bad" if seconds_left < 0 else "warn" if seconds_left < warn_seconds else "ok"


def time_left(seconds_left: float) -> str:
    """The time left in words: whole days from two days up, hours below (a 72-hour clock reads in hours)."""
    span = abs(int(seconds_left))
    if span >= 2 * 86400:
        n = span // 86400
        return t("days_overdue", n=n) if seconds_left < 0 else t("days_left_n", n=n)
    n = max(span // 3600, 0)
    return t("hours_overdue", n=n) if seconds_left < 0 else t("hours_left_n", n=n)


def csv_response(name: str, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> Response:
    """The rows as a CSV download, UTF-8 with a BOM (so a spreadsheet reads the Chinese), named `<name>-<UTC time>.csv`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([text_cell(v) for v in row])
    filename = f"{name}-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
