"""The audit log's actions are one catalogue (govern/audit/tags.py): every value ever written stays defined and means
one thing, because each is stored in a hashed, signed event that the chain, the checkpoints and the offline verifier
read as written; and the append takes a tag from the catalogue, never a bare string."""

import pytest

from govern.audit import service as audit
from govern.audit.tags import AuditTag, PolicyAction
from govern.identity.actor import Actor

# Every action govern has written, as stored. Add a new one here with its tag; never change or remove one.
WRITTEN = (
    "access:objection:lift",
    "access:objection:record",
    "alerts:notice:fail",
    "alerts:notice:send",
    "alerts:state:clear",
    "alerts:state:raise",
    "audit:checkpoint:create",
    "audit:event:purge",
    "audit:event:search",
    "audit:export:create",
    "audit:log:hash-algorithm",
    "audit:log:restore",
    "audit:proof:create",
    "audit:signing-key:rotate",
    "breach:assessment:create",
    "breach:containment:record",
    "breach:incident:assign",
    "breach:incident:create",
    "breach:incident:read",
    "breach:incident:transition",
    "breach:incident:times",
    "breach:letter:create",
    "breach:letter:read",
    "breach:notification:send",
    "breach:register:read",
    "breach:report:create",
    "breach:scope:create",
    "breach:scope:read",
    "consent:clock:backdate",
    "consent:event:grant",
    "consent:event:opt-out",
    "consent:event:withdraw",
    "consent:figures:read",
    "consent:history:read",
    "consent:preferences:export",
    "consent:receipt:read",
    "consent:state:check",
    "crypto:key-check:record",
    "crypto:master:rotate-begin",
    "crypto:master:rotate-finish",
    "crypto:suite:migrate-begin",
    "crypto:suite:migrate-finish",
    "identity:apikey:reject",
    "identity:principal:create",
    "identity:principal:disable",
    "identity:principal:list",
    "identity:rate-limit:refuse",
    "identity:review:export",
    "identity:review:read",
    "identity:session:csrf-reject",
    "identity:session:expire",
    "identity:staff:create",
    "identity:staff:lockout",
    "identity:staff:password-set",
    "identity:staff:sign-in",
    "identity:staff:sign-out",
    "identity:staff:unlock",
    "policy:bundle:load",
    "processing:records:read",
    "processing:records:version",
    "processing:records:history",
    "processing:duties:read",
    "processing:duty:done",
    "processing:threshold:reached",
    "processing:pack:create",
    "requests:certificate:read",
    "requests:clock:backdate",
    "requests:deadline:extend",
    "requests:deadline:pause",
    "requests:deadline:resume",
    "requests:deceased:record",
    "requests:erasure:preview",
    "requests:download-token:issue",
    "requests:download-token:redeem",
    "requests:identity:lock",
    "requests:identity:verify",
    "requests:log:purge",
    "requests:otp:issue",
    "requests:package:create",
    "requests:queue:read",
    "requests:request:acknowledge",
    "requests:request:assign",
    "requests:request:close-unverified",
    "requests:request:complete",
    "requests:request:duplicate",
    "requests:request:file",
    "requests:request:read",
    "requests:request:refuse",
    "requests:request:start",
    "requests:request:withdraw",
    "requests:restriction:lift",
    "retention:hold:lift",
    "retention:hold:place",
    "retention:ledger:accept-missing",
    "retention:ledger:replay",
    "retention:plan:approve",
    "retention:plan:assign",
    "retention:plan:create",
    "retention:run:finish",
    "retention:run:interrupt",
    "retention:run:resume",
    "retention:run:start",
    "sharing:disclosure:create",
    "sharing:disclosure:list",
    "sharing:recipient:create",
    "sharing:recipient:disable",
    "sharing:recipient:update",
    "subjects:profile:create",
    "subjects:profile:erase-fields",
    "subjects:profile:export",
    "subjects:profile:lookup",
    "subjects:profile:read",
    "subjects:profile:rekey",
    "subjects:profile:basis",
    "subjects:profile:shred",
    "subjects:profile:status",
    "subjects:profile:update",
    "subjects:record:create",
    "subjects:record:erase",
    "subjects:record:read",
    "subjects:tombstone:reapply",
    "webhooks:delivery:assign",
    "webhooks:delivery:delivered",
    "webhooks:delivery:failed",
    "webhooks:delivery:list",
    "webhooks:delivery:read",
    "webhooks:delivery:requeue",
    "webhooks:endpoint:create",
    "webhooks:endpoint:rotate-secret",
    "webhooks:endpoint:update",
    "webhooks:event:queue",
    "sharing:propagation:record",
    "sharing:propagation:done",
    "deidentified:pseudonymised:export",
    "deidentified:aggregate:export",
    "deidentified:key:create",
    "deidentified:key:rotate",
)


def _catalogue() -> list[AuditTag]:
    return [tag for domain in AuditTag.__subclasses__() if domain.__module__ == "govern.audit.tags" for tag in domain]


def test_every_action_ever_written_is_still_in_the_catalogue_with_the_same_value():
    assert sorted(tag.value for tag in _catalogue()) == sorted(WRITTEN)


def test_no_two_actions_share_a_value():
    values = [tag.value for tag in _catalogue()]
    assert len(values) == len(set(values))


def test_each_value_names_its_domain_thing_and_verb():
    assert all(len(tag.value.split(":")) == 3 and all(tag.value.split(":")) for tag in _catalogue())


def test_the_append_refuses_a_bare_string(runtime, audit_events):
    with runtime.database.unit_of_work() as session, pytest.raises(TypeError):
        audit.append(session=session, actor=Actor(name="test", kind="system"), action=PolicyAction.LOAD.value)
    assert audit_events(action=PolicyAction.LOAD.value) == []
