"""Each kind of rule (counted from collection, occurrence, last interaction, account closure) against a moved clock."""

from datetime import timedelta

from govern.subjects.erasure import Tombstone, tombstones
from govern.timeutil import utcnow
from tests.retention.conftest import days, rule

FIELDS = {"name": "张三", "mobile": "13812345678", "email": "zhang.san@example.cn", "precise_location": "31.2304,121.4737"}


def test_a_field_counted_from_collection_is_due_only_after_its_period(make_subject, plan, approve, purge, inventory):
    sid = make_subject(fields=FIELDS)
    now = utcnow()
    early, _ = plan(now=now + days(89), save=False)
    assert rule(early, "precise_location")["due"]["fields"] == 0
    summary, plan_id = plan(now=now + days(91))
    assert rule(summary, "precise_location")["due"]["fields"] == 1
    assert rule(summary, "precise_location")["sample_subject_ids"] == [str(sid)]
    approve(plan_id)
    result = purge(plan_id, now=now + days(91))
    assert result.counts["fields"] == 1 and result.counts["by_rule"]["precise_location"]["fields"] == 1
    names, _ = inventory(sid)
    assert names == {"name", "mobile", "email"}


def test_a_purchase_is_kept_three_years_from_when_it_occurred(make_subject, add_records, plan, approve, purge, inventory):
    sid = make_subject(fields=FIELDS)
    old, recent = add_records(sid, "purchase", [3 * 365 + 2, 2 * 365])
    summary, plan_id = plan()
    r = rule(summary, "transaction_records")
    assert (r["due"]["records"], r["legal_basis"]["code"], r["keep"], r["counted_from"]) == (1, "CN-ECL-31", "3y", "occurred_at")
    approve(plan_id)
    purge(plan_id)
    assert set(inventory(sid)[1]) == {recent}


def test_contact_details_expire_three_years_after_the_last_interaction_and_a_recent_record_postpones_it(
    runtime, make_subject, add_records, plan
):
    from sqlalchemy import update

    from govern.subjects.models import Subject

    quiet = make_subject(fields=FIELDS)
    active = make_subject(fields=FIELDS)
    with runtime.database.unit_of_work() as session:  # both profiles last changed over three years ago
        session.execute(update(Subject).values(updated_at=utcnow() - days(3 * 365 + 5)))
    summary, _ = plan(save=False)
    assert rule(summary, "contact_details")["due"]["fields"] == 4  # mobile and email of both
    add_records(active, "purchase", [10])  # a purchase ten days ago is an interaction
    summary, _ = plan(save=False)
    assert rule(summary, "contact_details")["due"]["fields"] == 2
    assert rule(summary, "contact_details")["sample_subject_ids"] == [str(quiet)]
    summary, _ = plan(now=utcnow() + days(3 * 365 + 2), save=False)
    assert rule(summary, "contact_details")["due"]["fields"] == 4


def test_a_closed_account_is_purged_after_its_grace_period_except_what_a_law_keeps(
    runtime, make_subject, add_records, close_account, plan, approve, purge, inventory
):
    sid = make_subject(fields=FIELDS)
    (purchase,) = add_records(sid, "purchase", [10])
    add_records(sid, "communication", [10])
    now = utcnow()
    close_account(sid, at=now)
    # 15 working days (GB/T 35273-2020 §8.5) on the CN calendar: the end of the 15th working day after closure.
    grace_end = runtime.policy.retention.closed_accounts_keep.end(now)
    assert (grace_end - now).days >= 18  # never 15 calendar days: three weekends at least
    summary, _ = plan(now=grace_end - timedelta(microseconds=1), save=False)
    assert summary["totals"]["fields"] == 0 and summary["totals"]["records"] == 0
    summary, plan_id = plan(now=grace_end)
    closed = rule(summary, "closed_accounts")
    assert closed["due"] == {"fields": 4, "records": 1, "subjects": 0}
    assert closed["legal_basis"]["code"] == "GBT35273-8.5" and closed["keep"] == "15wd"
    approve(plan_id, now=grace_end)
    purge(plan_id, now=grace_end)
    # The purchase stays (E-Commerce Law Art. 31 survives closure): the subject is not left with nothing yet.
    assert inventory(sid) == (set(), {purchase: "purchase"})
    summary, plan_id = plan(now=now + days(3 * 365 + 2))
    assert rule(summary, "transaction_records")["due"]["records"] == 1
    assert rule(summary, "closed_accounts")["due"]["subjects"] == 1
    approve(plan_id, now=now + days(3 * 365 + 2))
    result = purge(plan_id, now=now + days(3 * 365 + 2))
    assert result.counts["subjects"] == 1
    assert inventory(sid) is None
    with runtime.database.unit_of_work() as session:
        assert session.get(Tombstone, sid).reason == "retention_purge"
    assert str(sid) in {t["subject_id"] for t in tombstones(runtime.ledgers.tombstones)}


def test_a_subject_left_with_nothing_is_crypto_shredded(runtime, make_subject, plan, approve, purge, inventory, audit_events):
    sid = make_subject(fields={"name": "李四", "precise_location": "31.2304,121.4737"})
    keep = make_subject(fields=FIELDS)
    now = utcnow() + days(3 * 365 + 2)
    summary, plan_id = plan(now=now)
    assert rule(summary, "left_with_nothing")["due"]["subjects"] == 2
    approve(plan_id, now=now)
    purge(plan_id, now=now)
    assert inventory(sid) is None and inventory(keep) is None
    with runtime.database.unit_of_work() as session:
        from govern.crypto.models import SubjectKey

        assert session.get(SubjectKey, sid) is None  # the data key is destroyed
    assert {e.action for e in audit_events(subject_id=sid)} >= {"subjects:profile:erase-fields", "subjects:profile:shred"}
