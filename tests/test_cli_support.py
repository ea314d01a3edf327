"""Times in the CLI's tables read as the operator reads a clock: in their zone (TZ), to the second, with the offset;
--json keeps UTC for programs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from govern.cli import main
from govern.cli_support import local_time
from tests.breach.conftest import dpo, iso  # noqa: F401, F811  (fixtures)


def test_a_deadline_at_the_last_instant_of_a_day_reads_to_the_second_in_the_operators_zone(monkeypatch):
    end_of_day = datetime(2026, 12, 4, 15, 59, 59, 999999, tzinfo=timezone.utc)
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    assert local_time(end_of_day) == "2026-12-04T23:59:59+08:00"
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert local_time(end_of_day) == "2026-12-04T16:59:59+01:00"
    assert local_time(end_of_day.replace(tzinfo=None)) == "2026-12-04T16:59:59+01:00"  # SQLite hands back naive UTC
    assert local_time(None) == "-"


def test_the_clocks_table_shows_local_times_and_its_json_stays_utc(settings, dpo):  # noqa: F811
    aware = datetime.now(timezone.utc) - timedelta(days=4)
    iid = dpo.post("/api/v1/incidents", json={"title": "Overdue", "detected_at": iso(aware)}).json["id"]
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"people": {"EU": 2}, "risk": "risk", "notify": "yes", "rationale": "r"})
    env = {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir),
           "TZ": "Asia/Shanghai"}
    table = CliRunner().invoke(main, ["breach", "clocks"], env=env).output
    [line] = [row for row in table.splitlines() if "gdpr_authority" in row]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00 ", line), line
    rows = json.loads(CliRunner().invoke(main, ["breach", "clocks", "--json"], env=env).stdout)
    assert any(str(r["due_at"]).endswith("+00:00") for r in rows)
