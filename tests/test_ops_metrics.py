"""The figures /metrics reads from the database at each scrape (clocks, queues, backlogs), and the example alert rules
and Grafana dashboard in docs/ops/: every metric they name exists in a real scrape of the app."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import yaml

from govern.identity.actor import Actor
from tests.breach.conftest import TEXTS
from tests.conftest import repo_path
from tests.subject_requests.conftest import CRM

DPO = Actor(name="dpo-test", kind="staff", roles=("dpo",))


def _scrape(app) -> str:
    return app.test_client().get("/metrics").get_data(as_text=True)


def _samples(text: str) -> dict[str, list[str]]:
    """Sample name -> the sample lines (labels and value) of a Prometheus text exposition."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            out.setdefault(name, []).append(line)
    return out


def _file(runtime, subject_id, type_: str, now: datetime):
    from govern.subject_requests import service

    with runtime.database.unit_of_work() as session:
        return service.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=subject_id,
                            type=type_, channel="app", now=now).request.id


def _incident(runtime, aware: datetime):
    from govern.breach import service

    with runtime.database.unit_of_work() as session:
        iid = service.create(session=session, policy=runtime.policy, actor=DPO, now=datetime.now(timezone.utc),
                             data={"title": "Stolen API key", "detected_at": aware, "aware_at": aware}).id
    with runtime.database.unit_of_work() as session:
        service.assess(session=session, policy=runtime.policy, actor=DPO, incident_id=iid,
                       data={"people": {"EU": 12}, "categories": ["contact"], "risk": "risk", "notify": "yes", "rationale": "contact data of 12 people", "texts": TEXTS})
    return iid


def _due_soon_within(runtime, monkeypatch, days: int) -> None:
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, requests=replace(runtime.policy.requests, due_soon_days=days)))


def test_requests_due_soon_and_overdue_are_counted_by_type_and_jurisdiction_never_by_id(app, runtime, make_subject, monkeypatch):
    now = datetime.now(timezone.utc)
    sid = make_subject()
    late = _file(runtime, sid, "access", now - timedelta(days=60))
    soon = _file(runtime, sid, "erasure", now)
    _due_soon_within(runtime, monkeypatch, 60)  # a fresh erasure is due within two months anywhere
    text = _scrape(app)
    assert 'govern_requests_overdue{jurisdiction="CN",type="access"} 1.0' in text
    assert 'govern_requests_due_soon{jurisdiction="CN",type="erasure"} 1.0' in text, [x for x in text.splitlines() if "requests_due" in x]
    assert str(late) not in text and str(soon) not in text and str(sid) not in text


def test_a_running_breach_clock_shows_its_seconds_left_and_share_used_by_kind(app, runtime):
    _incident(runtime, datetime.now(timezone.utc) - timedelta(hours=36))  # GDPR: 72 hours from awareness, half used
    samples = _samples(_scrape(app))
    left = next(s for s in samples["govern_breach_notification_seconds_left"] if 'kind="gdpr_authority"' in s)
    assert 35 * 3600 < float(left.rsplit(" ", 1)[1]) <= 36 * 3600
    used = next(s for s in samples["govern_breach_notification_clock_used_ratio"] if 'kind="gdpr_authority"' in s)
    assert 0.49 < float(used.rsplit(" ", 1)[1]) < 0.52
    assert any('kind="gdpr_authority"} 1.0' in s for s in samples["govern_breach_notification_clocks_open"])


def test_the_outbox_the_audit_backlog_and_the_policy_bounds_are_read_at_scrape(app, runtime):
    samples = _samples(_scrape(app))
    assert {s.split("}")[0] + "}" for s in samples["govern_webhook_deliveries"]} == {
        f'govern_webhook_deliveries{{state="{state}"}}' for state in ("pending", "delivered", "failed")}
    assert samples["govern_audit_max_unsealed_seconds"] == [f"govern_audit_max_unsealed_seconds {float(runtime.policy.audit.max_unsealed_seconds)}"]
    assert samples["govern_crypto_data_keys_behind"] == ["govern_crypto_data_keys_behind 0.0"]
    assert samples["govern_webhook_endpoints_failing"] == ["govern_webhook_endpoints_failing 0.0"]
    assert float(samples["govern_audit_unsealed_backlog_events"][0].split()[1]) >= 0


def _names(expr: str) -> set[str]:
    return set(re.findall(r"\bgovern_[a-z0-9_]+", expr))


def test_every_metric_the_alert_rules_and_the_dashboard_name_exists_in_a_real_scrape(app, runtime, make_subject, monkeypatch):
    now = datetime.now(timezone.utc)
    sid = make_subject()
    _file(runtime, sid, "access", now - timedelta(days=60))
    _file(runtime, sid, "erasure", now)
    _due_soon_within(runtime, monkeypatch, 60)
    _incident(runtime, now - timedelta(hours=36))
    app.test_client().get("/healthz")
    app.test_client().get("/readyz")
    scraped = set(_samples(_scrape(app)))
    rules = yaml.safe_load(repo_path("docs", "ops", "prometheus-alerts.yml").read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(repo_path("docs", "ops", "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = set().union(*(_names(e) for e in exprs))
    assert len(named) >= 15
    assert not named - scraped, f"named in docs/ops but not in /metrics: {sorted(named - scraped)}"
    assert all(rule.get("alert") and rule["labels"]["severity"] in ("warning", "critical") for group in rules["groups"] for rule in group["rules"])
