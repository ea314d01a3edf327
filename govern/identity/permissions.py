"""Permissions as `<scope>:<resource>:<action>` strings; roles in policies/roles.yaml grant them, routes require them."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from govern.identity.actor import Actor
    from govern.policy import Policy


class Permission(StrEnum):
    SUBJECTS_CREATE = "subjects:profile:create"
    SUBJECTS_READ = "subjects:profile:read"
    SUBJECTS_UPDATE = "subjects:profile:update"
    SUBJECTS_LOOKUP = "subjects:profile:lookup"
    RECORDS_CREATE = "subjects:record:create"
    RECORDS_READ = "subjects:record:read"
    PRINCIPALS_READ = "principals:principal:read"
    PRINCIPALS_MANAGE = "principals:principal:manage"
    KEYS_ROTATE = "keys:master:rotate"
    AUDIT_READ = "audit:event:read"
    # consent (govern/consent)
    CONSENT_RECORD = "consent:event:create"
    CONSENT_READ = "consent:event:read"
    CONSENT_CHECK = "consent:state:check"
    CONSENT_REPORT = "consent:report:read"
    # third-party sharing (govern/sharing)
    RECIPIENTS_READ = "sharing:recipient:read"
    RECIPIENTS_MANAGE = "sharing:recipient:manage"
    DISCLOSURE_CREATE = "sharing:disclosure:create"
    DISCLOSURE_READ = "sharing:disclosure:read"
    # data-subject requests (govern/subject_requests)
    REQUESTS_CREATE = "requests:request:create"
    REQUESTS_READ = "requests:request:read"
    REQUESTS_VERIFY = "requests:request:verify"  # CRM session assertion and one-time codes
    REQUESTS_WITHDRAW = "requests:request:withdraw"
    REQUESTS_MANAGE = "requests:request:manage"  # work the queue: document checks, extend, pause, complete, refuse
    REQUESTS_PACKAGE = "requests:package:download"  # staff: download a package with one's own credential, audited
    REQUESTS_BACKDATE = "requests:request:backdate"  # staff: enter a request's real receipt time, or a step's, afterwards
    REQUESTS_DECEASED = "requests:deceased:record"  # staff: mark a subject deceased (PIPL Art. 49), with evidence
    # retention purges and legal holds (govern/retention)
    RETENTION_PLAN_READ = "retention:plan:read"
    RETENTION_PLAN_CREATE = "retention:plan:create"
    RETENTION_PLAN_APPROVE = "retention:plan:approve"
    RETENTION_RUN_READ = "retention:run:read"
    RETENTION_HOLD_READ = "retention:hold:read"
    RETENTION_HOLD_MANAGE = "retention:hold:manage"
    # the DPO and auditor web console (govern/console): which staff role sees which page
    CONSOLE_VIEW = "console:page:view"  # sign-in home, preferences, sign-out
    CONSOLE_SUBJECT_LOOKUP = "console:subject:lookup"  # privacy staff only: look up and read a subject for a purpose
    CONSOLE_ACCESS_REVIEW = "console:review:read"  # every principal, its rights, what it read in the window
    CONSOLE_AUDIT = "console:audit:read"  # audit search and export
    CONSOLE_REQUESTS = "console:request:read"
    CONSOLE_REQUESTS_MANAGE = "console:request:manage"
    CONSOLE_RETENTION = "console:retention:read"
    CONSOLE_RETENTION_APPROVE = "console:retention:approve"
    CONSOLE_RETENTION_RUN = "console:retention:run"  # run an approved purge plan from its page (else its command is shown)
    CONSOLE_CONSENT = "console:consent:read"  # consent figures, recipients and agreements
    CONSOLE_INCIDENTS = "console:incident:read"  # the incident board, an incident's clocks, counts, timeline, report
    CONSOLE_INCIDENTS_OPEN = "console:incident:create"  # open an incident (or a drill)
    CONSOLE_INCIDENTS_MANAGE = "console:incident:manage"  # scope, containment, assessment, transitions, letters, sending
    CONSOLE_INCIDENTS_REGISTER = "console:incident:register"  # the register of every breach, read-only
    CONSOLE_WEBHOOKS = "console:webhook:read"  # webhook endpoints and their deliveries (the roles that may read deliveries)
    CONSOLE_WEBHOOKS_RETRY = "console:webhook:retry"  # re-queue a failed delivery (the roles that hold webhooks:delivery:retry)
    CONSOLE_COMPLIANCE = "console:compliance:read"  # the handler's own duties and their due dates (govern/processing)
    CONSOLE_COMPLIANCE_RECORD = "console:compliance:record"  # record a duty as done (a drill, a review)
    CONSOLE_COMPLIANCE_PACK = "console:compliance:pack"  # download the signed compliance audit pack
    CONSOLE_CALENDAR = "console:calendar:read"  # the compliance calendar: each kind of date shown only to those who may read it
    CONSOLE_REPORTS = "console:report:read"  # charts of aggregates only: requests, consent, purges, audit events per period
    # breach response (govern/breach)
    BREACH_CREATE = "breach:incident:create"  # open an incident (or a drill)
    BREACH_READ = "breach:incident:read"  # incidents, clocks, counts, timeline, report
    BREACH_MANAGE = "breach:incident:manage"  # scope, assessment, transitions, review
    BREACH_CONTAIN = "breach:containment:execute"  # containment actions, incl. disabling a principal
    BREACH_NOTIFY = "breach:notification:manage"  # generate letters and reports, read them, record sending
    BREACH_REGISTER = "breach:register:read"  # the register of every breach (GDPR Art. 33(5))
    PROCESSING_READ = "processing:records:read"
    PROCESSING_DUTIES_READ = "processing:duties:read"  # the handler's own duties (thresholds, drills, reviews) and due dates
    PROCESSING_DUTIES_RECORD = "processing:duties:record"  # staff record a duty as done
    PROCESSING_PACK = "processing:pack:create"  # the signed compliance audit pack for an external auditor
    # propagation webhooks (govern/webhooks): endpoints are configuration (ids and URLs, no personal data); deliveries
    # name the subject an erasure or rectification was about
    WEBHOOKS_ENDPOINT_READ = "webhooks:endpoint:read"
    WEBHOOKS_ENDPOINT_MANAGE = "webhooks:endpoint:manage"  # register, change, enable/disable, rotate the secret
    WEBHOOKS_DELIVERY_READ = "webhooks:delivery:read"
    WEBHOOKS_DELIVERY_RETRY = "webhooks:delivery:retry"  # re-queue a failed delivery
    # de-identified exports (govern/deidentified): a pseudonymised export is still personal data (PIPL Art. 73(3)),
    # an aggregate with a minimum group size is not (Art. 73(4))
    DEIDENTIFIED_PSEUDONYMISED = "deidentified:pseudonymised:export"
    DEIDENTIFIED_AGGREGATE = "deidentified:aggregate:export"


# Never held by a role of kind `service` (policy.py refuses to start): a package is for the data subject, not for the
# service that filed the request, and seeing every request (not only those one filed) is for staff working the queue.
STAFF_ONLY = frozenset({Permission.REQUESTS_PACKAGE.value, Permission.REQUESTS_MANAGE.value})
# A pseudonymised export carries many subjects' data under pseudonyms: staff only, like a package.
STAFF_ONLY = STAFF_ONLY | {Permission.DEIDENTIFIED_PSEUDONYMISED.value}
STAFF_ONLY |= {Permission.REQUESTS_BACKDATE.value, Permission.REQUESTS_DECEASED.value}  # a service never back-dates


def has_permission(policy: Policy, actor: Actor, permission: Permission) -> bool:
    """Whether a role of the actor grants the permission (policies/roles.yaml)."""
    return any(permission in policy.roles[r].permissions for r in actor.roles if r in policy.roles)
