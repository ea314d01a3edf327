"""Two staff changing the same subject at once (issue 19): a status change, a rectification or a death recorded reads
the subject FOR UPDATE, so the second waits for the first and applies its rule to the subject as it now stands —
never a 503 from the subject's version check."""

from __future__ import annotations

from datetime import date

from govern.identity.actor import Actor
from govern.subject_requests import deceased
from govern.subjects import erasure, rights
from govern.subjects.models import Subject
from tests.races import race

STAFF = [Actor(name=f"privacy-{n}", kind="staff", roles=("privacy_staff",)) for n in ("li", "chen")]


def test_two_staff_restricting_a_subject_at_once_it_is_restricted_once(runtime, make_subject, audit_events):
    subject_id = make_subject()

    def restrict(actor):
        return lambda session: rights.set_status(
            session=session, actor=actor, subject_id=subject_id, status="restricted", reason="accuracy contested",
        ).status

    first, second = race(runtime, restrict(STAFF[0]), restrict(STAFF[1]))
    assert (first, second) == ("restricted", "restricted"), (first, second)  # the second: nothing left to change, not a 503
    with runtime.database.unit_of_work() as session:
        assert session.get(Subject, subject_id).status == "restricted"
    assert [e.actor_name for e in audit_events(action="subjects:profile:status")] == ["privacy-li"]


def test_restricting_and_recording_a_death_at_once_both_stand(runtime, make_subject):
    subject_id = make_subject()

    def restrict(session):
        return rights.set_status(session=session, actor=STAFF[0], subject_id=subject_id, status="restricted", reason="accuracy contested").status

    def died(session):
        return deceased.mark(session=session, policy=runtime.policy, actor=STAFF[1], subject_id=subject_id, deceased_on=date(2026, 11, 1), evidence_ref="CERT-1")

    first, second = race(runtime, restrict, died)
    assert first == "restricted"
    assert not isinstance(second, BaseException), second
    with runtime.database.unit_of_work() as session:
        subject = session.get(Subject, subject_id)
        assert (subject.status, subject.deceased_on) == ("restricted", date(2026, 11, 1))


def test_shredding_a_subject_while_its_status_changes_waits_and_marks_it_erased(runtime, make_subject):
    """The shredding that leaves the rows to the sweep marks the subject erased: it waits for the status change in
    progress and marks the row as it stands, instead of failing on its version."""
    subject_id = make_subject()

    def restrict(session):
        return rights.set_status(session=session, actor=STAFF[0], subject_id=subject_id, status="restricted", reason="accuracy contested").status

    def shred(session):
        return erasure.shred(session=session, envelope=runtime.envelope, actor=STAFF[1], subject_id=subject_id, reason="request", inline_records=-1)

    first, second = race(runtime, restrict, shred)
    assert first == "restricted"
    assert not isinstance(second, BaseException), second
    with runtime.database.unit_of_work() as session:
        assert session.get(Subject, subject_id).status == "erased"
