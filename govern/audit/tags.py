"""Every action the audit log records, in one place, one enum per domain, tagged "<domain>:<thing>:<verb>".

The values are stored in each event and covered by its hash (the chain, the signed checkpoints and the auditor's
offline verifier read them as written): a value never changes and is never reused; a new action gets a new value.
audit.service.append takes a member of one of these enums, never a bare string.
"""

from __future__ import annotations

from enum import StrEnum


class AuditTag(StrEnum):
    """What the audit append accepts: a member of a domain's enum below (it has no members itself, so each extends it)."""


class SubjectAction(AuditTag):
    CREATE = "subjects:profile:create"
    READ = "subjects:profile:read"
    UPDATE = "subjects:profile:update"
    LOOKUP = "subjects:profile:lookup"
    RECORD_CREATE = "subjects:record:create"
    RECORD_READ = "subjects:record:read"
    STATUS = "subjects:profile:status"
    EXPORT = "subjects:profile:export"
    REKEY = "subjects:profile:rekey"
    BASIS = "subjects:profile:basis"  # the lawful basis sensitive fields were collected on (PIPL Art. 29, GDPR Art. 9(2))


class ErasureAction(AuditTag):
    SHRED = "subjects:profile:shred"
    FIELDS_ERASE = "subjects:profile:erase-fields"
    RECORDS_ERASE = "subjects:record:erase"
    REAPPLY = "subjects:tombstone:reapply"


class PrincipalAction(AuditTag):
    CREATE = "identity:principal:create"
    DISABLE = "identity:principal:disable"
    LIST = "identity:principal:list"
    KEY_REJECT = "identity:apikey:reject"


class StaffAction(AuditTag):
    CREATE = "identity:staff:create"
    PASSWORD_SET = "identity:staff:password-set"
    UNLOCK = "identity:staff:unlock"
    SIGN_IN = "identity:staff:sign-in"
    LOCKOUT = "identity:staff:lockout"
    SIGN_OUT = "identity:staff:sign-out"
    SESSION_EXPIRED = "identity:session:expire"
    CSRF_REJECT = "identity:session:csrf-reject"


class ReviewAction(AuditTag):
    READ = "identity:review:read"
    EXPORT = "identity:review:export"


class LimitAction(AuditTag):
    REFUSE = "identity:rate-limit:refuse"


class KeyAction(AuditTag):
    ROTATE_BEGIN = "crypto:master:rotate-begin"
    ROTATE_FINISH = "crypto:master:rotate-finish"
    CHECK_RECORD = "crypto:key-check:record"
    SUITE_MIGRATE_BEGIN = "crypto:suite:migrate-begin"  # govern keys migrate-suite: the data starts moving to another suite
    SUITE_MIGRATE_FINISH = "crypto:suite:migrate-finish"


class PolicyAction(AuditTag):
    LOAD = "policy:bundle:load"


class AuditAction(AuditTag):
    SEARCH = "audit:event:search"
    EXPORT = "audit:export:create"
    PROOF = "audit:proof:create"
    CHECKPOINT = "audit:checkpoint:create"
    SIGNING_KEY_ROTATE = "audit:signing-key:rotate"
    PURGE = "audit:event:purge"
    RESTORE = "audit:log:restore"
    HASH_SWITCH = "audit:log:hash-algorithm"  # resource "sm3": from this event's seq on the log hashes with SM3 (commercial_cn)


class ObjectionAction(AuditTag):
    # Named for the domain that first wrote them (objections now live in consent): the log holds them so.
    OBJECTION_RECORD = "access:objection:record"
    OBJECTION_LIFT = "access:objection:lift"


class ConsentAction(AuditTag):
    GRANT = "consent:event:grant"
    WITHDRAW = "consent:event:withdraw"
    OPT_OUT = "consent:event:opt-out"
    HISTORY_READ = "consent:history:read"
    RECEIPT_READ = "consent:receipt:read"
    CHECK = "consent:state:check"
    BACKDATE = "consent:clock:backdate"  # a withdrawal received earlier (on paper, by e-mail) entered afterwards, with a reason
    FIGURES = "consent:figures:read"
    EXPORT = "consent:preferences:export"


class SharingAction(AuditTag):
    RECIPIENT_CREATE = "sharing:recipient:create"
    RECIPIENT_UPDATE = "sharing:recipient:update"
    RECIPIENT_DISABLE = "sharing:recipient:disable"
    DISCLOSE = "sharing:disclosure:create"
    DISCLOSURE_LIST = "sharing:disclosure:list"
    PROPAGATION_RECORD = "sharing:propagation:record"  # a manual notice task or an exemption for a recipient (GDPR Art. 19)
    PROPAGATION_DONE = "sharing:propagation:done"  # a manual notice task carried out


