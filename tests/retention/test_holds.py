"""Legal holds: held data is never purged, whether the hold came before the plan or after it; lifting is audited."""

from govern.retention import service
from govern.timeutil import utcnow
from tests.retention.conftest import CREATOR, days, rule

OLD = 3 * 365 + 5


def _hold(runtime, subject_id, **kw):
    with runtime.database.unit_of_work() as session:
        return service.place_hold(session=session, policy=runtime.policy, actor=CREATOR, subject_id=subject_id, reason=kw.pop("reason", "litigation"), **kw).id


def test_a_hold_on_a_subject_blocks_every_purge_of_it_and_is_counted_as_held_back(runtime, make_subject, add_records, plan, approve, purge, inventory):
    held = make_subject()
    free = make_subject()
    add_records(held, "purchase", [OLD, OLD])
    add_records(free, "purchase", [OLD, OLD])
    _hold(runtime, held, note="case 2026-001")
    summary, plan_id = plan()
    tr = rule(summary, "transaction_records")
    assert tr["due"]["records"] == 2 and tr["held"]["records"] == 2
    assert tr["sample_subject_ids"] == [str(free)]
    approve(plan_id)
    purge(plan_id)
    assert len(inventory(held)[1]) == 2 and inventory(free)[1] == {}


def test_a_hold_on_a_record_type_or_on_single_records_keeps_only_those(runtime, make_subject, add_records, plan, approve, purge, inventory):
    sid = make_subject()
    purchases = add_records(sid, "purchase", [OLD, OLD, OLD])
    (ticket,) = add_records(sid, "service_ticket", [OLD])
    (mail,) = add_records(sid, "communication", [400])
    _hold(runtime, sid, record_type="service_ticket", reason="subject_dispute")
    _hold(runtime, sid, record_ids=[purchases[0]], reason="tax_audit")
    _, plan_id = plan()
    approve(plan_id)
    result = purge(plan_id)
    assert result.counts["records"] == 3  # two purchases and the communication
    assert set(inventory(sid)[1]) == {purchases[0], ticket}
    assert mail not in inventory(sid)[1]


def test_a_hold_placed_after_the_plan_was_approved_is_respected_by_the_purge(runtime, make_subject, add_records, plan, approve, purge, inventory):
    sid = make_subject(fields={"name": "王五"})
    other = make_subject(fields={"name": "赵六"})
    add_records(sid, "purchase", [OLD, OLD])
    add_records(other, "purchase", [OLD])
    now = utcnow() + days(3 * 365 + 2)  # everything is due, both subjects would be shredded
    summary, plan_id = plan(now=now)
    assert summary["totals"]["subjects"] == 2
    approve(plan_id, now=now)
    _hold(runtime, sid, reason="regulator_inquiry")
    result = purge(plan_id, now=now)
    assert result.counts["held"] == 4  # the name, two purchases and the shredding of the subject
    assert result.counts["subjects"] == 1 and inventory(other) is None
    assert inventory(sid) == ({"name"}, {r: "purchase" for r in inventory(sid)[1]}) and len(inventory(sid)[1]) == 2


def test_lifting_a_hold_is_audited_and_makes_the_data_purgeable_again(runtime, make_subject, add_records, plan, audit_events):
    sid = make_subject()
    add_records(sid, "purchase", [OLD])
    hold_id = _hold(runtime, sid)
    assert rule(plan(save=False)[0], "transaction_records")["held"]["records"] == 1
    with runtime.database.unit_of_work() as session:
        service.lift_hold(session=session, actor=CREATOR, hold_id=hold_id, reason="case settled")
    assert rule(plan(save=False)[0], "transaction_records")["due"]["records"] == 1
    lifts = audit_events(action="retention:hold:lift")
    assert [(e.subject_id, e.resource, e.actor_name) for e in lifts] == [(sid, f"hold:{hold_id}", "alice")]


def test_a_hold_with_an_end_stops_holding_when_it_ends(runtime, make_subject, add_records, plan):
    sid = make_subject()
    add_records(sid, "purchase", [OLD])
    _hold(runtime, sid, until=utcnow() + days(30))
    assert rule(plan(save=False)[0], "transaction_records")["held"]["records"] == 1
    assert rule(plan(now=utcnow() + days(31), save=False)[0], "transaction_records")["due"]["records"] == 1


def test_holds_through_the_api(client_as, make_subject, add_records, audit_events):
    sid = make_subject()
    (rid,) = add_records(sid, "purchase", [10])
    staff = client_as("privacy_staff")
    r = staff.post("/api/v1/holds", json={"subject_id": str(sid), "record_ids": [str(rid)], "reason": "litigation", "note": "case 7"})
    assert r.status_code == 201, r.json
    hold = r.json
    assert (hold["scope"], hold["record_ids"], hold["owner"], hold["active"]) == ("records", [str(rid)], staff.name, True)
    assert staff.get(f"/api/v1/holds?subject_id={sid}").json["items"][0]["id"] == hold["id"]
    bad = staff.post("/api/v1/holds", json={"subject_id": str(sid), "reason": "because"})
    assert bad.status_code == 400 and "reason" in bad.json["errors"]
    assert client_as("sales_service").post("/api/v1/holds", json={"subject_id": str(sid), "reason": "litigation"}).status_code == 403
    lifted = staff.open(f"/api/v1/holds/{hold['id']}?reason=settled", "DELETE")
    assert lifted.status_code == 200 and lifted.json["active"] is False and lifted.json["lift_reason"] == "settled"
    assert staff.open(f"/api/v1/holds/{hold['id']}", "DELETE").status_code == 409
    assert [e.action for e in audit_events(subject_id=sid) if e.action.startswith("retention:")] == ["retention:hold:place", "retention:hold:lift"]
