"""Plans: a dry run changes nothing; a saved plan is approved by a second person, never by its creator; only an
approved, current plan is executed, and exactly as it was planned."""

import uuid

import pytest

from govern.errors import Problem
from govern.retention import purge as purge_mod
from govern.timeutil import utcnow
from tests.retention.conftest import CREATOR, days, rule

OLD = 3 * 365 + 5


def test_a_dry_run_changes_nothing(make_subject, add_records, plan, row_counts):
    sid = make_subject()
    add_records(sid, "purchase", [OLD, OLD, 10])
    before = row_counts()
    summary, plan_id = plan(save=False)
    assert plan_id is None
    assert rule(summary, "transaction_records")["due"]["records"] == 2
    assert row_counts() == before


def test_saving_a_plan_changes_no_personal_data_and_is_audited(make_subject, add_records, plan, count_rows, audit_events):
    sid = make_subject()
    add_records(sid, "purchase", [OLD])
    before = count_rows()
    _, plan_id = plan()
    assert count_rows() == before
    assert [e.resource for e in audit_events(action="retention:plan:create")] == [f"retention_plan:{plan_id}"]


def test_a_plan_approved_by_its_creator_is_refused(make_subject, add_records, plan, approve):
    add_records(make_subject(), "purchase", [OLD])
    _, plan_id = plan()
    with pytest.raises(Problem) as refused:
        approve(plan_id, actor=CREATOR)
    assert refused.value.code == "approver_is_creator"
    assert approve(plan_id) == "approved"


def test_an_unapproved_plan_is_not_executed(make_subject, add_records, plan, purge, inventory):
    sid = make_subject()
    add_records(sid, "purchase", [OLD])
    _, plan_id = plan()
    with pytest.raises(purge_mod.PurgeRefused, match="draft"):
        purge(plan_id)
    assert len(inventory(sid)[1]) == 1


def test_an_expired_plan_is_not_executed(make_subject, add_records, plan, approve, purge):
    add_records(make_subject(), "purchase", [OLD])
    _, plan_id = plan()
    approve(plan_id)
    with pytest.raises(purge_mod.PurgeRefused, match="expired"):
        purge(plan_id, now=utcnow() + days(15))


def test_a_plan_made_under_another_retention_policy_is_not_executed(runtime, make_subject, add_records, plan, approve, purge):
    from dataclasses import replace

    add_records(make_subject(), "purchase", [OLD])
    _, plan_id = plan()
    approve(plan_id)
    changed = replace(runtime.policy, retention=replace(runtime.policy.retention, digest="0" * 64))
    with pytest.raises(purge_mod.PurgeRefused, match="retention.yaml changed"):
        purge(plan_id, policy=changed)


def test_the_purge_executes_exactly_the_plan_not_what_became_due_since(make_subject, add_records, plan, approve, purge, inventory):
    sid = make_subject()
    planned = add_records(sid, "purchase", [OLD, OLD])
    _, plan_id = plan()
    approve(plan_id)
    late = add_records(sid, "purchase", [OLD])  # due too, but not in the approved plan
    result = purge(plan_id)
    assert result.counts["records"] == 2 and result.status == "completed"
    assert set(inventory(sid)[1]) == set(late)
    assert not set(planned) & set(inventory(sid)[1])
    again = purge(plan_id)  # a finished plan is not run twice
    assert again.run_id == result.run_id and again.counts == result.counts


def test_plans_and_runs_through_the_api(client_as, staff_client, make_subject, add_records, runtime, purge, audit_events):
    sid = make_subject()
    add_records(sid, "purchase", [OLD, OLD])
    maker, dpo = staff_client("privacy_staff"), staff_client("dpo")
    dry = maker.post("/api/v1/retention/plans", json={"dry_run": True})
    assert dry.status_code == 200 and dry.json["id"] is None
    made = maker.post("/api/v1/retention/plans", json={"note": "monthly review"})
    assert made.status_code == 201, made.json
    plan_id = made.json["id"]
    assert rule(made.json["summary"], "transaction_records")["due"]["records"] == 2
    assert maker.post(f"/api/v1/retention/plans/{plan_id}/approve").status_code == 403  # privacy staff may not approve
    self_approval = staff_client("dpo")
    own = self_approval.post("/api/v1/retention/plans", json={}).json["id"]
    refused = self_approval.post(f"/api/v1/retention/plans/{own}/approve")
    assert refused.status_code == 403 and refused.json["code"] == "approver_is_creator"
    assert any(e.reason == "approver_is_creator" and e.outcome == "denied" for e in audit_events(action="retention:plan:approve"))
    ok = dpo.post(f"/api/v1/retention/plans/{plan_id}/approve")
    assert ok.status_code == 200 and ok.json["approved_by"] == dpo.name
    assert dpo.post(f"/api/v1/retention/plans/{plan_id}/approve").status_code == 409
    purge(uuid.UUID(plan_id))
    runs = client_as("auditor").get("/api/v1/retention/runs").json["items"]
    assert [(r["plan_id"], r["status"], r["counts"]["records"], r["approved_by"]) for r in runs] == [(plan_id, "completed", 2, dpo.name)]
    listed = maker.get("/api/v1/retention/plans").json["items"]
    assert {p["id"]: p["status"] for p in listed}[plan_id] == "executed"
    assert maker.get("/api/v1/retention/rules").json["items"][0]["legal_basis"]["code"]
    assert client_as("sales_service").get("/api/v1/retention/runs").status_code == 403
