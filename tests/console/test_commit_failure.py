"""A console action whose commit fails after its view returned — the audit log cannot be written (503) or the row lost
a race at the commit's flush (409) — is answered with the console's error page in the reader's language, with the
console's headers, not with the API's problem+json; nothing of the action is kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from govern.breach import service
from govern.breach.models import Incident
from govern.console.i18n import translate
from govern.identity.actor import Actor


def _incident(runtime) -> tuple[str, tuple]:
    aware = datetime.now(timezone.utc) - timedelta(hours=1)
    with runtime.database.unit_of_work() as session:
        incident = service.create(session=session, policy=runtime.policy, actor=Actor(name="soc", kind="staff", roles=("security",)),
                                  data={"title": "Lost laptop", "detected_at": aware, "aware_at": aware}, now=aware + timedelta(minutes=1))
        return incident.id, (incident.assignee_id, incident.version)


def _assign_with_commit_failing(c, incident_id, monkeypatch, error: Exception, **kw):
    def failing_commit(self):
        raise error

    real_commit = Session.commit
    monkeypatch.setattr(Session, "commit", failing_commit)
    try:
        return c.post(f"/console/incidents/{incident_id}/assign", {"assignee": "me"}, **kw)
    finally:
        monkeypatch.setattr(Session, "commit", real_commit)


FAILURES = {
    "audit_unavailable": (RuntimeError("the disk is full"), 503),  # the audit log cannot take the action's events
    "edit_conflict": (StaleDataError("UPDATE statement on table 'incidents' expected to update 1 row(s); 0 were matched."), 409),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("code", sorted(FAILURES))
def test_an_action_whose_commit_fails_is_an_error_page_in_the_readers_language(runtime, console_as, monkeypatch, code, lang):
    c = console_as("dpo")
    c.post("/console/preferences", {"language": lang})
    incident_id, before = _incident(runtime)
    error, status = FAILURES[code]
    r = _assign_with_commit_failing(c, incident_id, monkeypatch, error)
    html = r.get_data(as_text=True)
    assert r.status_code == status and r.mimetype == "text/html", html[:300]
    assert translate(code, lang) in html and code in html
    assert str(error) not in html  # what failed inside is the log's, not the page's
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"] and r.headers["Cache-Control"] == "no-store"
    with runtime.database.unit_of_work() as session:
        stored = session.get(Incident, incident_id)
        assert (stored.assignee_id, stored.version) == before


def test_a_console_client_asking_for_json_still_gets_problem_json_when_the_commit_fails(runtime, console_as, monkeypatch):
    c = console_as("dpo")
    incident_id, _ = _incident(runtime)
    r = _assign_with_commit_failing(c, incident_id, monkeypatch, RuntimeError("the disk is full"), headers={"Accept": "application/json"})
    assert r.status_code == 503 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "audit_unavailable"
