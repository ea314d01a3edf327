"""Console pages of the workflow domains: a request worked from received to completed with its package, a purge
plan approved by a second person, consent figures and recipients. The rules are the domains'; these tests check that
the console reaches them and shows what they decide."""

import io
import uuid
import zipfile

import pytest

from govern.identity.actor import Actor
from govern.retention import service as retention
from govern.subject_requests import service as requests_domain

CRM = Actor(name="crm-test", kind="service", roles=("sales_service",))


@pytest.fixture
def filed_request(runtime, make_subject):
    def make(type_: str = "access") -> uuid.UUID:
        sid = make_subject()
        with runtime.database.unit_of_work() as session:
            return requests_domain.file(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type=type_, channel="app").request.id

    return make


def test_privacy_staff_work_an_access_request_from_received_to_completed(console_as, filed_request, audit_events):
    rid = filed_request("access")
    c = console_as("privacy_staff")
    queue = c.get("/console/requests").get_data(as_text=True)
    assert f"/console/requests/{rid}" in queue
    page = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert 'id="verify"' in page and 'id="complete"' not in page  # nothing can be done before identity is verified
    r = c.post(f"/console/requests/{rid}/verify", {"reference": "DOC-CHECK-7", "passed": "yes"})
    assert r.status_code == 302
    page = c.get(f"/console/requests/{rid}?done=verify").get_data(as_text=True)
    assert 'id="done"' in page and 'id="complete"' in page and 'id="download-package"' in page
    package = c.get(f"/console/requests/{rid}/package")
    assert package.status_code == 200 and package.mimetype == "application/zip"
    assert any(n.endswith(".json") for n in zipfile.ZipFile(io.BytesIO(package.data)).namelist())
    assert c.post(f"/console/requests/{rid}/complete", {"explanation": "package sent"}).status_code == 302
    done = c.get(f"/console/requests/{rid}").get_data(as_text=True)
    assert 'id="request-state">已完成' in done
    assert {e.action for e in audit_events(actor_name=c.name)} >= {"requests:identity:verify", "requests:package:create", "requests:request:complete"}


def test_a_refusal_without_a_legal_basis_is_shown_on_the_request_page_and_changes_nothing(console_as, filed_request):
    rid = filed_request("erasure")
    c = console_as("dpo")
    r = c.post(f"/console/requests/{rid}/refuse", {"reason": "excessive", "legal_basis": ""})
    assert r.status_code == 400 and 'id="action-error"' in r.get_data(as_text=True)
    assert 'id="request-state">已收到' in c.get(f"/console/requests/{rid}").get_data(as_text=True)


def test_an_auditor_sees_no_request_pages(console_as, filed_request):
    rid = filed_request()
    c = console_as("auditor")
    assert c.get("/console/requests").status_code == 403
    assert c.post(f"/console/requests/{rid}/complete").status_code == 403


def _plan(runtime, actor: Actor) -> uuid.UUID:
    with runtime.database.unit_of_work() as session:
        return retention.make_plan(session=session, policy=runtime.policy, actor=actor, save=True).plan.id


def test_a_dpo_approves_a_plan_made_by_someone_else_but_not_their_own(runtime, console_as):
    dpo = console_as("dpo")
    theirs = _plan(runtime, Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1)))
    assert 'id="approve"' in dpo.get(f"/console/retention/plans/{theirs}").get_data(as_text=True)
    assert dpo.post(f"/console/retention/plans/{theirs}/approve").status_code == 302
    assert 'id="plan-status" data-status="approved">' in dpo.get(f"/console/retention/plans/{theirs}").get_data(as_text=True)
    from sqlalchemy import select

    from govern.identity.models import Principal

    with runtime.database.unit_of_work() as session:
        me = session.scalar(select(Principal).where(Principal.name == dpo.name))
    mine = _plan(runtime, Actor(name=me.name, kind="staff", roles=tuple(me.roles), principal_id=me.id))
    refused = dpo.post(f"/console/retention/plans/{mine}/approve")
    assert refused.status_code in (403, 409) and 'id="action-error"' in refused.get_data(as_text=True)
    assert 'id="plan-status" data-status="draft">' in dpo.get(f"/console/retention/plans/{mine}").get_data(as_text=True)


def test_privacy_staff_see_plans_but_cannot_approve(runtime, console_as):
    plan = _plan(runtime, Actor(name="alice", kind="staff", roles=("privacy_staff",), principal_id=uuid.UUID(int=1)))
    c = console_as("privacy_staff")
    assert 'id="approve"' not in c.get(f"/console/retention/plans/{plan}").get_data(as_text=True)
    assert c.post(f"/console/retention/plans/{plan}/approve").status_code == 403


def test_an_auditor_reads_consent_figures_and_recipients(console_as, audit_events):
    c = console_as("auditor")
    page = c.get("/console/consent")
    assert page.status_code == 200 and 'id="figures"' in page.get_data(as_text=True)
    assert audit_events(action="consent:figures:read")
