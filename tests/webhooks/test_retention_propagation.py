"""A retention purge is propagated like an erasure request (GDPR Art. 19, PIPL Art. 47): each batch queues, in its own
transaction, one signed `subject.erased` notice (`cause: retention`) per subject it purged, for every CRM component
subscribed to it and every recipient that received a purged field; names only, never a value; never twice."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text, update

from govern.subjects.models import Subject
from govern.timeutil import utcnow
from govern.webhooks import service as webhooks
from tests.retention.conftest import SYSTEM, days
from tests.webhooks.test_propagation import _disclose

OLD = 3 * 365 + 5
DORMANT = {"name": "王五", "mobile": "13700001111"}


@pytest.fixture
def dormant(runtime, make_subject, add_records):
    """dormant(after=callable) -> a subject whose every field and record is past its period: the purge shreds it.
    `after(sid)` runs before the subject is made dormant (disclosures touch no profile, but keep the order plain)."""

    def make(after=None):
        sid = make_subject(fields=dict(DORMANT))
        add_records(sid, "purchase", [OLD, OLD + 1])
        if after:
            after(sid)
        with runtime.database.unit_of_work() as session:
            session.execute(update(Subject).where(Subject.id == sid).values(updated_at=utcnow() - days(OLD)))
        return sid

    return make


@pytest.fixture
def purge_all(plan, approve, purge):
    """Makes, approves and executes a plan of everything due now."""

    def run(**kw):
        _, plan_id = plan()
        approve(plan_id)
        return plan_id, purge(plan_id, **kw)

    return run


def test_a_shredded_subject_is_told_once_per_subscribed_endpoint_with_no_value(
    receiver, make_endpoint, crm_component, make_recipient, separate_grant, client_as, dormant, purge_all, deliver, deliveries, runtime,
):
    crm, crm_secret = make_endpoint("principal", crm_component(), receiver.at("/crm"))
    other_crm, _ = make_endpoint("principal", crm_component(), receiver.at("/other-crm"))
    make_endpoint("principal", crm_component(), receiver.at("/rectified-only"), events=("subject.rectified",))
    holder, stranger = make_recipient(), make_recipient(name="Never Received Ltd")
    holder_endpoint, holder_secret = make_endpoint("recipient", holder, receiver.at("/holder"))
    make_endpoint("recipient", stranger, receiver.at("/stranger"))

    def disclose(sid):
        separate_grant(sid, [holder])
        _disclose(client_as, sid, holder)

    sid = dormant(after=disclose)
    _, result = purge_all(batch_size=500)
    assert result.counts["subjects"] == 1

    queued = deliveries()
    assert sorted(str(d.endpoint_id) for d in queued) == sorted([crm, other_crm, holder_endpoint])
    assert len({d.event_id for d in queued}) == 1 and {d.request_id for d in queued} == {None}
    assert deliver().delivered == 3
    assert receiver.got("/rectified-only") == [] and receiver.got("/stranger") == []
    for path, secret in (("/crm", crm_secret), ("/holder", holder_secret)):
        [got] = receiver.got(path)
        assert webhooks.verify_signature(secret=secret, body=got.body, header=got.headers["Govern-Signature"])
        payload = json.loads(got.body)
        assert (payload["type"], payload["subject_id"], payload["cause"], payload["retention_run"]) == ("subject.erased", str(sid), "retention", result.run_id)
        # Every rule that purged some of it in this batch (its fields, its purchases), then the shred of what was left.
        assert payload["rules"] == ["basic_identity", "contact_details", "left_with_nothing", "transaction_records"]
        assert payload["request_id"] is None
        assert "fields" not in payload and "record_types" not in payload  # the whole subject went

    sent = b"".join(g.body + json.dumps(g.headers, ensure_ascii=False).encode() for g in receiver.got())
    with runtime.database.engine.connect() as conn:
        stored = "".join(repr(row) for row in conn.execute(text("SELECT * FROM webhook_deliveries"))).encode()
    for value in [*DORMANT.values(), "+86" + DORMANT["mobile"]]:
        assert value.encode() not in sent and value.encode() not in stored, value


def test_a_partial_purge_names_what_went_once_per_subject_and_batch_and_spares_recipients_of_other_data(
    receiver, make_endpoint, crm_component, make_recipient, separate_grant, client_as, make_subject, add_records, purge_all, deliveries,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    holder = make_recipient()
    make_endpoint("recipient", holder, receiver.at("/holder"))
    sid = make_subject()
    add_records(sid, "purchase", [OLD, OLD + 1, OLD + 2, 30])  # three expired purchases, one recent: the subject stays
    separate_grant(sid, [holder])
    _disclose(client_as, sid, holder)  # it received name and mobile, never a purchase

    _, result = purge_all(batch_size=500)
    assert (result.counts["records"], result.counts["subjects"]) == (3, 0)
    [notice] = deliveries()  # three records, one notice; nothing for the recipient, whose copies were not purged
    payload = json.loads(notice.body)
    assert (payload["fields"], payload["record_types"], payload["rules"], payload["cause"]) == ([], ["purchase"], ["transaction_records"], "retention")


def test_a_rerun_and_a_later_purge_queue_nothing_more(
    receiver, make_endpoint, crm_component, dormant, purge_all, purge, plan, approve, deliveries, runtime, audit_events,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    sid = dormant()
    plan_id, result = purge_all(batch_size=500)
    [first] = deliveries()
    assert purge(plan_id).status == "completed"  # the completed run is not executed again
    purge_all()  # a new plan finds nothing due
    # Even the batch's hook called again with what it wrote queues nothing: the shred's event id is stable.
    with runtime.database.unit_of_work() as session:
        again = webhooks.retention_purged(
            session=session, actor=SYSTEM, run_id=result.run_id, batch_start=1,
            purged={sid: webhooks.Purged(rules={"left_with_nothing"}, shredded=True)}, now=utcnow(),
        )
    assert again == [] and [d.id for d in deliveries()] == [first.id]
    [queued] = audit_events(action="webhooks:event:queue")
    assert queued.subject_id == sid and queued.reason == "subject.erased endpoints=1"


def test_a_batch_that_rolls_back_queues_nothing_and_its_rerun_queues_once(
    receiver, make_endpoint, crm_component, dormant, plan, approve, purge, deliveries, monkeypatch,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"))
    dormant()
    _, plan_id = plan()
    approve(plan_id)
    real = webhooks.retention_purged

    class Crash(Exception):
        pass

    def crash_after_queueing(**kw):
        assert real(**kw)  # written in the batch's transaction, not yet committed
        raise Crash

    monkeypatch.setattr(webhooks, "retention_purged", crash_after_queueing)
    with pytest.raises(Crash):
        purge(plan_id, batch_size=500)
    assert deliveries() == []
    monkeypatch.setattr(webhooks, "retention_purged", real)
    assert purge(plan_id, batch_size=500).status == "completed"
    assert len(deliveries()) == 1


def test_a_purge_with_no_subscribed_endpoint_queues_and_audits_nothing(
    receiver, make_endpoint, crm_component, dormant, purge_all, deliveries, audit_events,
):
    make_endpoint("principal", crm_component(), receiver.at("/crm"), events=("subject.rectified", "subject.restricted"))
    dormant()
    _, result = purge_all()
    assert result.counts["subjects"] == 1
    assert deliveries() == [] and audit_events(action="webhooks:event:queue") == []
