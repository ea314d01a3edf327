"""Two staff changing the same recipient at once (issue 19): each change reads the recipient FOR UPDATE, so the second
waits for the first and applies its rule to the recipient as it now stands — never a 503 from the version check."""

from __future__ import annotations

import uuid

from govern.identity.actor import Actor
from govern.sharing import service
from govern.sharing.models import Recipient
from govern.timeutil import as_utc
from tests.races import race

STAFF = [Actor(name=f"privacy-{n}", kind="staff", roles=("privacy_staff",)) for n in ("li", "chen")]


def test_two_staff_disabling_a_recipient_at_once_it_is_disabled_once(runtime, make_recipient, audit_events):
    recipient_id = uuid.UUID(make_recipient())

    def disable(actor):
        return lambda session: service.disable_recipient(session=session, actor=actor, recipient_id=recipient_id).disabled_at

    first, second = race(runtime, disable(STAFF[0]), disable(STAFF[1]))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second  # not 503 audit_unavailable on PostgreSQL
    assert as_utc(second) == as_utc(first)  # the second found it disabled already: nothing more to do
    with runtime.database.unit_of_work() as session:
        assert as_utc(session.get(Recipient, recipient_id).disabled_at) == as_utc(first)
    assert [e.actor_name for e in audit_events(action="sharing:recipient:disable")] == ["privacy-li"]


def test_two_staff_updating_a_recipient_from_the_same_version_the_second_is_told_to_read_it_again(runtime, make_recipient):
    recipient_id = uuid.UUID(make_recipient())
    with runtime.database.unit_of_work() as session:
        version = session.get(Recipient, recipient_id).version

    def update(actor, contact):
        return lambda session: service.update_recipient(
            session=session, policy=runtime.policy, actor=actor, recipient_id=recipient_id, expected_version=version, changes={"contact": contact},
        ).contact

    first, second = race(runtime, update(STAFF[0], "dpo@partner.example"), update(STAFF[1], "legal@partner.example"))
    assert first == "dpo@partner.example"
    assert (second.status, second.code) == (412, "precondition_failed"), second  # the lost update refused, not a 503
    with runtime.database.unit_of_work() as session:
        assert session.get(Recipient, recipient_id).contact == "dpo@partner.example"
