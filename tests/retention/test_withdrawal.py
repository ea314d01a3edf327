"""Withdrawal has consequences (PIPL Art. 47 ¶1(3); GDPR Art. 17(1)(b)): data a withdrawn consent leaves without any
basis is listed by the next purge plan once the grace period has run from the withdrawal, and executing the plan
removes it; data another basis still covers (a contract in being, another consent in force) stays."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from govern.consent import service as consent
from govern.identity.actor import Actor
from govern.timeutil import utcnow
from tests.retention.conftest import rule

LEAD = {"name": "王五", "mobile": "13912345678", "email": "wang.wu@example.cn"}
ONE = timedelta(microseconds=1)


def _consent(runtime, sid: uuid.UUID, action: str, purposes: list[str], at: datetime) -> None:
    versions = {p: runtime.policy.notices.for_purpose(p).current(utcnow()).version for p in purposes}
    with runtime.database.unit_of_work() as session:
        consent.record(
            session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), subject_id=sid, action=action,
            purposes=purposes, channel="app", notice_version=versions if action == "grant" else None,
            evidence="form-2026-0001" if action == "grant" else None, occurred_at=at, now=at,
        )


def test_a_marketing_only_lead_who_withdraws_is_purged_after_the_grace_period(runtime, make_subject, plan, approve, purge, inventory):
    lead = make_subject(fields=LEAD)
    stays = make_subject(fields=LEAD)  # granted and never withdrew
    granted = utcnow() - timedelta(minutes=5)
    for sid in (lead, stays):
        _consent(runtime, sid, "grant", ["marketing"], granted)
    withdrawn = utcnow() - timedelta(minutes=1)
    _consent(runtime, lead, "withdraw", ["marketing"], withdrawn)
    grace_end = runtime.policy.retention.consent_withdrawn.keep.end(withdrawn)
    assert str(runtime.policy.retention.consent_withdrawn.keep) == "15wd"

    summary, _ = plan(now=grace_end - ONE, save=False)
    assert rule(summary, "consent_withdrawn")["due"] == {"fields": 0, "records": 0, "subjects": 0}

    summary, plan_id = plan(now=grace_end)
    due = rule(summary, "consent_withdrawn")
    assert due["due"]["fields"] == 3 and due["sample_subject_ids"] == [str(lead)]
    assert due["legal_basis"]["code"] == "PIPL-47-1-3" and due["counted_from"] == "consent_withdrawn"
    assert rule(summary, "left_with_nothing")["sample_subject_ids"] == [str(lead)]
    approve(plan_id, now=grace_end)
    result = purge(plan_id, now=grace_end)
    assert result.counts["by_rule"]["consent_withdrawn"]["fields"] == 3
    assert inventory(lead) is None  # nothing left: crypto-shredded
    assert inventory(stays) == (set(LEAD), {})


def test_a_customer_keeps_what_the_contract_and_another_consent_cover(runtime, make_subject, add_records, plan, approve, purge, inventory):
    customer = make_subject(fields={**LEAD, "birth_date": "1990-05-01"})
    (order,) = add_records(customer, "purchase", [30])
    lead = make_subject(fields={**LEAD, "birth_date": "1991-06-02"})
    granted = utcnow() - timedelta(minutes=5)
    for sid in (customer, lead):
        _consent(runtime, sid, "grant", ["marketing", "personalisation"], granted)
    withdrawn = utcnow() - timedelta(minutes=1)
    _consent(runtime, customer, "withdraw", ["marketing", "personalisation"], withdrawn)
    _consent(runtime, lead, "withdraw", ["marketing"], withdrawn)  # personalisation still in force
    grace_end = runtime.policy.retention.consent_withdrawn.keep.end(withdrawn)

    summary, plan_id = plan(now=grace_end)
    assert rule(summary, "consent_withdrawn")["due"]["fields"] == 2
    approve(plan_id, now=grace_end)
    purge(plan_id, now=grace_end)
    # The order shows a contract in being: name, mobile and email stay for order fulfilment (PIPL Art. 13(2)); the
    # date of birth only personalisation used goes; the purchase itself is kept by its own rule (E-Commerce Law Art. 31).
    assert inventory(customer) == ({"name", "mobile", "email"}, {order: "purchase"})
    # Personalisation (name, email, birth date) is still consented to: only the mobile number lost its every basis.
    assert inventory(lead) == ({"name", "email", "birth_date"}, {})


def test_a_renewed_consent_holds_the_purge_back_and_the_grace_counts_from_the_last_withdrawal(runtime, make_subject, plan):
    renewed = make_subject(fields=LEAD)
    late = make_subject(fields=LEAD)
    now = utcnow()
    for sid in (renewed, late):
        _consent(runtime, sid, "grant", ["marketing", "personalisation"], now - timedelta(days=40))
    first, second = now - timedelta(days=30), now - timedelta(days=2)
    _consent(runtime, renewed, "withdraw", ["marketing", "personalisation"], first)
    _consent(runtime, renewed, "grant", ["marketing"], second)
    _consent(runtime, late, "withdraw", ["marketing"], first)
    _consent(runtime, late, "withdraw", ["personalisation"], second)
    keep = runtime.policy.retention.consent_withdrawn.keep
    assert keep.end(first) <= now < keep.end(second)
    # Now: only the mobile number (marketing alone used it) has been without a basis for 15 working days; name and
    # email lost their last basis (personalisation) two days ago.
    summary, _ = plan(now=now, save=False)
    assert rule(summary, "consent_withdrawn")["due"]["fields"] == 1
    summary, _ = plan(now=keep.end(second), save=False)
    assert rule(summary, "consent_withdrawn")["due"]["fields"] == 3
    assert rule(summary, "consent_withdrawn")["sample_subject_ids"] == [str(late)]  # the renewed consent covers the other
