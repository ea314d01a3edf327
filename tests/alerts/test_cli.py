"""`govern alerts check` from cron: one check against the same database, the rota of the policy folder it is given,
mail through GOVERN_SMTP_URL; run again, it tells nobody twice."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from govern.alerts.senders import SmtpServer
from govern.cli import main
from tests.alerts.test_alerts import _file


def _env(settings, policies, smtp_url) -> dict[str, str]:
    return {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(policies),
            "GOVERN_SMTP_URL": smtp_url}


def test_the_check_command_mails_the_rota_once(settings, runtime, smtp, make_subject, tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(settings.policies_dir, policies)
    path = policies / "alerts.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  recipients: []", "  recipients:\n    - {name: dpo-rota, language: en, email: dpo@example.com, kinds: [request]}"), encoding="utf-8")
    rid, _ = _file(runtime, make_subject(), datetime.now(timezone.utc) - timedelta(days=90))
    runner = CliRunner()
    first = runner.invoke(main, ["alerts", "check", "--json"], env=_env(settings, policies, smtp.url))
    assert first.exit_code == 0, first.output
    assert f"request:{rid} overdue" in json.loads(first.stdout)["raised"] and json.loads(first.stdout)["sent"] == 1
    second = runner.invoke(main, ["alerts", "check"], env=_env(settings, policies, smtp.url))
    assert second.exit_code == 0 and "notices sent: 0" in second.output
    [mail] = smtp.to("dpo@example.com")
    assert str(rid) in mail.body


def test_the_shipped_policy_records_states_and_says_nobody_is_told(settings, runtime, make_subject):
    _file(runtime, make_subject(), datetime.now(timezone.utc) - timedelta(days=90))
    result = CliRunner().invoke(main, ["alerts", "check"], env=_env(settings, settings.policies_dir, ""))
    assert result.exit_code == 0 and "raised  request:" in result.output and "nobody is told" in result.output


def test_the_smtp_url_names_tls_login_and_port():
    assert SmtpServer.parse("smtps://alerts%40corp:p%3Ass@mail.corp.example") == SmtpServer(
        host="mail.corp.example", port=465, implicit_tls=True, starttls=False, username="alerts@corp", password="p:ss")
    relay = SmtpServer.parse("smtp://relay:587?starttls=1")
    assert (relay.port, relay.starttls, relay.implicit_tls, relay.username) == (587, True, False, None)
    assert SmtpServer.parse("smtp://relay").port == 25
