"""Alerts reach the rota once per change of state, in each recipient's language, by e-mail (a real SMTP server on
loopback) and webhook (a real receiver), recorded and audited, with ids and dates but no data subject's data."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from govern.alerts import service
from govern.alerts.models import AlertNotice, AlertState
from govern.identity.actor import Actor
from tests.breach.conftest import TEXTS
from tests.conftest import VALID_FIELDS
from tests.subject_requests.conftest import CRM

DPO = Actor(name="dpo-test", kind="staff", roles=("dpo",))
ZH = {"name": "dpo-rota", "language": "zh", "email": "dpo@example.cn", "kinds": ["request", "incident"]}
EN = {"name": "security-rota", "language": "en", "email": "security@example.com", "kinds": ["request"]}


def _file(runtime, subject_id, now: datetime, type_: str = "access"):
    from govern.subject_requests import service as requests

    with runtime.database.unit_of_work() as session:
        req = requests.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=subject_id,
                            type=type_, channel="app", now=now).request
        return req.id, req.due_at.replace(tzinfo=req.due_at.tzinfo or timezone.utc)


def _requests(pairs):
    """The requests' states only (tests never run the sealer, so the unsealed audit backlog is raised beside them)."""
    return [p for p in pairs if p[0].startswith("request:")]


def _rows(runtime, model):
    with runtime.database.unit_of_work() as session:
        return list(session.scalars(select(model)))


def test_an_overdue_request_is_mailed_once_in_each_recipients_language(runtime, smtp, rota, make_subject, audit_events):
    rota(ZH, EN)
    now = datetime.now(timezone.utc)
    rid, due = _file(runtime, make_subject(), now - timedelta(days=90))
    done = service.check_and_notify(runtime, now)
    assert _requests(done.raised) == [(f"request:{rid}", "overdue")] and done.sent == 2
    [zh], [en] = smtp.to("dpo@example.cn"), smtp.to("security@example.com")
    assert "已逾期" in zh.subject and "access" in zh.subject and str(rid) in zh.body
    assert en.subject.startswith("[govern] Data-subject request overdue") and str(rid) in en.body
    assert zh.sender == en.sender == runtime.policy.alerts.sender and zh.headers["Auto-Submitted"] == "auto-generated"
    for mail in (zh, en):  # ids, types and dates: nothing of the person
        assert not any(str(v) in mail.body + mail.subject for v in VALID_FIELDS.values() if len(str(v)) > 3)
    again = service.check_and_notify(runtime, now + timedelta(minutes=5))
    assert _requests(again.raised) == [] and again.sent == 0 and len(smtp.mails) == 2
    notices = _rows(runtime, AlertNotice)
    assert sorted((n.recipient, n.channel, n.language, n.state) for n in notices) == [
        ("dpo-rota", "email", "zh", "sent"), ("security-rota", "email", "en", "sent")]
    raised = [e for e in audit_events() if e.action == "alerts:state:raise" and e.resource.startswith("alert:request:")]
    assert [e.resource for e in raised] == [f"alert:request:{rid}"]
    assert [e.action for e in audit_events()].count("alerts:notice:send") == 2


def test_back_to_normal_then_wrong_again_alerts_again(runtime, smtp, rota, make_subject, audit_events):
    rota(ZH)
    now = datetime.now(timezone.utc)
    rid, due = _file(runtime, make_subject(), now)
    late = due + timedelta(hours=1)
    service.check_and_notify(runtime, late)
    assert len(smtp.mails) == 1 and "已逾期" in smtp.mails[0].subject
    # The deadline moves back out of reach (as an extension would): the state clears, nobody is mailed.
    cleared = service.check_and_notify(runtime, due - timedelta(days=10))
    assert _requests(cleared.cleared) == [(f"request:{rid}", "overdue")] and len(smtp.mails) == 1
    assert [s for s in _rows(runtime, AlertState) if s.kind == "request"] == []
    service.check_and_notify(runtime, due - timedelta(days=1))  # due soon: a change of state, told
    service.check_and_notify(runtime, late + timedelta(hours=1))  # overdue again: told again
    assert ["即将到期" in m.subject for m in smtp.mails] == [False, True, False]
    assert [m.subject for m in smtp.mails][2] == smtp.mails[0].subject
    assert "alerts:state:clear" in [e.action for e in audit_events()]


def test_two_hosts_checking_at_the_same_moment_tell_people_once(runtime, smtp, rota, make_subject):
    rota(ZH, EN)
    now = datetime.now(timezone.utc)
    sid = make_subject()
    for days in (90, 80, 70):
        _file(runtime, sid, now - timedelta(days=days))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def host():
        try:
            start.wait()
            service.check_and_notify(runtime, now)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(smtp.to("dpo@example.cn")) == 3 and len(smtp.to("security@example.com")) == 3
    assert len([s for s in _rows(runtime, AlertState) if s.kind == "request"]) == 3 and len(_rows(runtime, AlertNotice)) == 6


