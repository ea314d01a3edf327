"""Factories for request tests: file a request as a CRM service or privacy staff, at a chosen moment."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from govern.identity.actor import Actor

# A CRM service sees only the requests it filed (by principal id): the tests' CRM has a fixed one.
CRM = Actor(name="crm-test", kind="service", roles=("sales_service",), principal_id=uuid.UUID("00000000-0000-4000-8000-00000000c0de"))
STAFF = Actor(name="privacy-officer", kind="staff", roles=("privacy_staff",))


@pytest.fixture
def file_request(runtime):
    """file_request(subject_id, type, now=…, **kw) -> request id, filed through the service as the CRM."""
    from govern.subject_requests import service

    def make(subject_id, type: str = "access", *, now: datetime | None = None, channel: str = "app", by=None, **kw):
        # by: an ApiClient (client_as) to file as that principal, which then sees the request (a service sees only its own).
        actor = CRM if by is None else Actor(name=by.name, kind="service", roles=("sales_service",), principal_id=by.principal_id)
        with runtime.database.unit_of_work() as session:
            filed = service.file(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=actor, subject_id=subject_id, type=type, channel=channel,
                now=now, **kw,
            )
            return filed.request.id

    return make


@pytest.fixture
def act(runtime):
    """act(fn, **kw): calls a requests service/flows function in its own transaction with the runtime's context."""

    def call(fn, actor: Actor = STAFF, **kw):
        with runtime.database.unit_of_work() as session:
            import inspect

            params = inspect.signature(fn).parameters
            extra = {k: v for k, v in {"policy": runtime.policy, "envelope": runtime.envelope}.items() if k in params}
            return fn(session=session, actor=actor, **extra, **kw)

    return call


@pytest.fixture
def verify_by_session(act):
    from govern.subject_requests import service

    def verify(request_id, now=None):
        result = act(service.verify, actor=CRM, request_id=request_id, method="crm_session", reference="sess-1", now=now)
        assert result.verified
        return result

    return verify
