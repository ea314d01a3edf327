"""The periodic review of access rights: every principal and staff account, its roles and what they grant, what it
actually did in the review window (from the audit log: personal-data reads, subjects and fields touched, purposes
used, refusals), and the rights and purposes it never used, so that a reviewer can take away what is not needed.
Exportable as CSV. Reading the review is audited: it is the map of who can read what."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.audit import review_queries
from govern.audit import service as audit
from govern.audit.tags import ReviewAction
from govern.identity.actor import Actor
from govern.identity.models import Principal
from govern.policy import Policy
from govern.spreadsheet import text_cell
from govern.timeutil import as_utc, utcnow

# Audit actions that read personal data (what "what it read" counts). Names are the other domains' action strings.
READ_ACTIONS = (
    "subjects:profile:read", "subjects:profile:lookup", "subjects:record:read",
    "requests:package:create", "consent:history:read", "consent:receipt:read", "sharing:disclosure:list",
)

# Which audit actions show that a permission was used, where the action's name is not the permission's own
# scope:resource:action. A permission not listed here counts as used only by an allowed event of exactly its name
# (an entry ending in ':' matches every action under it).
EVIDENCE: dict[str, tuple[str, ...]] = {
    "principals:principal:read": ("identity:principal:list",),
    "principals:principal:manage": ("identity:principal:create", "identity:principal:disable", "identity:staff:"),
    "keys:master:rotate": ("crypto:master:",),
    "audit:event:read": ("audit:event:search", "audit:export:", "audit:proof:"),
    "consent:event:read": ("consent:history:read", "consent:receipt:read"),
    "consent:event:create": ("consent:event:",),
    "consent:report:read": ("consent:figures:read", "consent:preferences:export"),
    "requests:request:read": ("requests:request:read", "requests:queue:read", "requests:certificate:read"),
    "requests:request:create": ("requests:request:file", "requests:request:duplicate"),
    "requests:request:verify": ("requests:identity:verify", "requests:otp:issue"),
    "requests:request:manage": (
        "requests:request:acknowledge", "requests:deadline:", "requests:request:start", "requests:request:complete",
        "requests:request:refuse", "requests:restriction:lift", "access:objection:lift",
    ),
    "requests:package:download": ("requests:package:create",),
    "retention:plan:approve": ("retention:plan:approve",),
    "retention:plan:create": ("retention:plan:create",),
    "retention:hold:manage": ("retention:hold:place", "retention:hold:lift"),
    "console:page:view": ("identity:staff:sign-in",),
    "console:subject:lookup": ("subjects:profile:lookup",),
    "console:review:read": ("identity:review:",),
    "console:audit:read": ("audit:event:search", "audit:export:"),
    "processing:duties:record": ("processing:duty:done",),
    "console:compliance:read": ("processing:duties:read",),
    "console:compliance:record": ("processing:duty:done",),
    "console:compliance:pack": ("processing:pack:create",),
    "console:request:read": ("requests:queue:read", "requests:request:read"),
    "console:request:manage": (
        "requests:identity:verify", "requests:deadline:", "requests:request:complete", "requests:request:refuse", "access:objection:lift",
    ),
    "console:retention:approve": ("retention:plan:approve",),
    "console:consent:read": ("consent:figures:read",),
    "console:incident:create": ("breach:incident:create",),
    "console:incident:read": ("breach:report:create",),
    "console:incident:manage": (
        "breach:scope:", "breach:assessment:", "breach:incident:transition", "breach:containment:", "breach:letter:", "breach:notification:",
    ),
    "console:incident:register": ("breach:register:read",),
    "console:webhook:read": ("webhooks:delivery:list",),
    "console:webhook:retry": ("webhooks:delivery:requeue",),
    "webhooks:endpoint:manage": ("webhooks:endpoint:create", "webhooks:endpoint:update", "webhooks:endpoint:rotate-secret"),
    "webhooks:delivery:read": ("webhooks:delivery:list", "webhooks:delivery:read"),
    "webhooks:delivery:retry": ("webhooks:delivery:requeue",),
}


@dataclass
class ReviewRow:
    principal_id: uuid.UUID
    name: str
    kind: str
    roles: list[str]
    state: str  # active | disabled | locked
    created_at: datetime
    last_used_at: datetime | None
    last_sign_in_at: datetime | None
    last_activity_at: datetime | None
    events: int = 0
    reads: int = 0
    denied: int = 0
    subjects_read: int = 0
    fields_read: list[str] = field(default_factory=list)
    purposes_used: list[str] = field(default_factory=list)
    actions: list[tuple[str, int]] = field(default_factory=list)  # (action, events), most first
    permissions: list[str] = field(default_factory=list)
    permissions_unused: list[str] = field(default_factory=list)
    purposes_unused: list[str] = field(default_factory=list)


@dataclass
class Review:
    since: datetime
    until: datetime
    window_days: int
    rows: list[ReviewRow]


def _used(permission: str, allowed_actions: set[str]) -> bool:
    evidence = EVIDENCE.get(permission)
    if evidence is None:
        return permission in allowed_actions
    return any(a == e or (e.endswith(":") and a.startswith(e)) for a in allowed_actions for e in evidence)


def build(*, session: Session, policy: Policy, actor: Actor, now: datetime | None = None, export: bool = False) -> Review:
    """The review as of `now` over policies/console.yaml `access_review.window_days`; audited (read or export)."""
    now = now or utcnow()
    days = policy.console.review_window_days
    since = now - timedelta(days=days)
    principals = list(session.scalars(select(Principal).order_by(Principal.kind, Principal.name)))
    activity = review_queries.activity_since(session=session, since=since)
    fields = review_queries.fields_read_since(session=session, since=since, actions=READ_ACTIONS)
    subjects = review_queries.subjects_read_since(session=session, since=since, actions=READ_ACTIONS)
    by_actor: dict[uuid.UUID, list[review_queries.Activity]] = {}
    for a in activity:
        if a.actor_id is not None:
            by_actor.setdefault(a.actor_id, []).append(a)
    rows: list[ReviewRow] = []
    for p in principals:
        acts = by_actor.get(p.id, [])
        allowed = {a.action for a in acts if a.outcome == "allowed"}
        permissions = sorted({perm for r in p.roles if r in policy.roles for perm in policy.roles[r].permissions})
        purposes = sorted({pur for r in p.roles if r in policy.roles for pur in policy.roles[r].purposes})
        used_purposes = sorted({a.purpose for a in acts if a.purpose and a.outcome == "allowed"})
        per_action: dict[str, int] = {}
        for a in acts:
            per_action[a.action] = per_action.get(a.action, 0) + a.events
        locked = p.locked_until is not None and as_utc(p.locked_until) > now
        rows.append(ReviewRow(
            principal_id=p.id, name=p.name, kind=p.kind, roles=list(p.roles),
            state="disabled" if p.disabled_at else "locked" if locked else "active",
            created_at=as_utc(p.created_at), last_used_at=as_utc(p.last_used_at) if p.last_used_at else None,
            last_sign_in_at=as_utc(p.last_sign_in_at) if p.last_sign_in_at else None,
            last_activity_at=max((as_utc(a.last_at) for a in acts), default=None),
            events=sum(a.events for a in acts),
            reads=sum(a.events for a in acts if a.outcome == "allowed" and a.action in READ_ACTIONS),
            denied=sum(a.events for a in acts if a.outcome == "denied"),
            subjects_read=subjects.get(p.id, 0), fields_read=sorted(fields.get(p.id, set())), purposes_used=used_purposes,
            actions=sorted(per_action.items(), key=lambda kv: (-kv[1], kv[0])),
            permissions=permissions, permissions_unused=[perm for perm in permissions if not _used(perm, allowed)],
            purposes_unused=[pur for pur in purposes if pur not in used_purposes],
        ))
    audit.append(
        session=session, actor=actor, action=ReviewAction.EXPORT if export else ReviewAction.READ, resource="access-review",
        reason=f"window={days}d rows={len(rows)}",
    )
    return Review(since=since, until=now, window_days=days, rows=rows)


CSV_COLUMNS = (
    "principal_id", "name", "kind", "roles", "state", "created_at", "last_used_at", "last_sign_in_at", "last_activity_at",
    "events", "personal_data_reads", "denied", "subjects_read", "fields_read", "purposes_used", "permissions",
    "permissions_unused", "purposes_unused",
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="seconds")
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return text_cell(value)


def to_csv(review: Review) -> str:
    """UTF-8 CSV (with a BOM so spreadsheet programs read Chinese correctly); times in UTC, ISO 8601."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in review.rows:
        writer.writerow([_cell(v) for v in (
            r.principal_id, r.name, r.kind, r.roles, r.state, r.created_at, r.last_used_at, r.last_sign_in_at, r.last_activity_at,
            r.events, r.reads, r.denied, r.subjects_read, r.fields_read, r.purposes_used, r.permissions, r.permissions_unused,
            r.purposes_unused,
        )])
    return out.getvalue()
