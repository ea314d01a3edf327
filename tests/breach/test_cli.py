"""`govern breach list | clocks | register | contain` against the same database the API writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from govern.cli import main
from tests.breach.conftest import iso


def _env(settings) -> dict[str, str]:
    return {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir)}


def test_the_clocks_command_lists_overdue_first_and_fails_the_cron_job(settings, dpo, client_as):
    aware = datetime.now(timezone.utc) - timedelta(days=4)
    iid = dpo.post("/api/v1/incidents", json={"title": "Overdue", "detected_at": iso(aware)}).json["id"]
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"people": {"EU": 2}, "risk": "risk", "notify": "yes", "rationale": "r"})
    runner = CliRunner()
    result = runner.invoke(main, ["breach", "clocks"], env=_env(settings))
    assert result.exit_code == 2 and "OVERDUE" in result.output and "gdpr_authority" in result.output
    listed = runner.invoke(main, ["breach", "list", "--json"], env=_env(settings))
    assert listed.exit_code == 0 and json.loads(listed.stdout)["figures"]["overdue_notifications"] == 1
    register = runner.invoke(main, ["breach", "register"], env=_env(settings))
    assert register.exit_code == 0 and json.loads(register.stdout)[0]["id"] == iid
    crm = client_as("sales_service")
    contained = runner.invoke(main, ["breach", "contain", iid, "--disable-principal", crm.name], env=_env(settings))
    assert contained.exit_code == 0 and "disable_principal: done" in contained.output
    assert crm.get("/api/v1/subjects/00000000-0000-4000-8000-000000000000", purpose="order_fulfilment").status_code == 401


def test_containment_for_an_unknown_incident_is_a_clean_error(settings, runtime):  # runtime: the keyring exists
    result = CliRunner().invoke(main, ["breach", "contain", "00000000-0000-4000-8000-000000000000", "--rotate-master-key"], env=_env(settings))
    assert result.exit_code == 1 and "No such incident" in result.output


def test_containment_rotates_the_master_key_and_every_subject_stays_readable(settings, runtime, dpo, client_as, make_subject):
    from govern.crypto import service as crypto

    sid = make_subject()
    runtime.keyring.reload_if_changed(every_seconds=0)
    before = runtime.keyring.active_version
    iid = dpo.post("/api/v1/incidents", json={"title": "Keyring copied", "detected_at": iso(datetime.now(timezone.utc))}).json["id"]
    result = CliRunner().invoke(main, ["breach", "contain", iid, "--rotate-master-key", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    [action] = json.loads(result.stdout)  # the answer alone: the log lines (a first key check, say) go to stderr
    assert action["action"] == "rotate_master_key" and action["executed"]
    runtime.keyring.reload_if_changed(every_seconds=0)  # the CLI rotated the keyring file behind this process
    status = crypto.status(database=runtime.database, keyring=runtime.keyring)
    assert status["active"] == before + 1 and status["rotation"] is None
    assert set(status["data_keys_by_version"]) == {before + 1}
    runtime.envelope.cache.clear()
    assert client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    timeline = dpo.get(f"/api/v1/incidents/{iid}").json
    assert "rotate_master_key" in json.dumps(timeline)