class ProcessingAction(AuditTag):
    RECORDS_READ = "processing:records:read"  # the records of processing activities (GDPR Art. 30), as a document
    RECORDS_VERSION = "processing:records:version"  # a version of a record of processing (or assessment) took effect
    HISTORY_READ = "processing:records:history"  # every stored version of one record, retired or superseded ones too
    DUTIES_READ = "processing:duties:read"  # the handler's own duties as tasks (PIPL Art. 52, 54; CSL Art. 21)
    DUTY_DONE = "processing:duty:done"  # staff recorded a duty as done (a drill, an access review, an audit, ...)
    THRESHOLD_REACHED = "processing:threshold:reached"  # the number of subjects first reached a duty's threshold
    PACK_CREATE = "processing:pack:create"  # a signed compliance audit pack for an external auditor


class RequestAction(AuditTag):
    FILE = "requests:request:file"
    DUPLICATE = "requests:request:duplicate"
    READ = "requests:request:read"
    QUEUE = "requests:queue:read"
    ACKNOWLEDGE = "requests:request:acknowledge"
    OTP_ISSUE = "requests:otp:issue"
    VERIFY = "requests:identity:verify"
    LOCK = "requests:identity:lock"
    EXTEND = "requests:deadline:extend"
    PAUSE = "requests:deadline:pause"
    RESUME = "requests:deadline:resume"
    START = "requests:request:start"
    COMPLETE = "requests:request:complete"
    REFUSE = "requests:request:refuse"
    WITHDRAW = "requests:request:withdraw"
    CLOSE_UNVERIFIED = "requests:request:close-unverified"
    PACKAGE = "requests:package:create"
    CERTIFICATE = "requests:certificate:read"
    LIFT = "requests:restriction:lift"
    TOKEN_ISSUE = "requests:download-token:issue"
    TOKEN_REDEEM = "requests:download-token:redeem"
    PURGE_LOG = "requests:log:purge"
    BACKDATE = "requests:clock:backdate"  # a receipt or step time entered afterwards, by staff, with a reason
    DECEASED = "requests:deceased:record"  # a subject marked deceased (PIPL Art. 49), with an evidence reference
    ASSIGN = "requests:request:assign"  # the staff member working a request set or cleared (the console's queue)
    ERASURE_PREVIEW = "requests:erasure:preview"  # what an erasure would destroy, keep and tell, read before confirming


class RetentionAction(AuditTag):
    HOLD_PLACE = "retention:hold:place"
    HOLD_LIFT = "retention:hold:lift"
    PLAN_CREATE = "retention:plan:create"
    PLAN_APPROVE = "retention:plan:approve"
    PLAN_ASSIGN = "retention:plan:assign"  # the staff member working a purge plan set or cleared (the console's plan queue)
    RUN_START = "retention:run:start"
    RUN_RESUME = "retention:run:resume"
    RUN_INTERRUPT = "retention:run:interrupt"
    RUN_FINISH = "retention:run:finish"


class LedgerAction(AuditTag):
    REPLAY = "retention:ledger:replay"
    ACCEPT_MISSING = "retention:ledger:accept-missing"


class BreachAction(AuditTag):
    CREATE = "breach:incident:create"
    TRANSITION = "breach:incident:transition"
    READ = "breach:incident:read"
    SCOPE = "breach:scope:create"
    SCOPE_READ = "breach:scope:read"
    ASSESS = "breach:assessment:create"
    CONTAIN = "breach:containment:record"
    LETTERS = "breach:letter:create"
    LETTER_READ = "breach:letter:read"
    SENT = "breach:notification:send"
    REPORT = "breach:report:create"
    REGISTER = "breach:register:read"
    TIMES = "breach:incident:times"  # when it really happened, entered or corrected afterwards, with a reason
    ASSIGN = "breach:incident:assign"  # the staff member working an incident set or cleared (the console's incident queue)


class WebhookAction(AuditTag):
    ENDPOINT_CREATE = "webhooks:endpoint:create"
    ENDPOINT_UPDATE = "webhooks:endpoint:update"
    SECRET_ROTATE = "webhooks:endpoint:rotate-secret"
    EVENT_QUEUE = "webhooks:event:queue"
    DELIVERED = "webhooks:delivery:delivered"
    FAILED = "webhooks:delivery:failed"
    REQUEUE = "webhooks:delivery:requeue"
    DELIVERY_LIST = "webhooks:delivery:list"
    DELIVERY_READ = "webhooks:delivery:read"
    ASSIGN = "webhooks:delivery:assign"  # the staff member following a failed delivery up set or cleared (the console)


class DeidentifiedAction(AuditTag):
    PSEUDONYMISED_EXPORT = "deidentified:pseudonymised:export"  # PIPL Art. 73(3), GDPR Art. 4(5): still personal data
    AGGREGATE_EXPORT = "deidentified:aggregate:export"  # PIPL Art. 73(4), GDPR Recital 26
    KEY_CREATE = "deidentified:key:create"
    KEY_ROTATE = "deidentified:key:rotate"


class AlertAction(AuditTag):
    RAISE = "alerts:state:raise"  # a condition became wrong (request overdue, clock at 90 %, …): its notices written
    CLEAR = "alerts:state:clear"  # the condition is back to normal: met again later, it is told again
    SENT = "alerts:notice:send"  # a notice reached the SMTP server or the rota's webhook
    FAILED = "alerts:notice:fail"  # a notice given up on after alerts.yaml delivery.max_attempts