def test_a_breach_clock_alerts_at_half_at_ninety_percent_and_when_it_runs_out(runtime, smtp, rota):
    from govern.breach import service as breach

    rota(ZH, {**EN, "kinds": ["incident"]})
    aware = datetime.now(timezone.utc) - timedelta(hours=1)
    with runtime.database.unit_of_work() as session:
        iid = breach.create(session=session, policy=runtime.policy, actor=DPO, now=datetime.now(timezone.utc),
                            data={"title": "Stolen API key", "detected_at": aware, "aware_at": aware}).id
    with runtime.database.unit_of_work() as session:
        breach.assess(session=session, policy=runtime.policy, actor=DPO, incident_id=iid,
                      data={"people": {"EU": 12}, "categories": ["contact"], "risk": "risk", "notify": "yes", "rationale": "contact data", "texts": TEXTS})
    gdpr = "gdpr_authority"
    service.check_and_notify(runtime, aware + timedelta(hours=10))
    assert not [m for m in smtp.mails if gdpr in m.subject]
    for hours, words in ((37, "half used"), (66, "90% used"), (73, "overdue")):
        service.check_and_notify(runtime, aware + timedelta(hours=hours))
        service.check_and_notify(runtime, aware + timedelta(hours=hours, minutes=1))  # no change: nobody told twice
        told = [m for m in smtp.to("security@example.com") if gdpr in m.subject]
        assert told[-1].subject == f"[govern] Breach notification {'clock ' if words != 'overdue' else ''}{words}: {gdpr}"
    assert [m.subject for m in smtp.to("security@example.com") if gdpr in m.subject] == [
        f"[govern] Breach notification clock half used: {gdpr}", f"[govern] Breach notification clock 90% used: {gdpr}",
        f"[govern] Breach notification overdue: {gdpr}"]
    assert len([m for m in smtp.to("dpo@example.cn") if gdpr in m.subject]) == 3


def test_the_rota_webhook_gets_the_alert_once_as_json_and_a_refusing_one_is_retried_then_given_up(runtime, rota, receiver, make_subject, audit_events):
    rota({"name": "pager", "language": "en", "webhook": receiver.at("/pager"), "kinds": ["request"]})
    now = datetime.now(timezone.utc)
    rid, _ = _file(runtime, make_subject(), now - timedelta(days=90))
    service.check_and_notify(runtime, now)
    service.check_and_notify(runtime, now + timedelta(minutes=1))
    [got] = receiver.got("/pager")
    body = json.loads(got.body)
    assert body["type"] == "govern.alert" and body["kind"] == "request" and body["level"] == "overdue"
    assert body["facts"]["id"] == str(rid) and body["title"].startswith("[govern] Data-subject request overdue")
    assert got.headers["webhook-id"] == f"alert_{body['id']}"

    receiver.status = 503
    rid2, _ = _file(runtime, make_subject(), now - timedelta(days=80))
    for minute in range(runtime.policy.alerts.max_attempts):
        done = service.check_and_notify(runtime, now + timedelta(minutes=10 + minute))
    assert done.failed == 1 and len(receiver.got("/pager")) == 1 + runtime.policy.alerts.max_attempts
    [failed] = [n for n in _rows(runtime, AlertNotice) if n.state == "failed"]
    assert failed.last_error == "status 503" and failed.subject == f"request:{rid2}"
    assert "alerts:notice:fail" in [e.action for e in audit_events()]


def test_failing_endpoints_an_unsealed_backlog_and_failed_jobs_are_told(runtime, smtp, rota, monkeypatch):
    rota({"name": "ops", "language": "en", "email": "ops@example.com", "kinds": ["webhook", "audit", "job"]})
    monkeypatch.setattr(service, "SOURCES", [lambda session, policy, now: [service.job_failed(job="audit_seal", at=now, error="OperationalError")]])
    monkeypatch.setattr(service.webhooks, "figures", lambda session: {"by_state": {}, "failing_endpoints": [
        {"id": "7d5e0c1a-0000-4000-8000-000000000001", "name": "billing", "failed": 4}]})
    now = datetime.now(timezone.utc)
    with runtime.database.unit_of_work() as session:
        from govern.audit import service as audit
        from govern.audit.tags import AlertAction

        audit.append(session=session, actor=service.ACTOR, action=AlertAction.CLEAR, resource="alert:test", reason="seed")
    service.check_and_notify(runtime, now + timedelta(seconds=runtime.policy.audit.max_unsealed_seconds + 60))
    subjects = sorted(m.subject for m in smtp.to("ops@example.com"))
    assert subjects == ["[govern] Scheduled job failed: audit_seal", "[govern] Unsealed audit backlog", "[govern] Webhook endpoint failing: billing"]
    backlog = next(m for m in smtp.mails if "Unsealed" in m.subject)
    assert f"bound {runtime.policy.audit.max_unsealed_seconds} s" in backlog.body
