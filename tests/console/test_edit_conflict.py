"""Someone else changed the item at the same moment (issue 19): the console answers 409 with a page saying so in the
reader's language (zh, en) — reload and try again — not a 503 or a 500 page, and nothing of the change is kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from govern.breach import board, service
from govern.breach.models import Incident
from govern.console.i18n import translate
from govern.identity.actor import Actor


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_version_clash_in_the_console_is_a_409_page_saying_someone_else_changed_the_item(runtime, console_as, monkeypatch, lang):
    c = console_as("dpo")
    c.post("/console/preferences", {"language": lang})
    aware = datetime.now(timezone.utc) - timedelta(hours=1)
    with runtime.database.unit_of_work() as session:
        incident = service.create(session=session, policy=runtime.policy, actor=Actor(name="soc", kind="staff", roles=("security",)),
                                  data={"title": "Stolen API key", "detected_at": aware, "aware_at": aware}, now=aware + timedelta(minutes=1))
        incident_id, before = incident.id, (incident.title, incident.assignee_id, incident.version)

    def assign_while_someone_else_writes(*, session, incident_id, **_):
        found = service.get_or_raise(session=session, incident_id=incident_id)
        table = Incident.__table__  # someone else's change: the row's version moves on, the session's copy does not
        session.execute(update(table).where(table.c.id == incident_id).values(version=table.c.version + 1))
        found.title = "changed here too"
        session.flush()  # the versioned UPDATE finds no row of the version it read: StaleDataError
        return found

    monkeypatch.setattr(board, "assign", assign_while_someone_else_writes)
    r = c.post(f"/console/incidents/{incident_id}/assign", {"assignee": "me"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409, html[:500]
    assert r.mimetype == "text/html"
    message = translate("edit_conflict", lang)
    assert message in html and "edit_conflict" in html
    assert {"zh": "其他人", "en": "Someone else"}[lang] in message
    with runtime.database.unit_of_work() as session:
        stored = session.get(Incident, incident_id)
        assert (stored.title, stored.assignee_id, stored.version) == before
