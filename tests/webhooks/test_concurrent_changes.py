"""Two admins changing the same webhook endpoint at once (issue 19): each change reads the endpoint FOR UPDATE, so the
second waits for the first and builds on it — never a 500 or a 503 from the endpoint's version check."""

from __future__ import annotations

import uuid

from click.testing import CliRunner
from sqlalchemy import update

from govern.cli import main
from govern.identity.actor import Actor
from govern.webhooks import service
from govern.webhooks.models import WebhookEndpoint
from tests.races import race

ADMINS = [Actor(name=f"admin-{n}", kind="staff", roles=("admin",)) for n in ("li", "chen")]


def test_two_admins_rotating_a_secret_at_once_both_rotations_stand_one_after_the_other(runtime, make_endpoint, crm_component, audit_events):
    eid, _ = make_endpoint("principal", crm_component(), "https://crm.example.cn/hooks/govern", events=["subject.erased"])
    endpoint_id = uuid.UUID(eid)

    def rotate(actor):
        return lambda session: service.rotate_secret(
            session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, endpoint_id=endpoint_id,
        ).endpoint.secret_generation

    first, second = race(runtime, rotate(ADMINS[0]), rotate(ADMINS[1]))
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second  # not StaleDataError (500) on PostgreSQL
    assert second == first + 1
    with runtime.database.unit_of_work() as session:
        assert session.get(WebhookEndpoint, endpoint_id).secret_generation == second
    assert [e.reason for e in audit_events(action="webhooks:endpoint:rotate-secret")][-2:] == [f"generation={first}", f"generation={second}"]


def test_a_cli_batch_that_loses_a_version_clash_stops_with_edit_conflict_and_changes_nothing(runtime, settings, make_endpoint, crm_component, monkeypatch):
    """The clash surfaces at the batch's commit: the command says edit_conflict (run it again) and exits 1 — no
    traceback — and the endpoint is as it was."""
    eid, _ = make_endpoint("principal", crm_component(), "https://crm.example.cn/hooks/govern", events=["subject.erased"])
    endpoint_id = uuid.UUID(eid)

    def rotate_while_someone_else_writes(*, session, endpoint_id, **_):
        found = service.get_endpoint(session=session, endpoint_id=endpoint_id)
        table = WebhookEndpoint.__table__  # someone else's change: the row's version moves on, the session's copy does not
        session.execute(update(table).where(table.c.id == endpoint_id).values(version=table.c.version + 1))
        found.name = "changed here too"  # flushed at the batch's commit, against a version that is gone
        return service.IssuedSecret(found, "whsec_never-stored")

    before = _name(runtime, endpoint_id)
    monkeypatch.setattr(service, "rotate_secret", rotate_while_someone_else_writes)
    env = {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir)}
    result = CliRunner().invoke(main, ["webhooks", "endpoints", "rotate-secret", eid], env=env)
    assert result.exit_code == 1, result.output
    assert "edit_conflict" in result.stderr and "Traceback" not in result.output + result.stderr
    assert "whsec_never-stored" not in result.stdout
    assert _name(runtime, endpoint_id) == before


def _name(runtime, endpoint_id):
    with runtime.database.unit_of_work() as session:
        return session.get(WebhookEndpoint, endpoint_id).name
