"""Two staff changing the same incident at once (issue 19): every change reads the incident FOR UPDATE, so the second
waits for the first and then applies its rule to the incident as it now stands — refused with a 409 that says why, or
applied after the first — never a 503 audit_unavailable; and a version clash that still happens is answered 409
edit_conflict with nothing changed."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from govern.breach import flows, service
from govern.breach.models import Incident
from govern.errors import Problem
from govern.timeutil import as_utc
from tests.breach.conftest import DPO
from tests.races import race

SOC = DPO.__class__(name="soc-test", kind="staff", roles=("security",))


def _state(runtime, incident_id: uuid.UUID) -> tuple[str, int]:
    with runtime.database.unit_of_work() as session:
        incident = session.get(Incident, incident_id)
        return incident.state, incident.version


def _bump(session, incident_id: uuid.UUID) -> None:
    """Someone else's change, as the database sees it: the row's version moves on, the session's copy does not."""
    table = Incident.__table__
    session.execute(update(table).where(table.c.id == incident_id).values(version=table.c.version + 1))


def _move(runtime, actor, incident_id, to):
    return lambda session: service.transition(session=session, policy=runtime.policy, actor=actor, incident_id=incident_id, to=to).state


def test_two_people_moving_an_incident_at_once_the_second_is_told_it_has_moved_on(runtime, open_incident, audit_events):
    incident = open_incident()
    first, second = race(runtime, _move(runtime, DPO, incident, "assessing"), _move(runtime, SOC, incident, "assessing"))
    assert first == "assessing"
    assert isinstance(second, Problem), second
    assert (second.status, second.code) == (409, "illegal_transition")  # not 503 audit_unavailable
    assert second.extra["state"] == "assessing"
    assert _state(runtime, incident)[0] == "assessing"
    assert [e.reason for e in audit_events(action="breach:incident:transition")] == ["detected->assessing"]


def test_two_people_recording_times_at_once_both_times_stand_each_on_the_timeline(runtime, open_incident):
    """Both changes move the incident's version: the second waits, reads the first's times and adds its own."""
    aware = datetime.now(timezone.utc) - timedelta(hours=3)
    incident = open_incident(aware_at=aware)
    began, ended = aware - timedelta(hours=5), aware - timedelta(hours=4)

    def times(actor, **when):
        return lambda session: service.record_times(
            session=session, policy=runtime.policy, actor=actor, incident_id=incident, times=when, reason="found in the VPN logs",
        ).version

    first, second = race(runtime, times(DPO, occurred_from=began), times(SOC, occurred_to=ended))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second  # not 503 audit_unavailable
    assert second > first
    with runtime.database.unit_of_work() as session:
        stored = session.get(Incident, incident)
        assert (as_utc(stored.occurred_from), as_utc(stored.occurred_to)) == (began, ended)
        assert [e.actor_name for e in service.timeline(session=session, incident_id=incident) if e.kind == "times"] == ["dpo-test", "soc-test"]


def test_a_version_clash_is_answered_409_edit_conflict_and_changes_nothing(runtime, dpo, open_incident, audit_events, monkeypatch):
    """Someone else's change lands between this request's read and its write (forced: the version moves behind the
    ORM's back): 409 edit_conflict, retry after reloading — not 503 audit_unavailable — and the incident is as it was."""
    incident = open_incident()
    before = _state(runtime, incident)
    read = service.get_or_raise

    def read_then_someone_else_writes(*, session, incident_id, for_update=False):
        found = read(session=session, incident_id=incident_id, for_update=for_update)
        _bump(session, incident_id)
        return found

    monkeypatch.setattr(service, "get_or_raise", read_then_someone_else_writes)
    r = dpo.post(f"/api/v1/incidents/{incident}/transition", json={"to": "assessing"})
    assert r.status_code == 409, r.json
    assert r.json["code"] == "edit_conflict" and r.json["type"].endswith("/edit_conflict")
    assert r.headers["Content-Type"] == "application/problem+json"
    assert "reload" in r.json["detail"]
    assert _state(runtime, incident) == before  # the forced bump rolled back with the rest
    assert audit_events(action="breach:incident:transition") == []


def test_a_version_clash_after_the_audit_write_is_409_edit_conflict_too(runtime, dpo, open_incident, audit_events, monkeypatch):
    """The clash surfaces after the audit event was written (a later flush, or the request's commit): still 409
    edit_conflict, not 503 and not 500, and the audit event goes with the rest."""
    incident = open_incident()
    before = _state(runtime, incident)
    real = flows.transition

    def transition_then_someone_else_writes(*, session, incident_id, **kw):
        found = real(session=session, incident_id=incident_id, **kw)
        _bump(session, incident_id)
        found.title = found.title + " (edited)"  # a change left for the next flush
        return found

    monkeypatch.setattr(flows, "transition", transition_then_someone_else_writes)
    r = dpo.post(f"/api/v1/incidents/{incident}/transition", json={"to": "assessing"})
    assert (r.status_code, r.json["code"]) == (409, "edit_conflict"), r.json
    assert _state(runtime, incident) == before
    assert audit_events(action="breach:incident:transition") == []
