"""A withdrawal received on paper or by e-mail and entered days later takes effect from when it was received: the
receipt and the history say who entered it, when and why (audited consent:clock:backdate), and the reads made in
between are reported as not covered by consent — from the audit log, which is not rewritten. Never in the future,
never before the grant it ends, never without a reason."""

from datetime import timedelta

from govern.timeutil import utcnow

WHY = "withdrawal letter opened late by the post room"


def test_a_withdrawal_entered_late_counts_the_reads_since_it_was_received_as_uncovered(crm, marketing, make_subject, consent, audit_events, client_as):
    sid = make_subject()
    granted_at = utcnow() - timedelta(days=30)
    assert consent(crm, sid, "grant", occurred_at=granted_at.isoformat()).status_code == 201
    for _ in range(3):  # marketing reads while the letter lies unopened
        assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200
    reads_before = [(e.id, e.outcome, e.canonical) for e in audit_events(action="subjects:profile:read", subject_id=sid)]

    received = utcnow() - timedelta(days=2)
    staff = client_as("privacy_staff")
    r = consent(staff, sid, "withdraw", channel="paper", method="written", evidence="letter-2026-118",
                occurred_at=received.isoformat(), occurred_reason=WHY)
    assert r.status_code == 201, r.json
    receipt = r.json
    assert receipt["govern"]["entered_because"] == WHY and receipt["govern"]["recorded_by"] == staff.name
    assert receipt["govern"]["occurred_at"][:16] == received.isoformat()[:16] and receipt["govern"]["recorded_at"] > receipt["govern"]["occurred_at"]
    [grant_dated_back, late] = audit_events(action="consent:clock:backdate", subject_id=sid)
    assert grant_dated_back.reason == "grant:30d"  # a grant dated back leaves its trace too, with or without a reason
    assert (late.reason, late.purpose, late.actor_name) == ("withdraw:2d", "marketing", staff.name) and WHY not in late.canonical

    history = staff.get(f"/api/v1/subjects/{sid}/consents").json
    [gap] = history["reads_after_withdrawal"]
    assert gap["purpose"] == "marketing" and gap["reads"] == 3 and gap["until"] is None
    assert gap["withdrawn_at"][:16] == received.isoformat()[:16]
    # The audit log is not rewritten: the reads stay recorded as they were allowed.
    assert [(e.id, e.outcome, e.canonical) for e in audit_events(action="subjects:profile:read", subject_id=sid)] == reads_before
    # From now on the read is refused as after any withdrawal.
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").json["reason"] == "consent_withdrawn"


def test_a_withdrawal_entered_as_it_arrives_leaves_no_uncovered_read(crm, marketing, make_subject, consent, client_as):
    sid = make_subject()
    consent(crm, sid, "grant")
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200
    assert consent(marketing, sid, "withdraw").status_code == 201
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 403
    [gap] = client_as("privacy_staff").get(f"/api/v1/subjects/{sid}/consents").json["reads_after_withdrawal"]
    assert gap["reads"] == 0 and gap["last_read_at"] is None


def test_a_late_withdrawal_needs_a_reason_never_precedes_its_grant_and_is_never_in_the_future(crm, make_subject, consent, row_counts, client_as):
    sid = make_subject()
    granted_at = utcnow() - timedelta(days=5)
    consent(crm, sid, "grant", occurred_at=granted_at.isoformat())
    staff = client_as("privacy_staff")
    before = row_counts()
    r = consent(staff, sid, "withdraw", occurred_at=(utcnow() - timedelta(days=1)).isoformat())
    assert r.status_code == 400 and "occurred_reason" in r.json["errors"]
    r = consent(staff, sid, "withdraw", occurred_at=(granted_at - timedelta(days=1)).isoformat(), occurred_reason=WHY)
    assert r.status_code == 409 and r.mimetype == "application/problem+json" and r.json["code"] == "out_of_order"
    r = consent(staff, sid, "withdraw", occurred_at=(utcnow() + timedelta(days=1)).isoformat(), occurred_reason=WHY)
    assert r.status_code == 400 and "occurred_at" in r.json["errors"]
    assert row_counts() == before
    # The day after the grant is fine.
    assert consent(staff, sid, "withdraw", occurred_at=(granted_at + timedelta(days=1)).isoformat(), occurred_reason=WHY).status_code == 201


def test_a_regrant_ends_the_uncovered_window(crm, marketing, make_subject, consent, client_as):
    sid = make_subject()
    consent(crm, sid, "grant", occurred_at=(utcnow() - timedelta(days=10)).isoformat())
    marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing")
    staff = client_as("privacy_staff")
    assert consent(staff, sid, "withdraw", occurred_at=(utcnow() - timedelta(days=3)).isoformat(), occurred_reason=WHY).status_code == 201
    assert consent(crm, sid, "grant").status_code == 201
    assert marketing.get(f"/api/v1/subjects/{sid}", purpose="marketing").status_code == 200  # covered by the new grant
    [gap] = staff.get(f"/api/v1/subjects/{sid}/consents").json["reads_after_withdrawal"]
    assert gap["reads"] == 1 and gap["until"] is not None
