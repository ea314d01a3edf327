"""A real HTTP receiver on loopback, endpoints registered through the API, and the request, sharing and retention factories."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from govern.webhooks.egress import AllowList
from tests.retention.conftest import add_records, approve, plan, purge  # noqa: F401  (fixtures)
from tests.sharing.conftest import make_recipient, privacy, recipient_body, separate_grant  # noqa: F401  (fixtures)
from tests.subject_requests.conftest import act, file_request, verify_by_session  # noqa: F401  (fixtures)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What a receiver got, and the status it answers with (`status`, or the next of `statuses` while any are left)."""

    url: str
    status: int = 200
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> str:
        return self.url + path

    def got(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]


@pytest.fixture
def receiver():
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.received.append(Received(self.path, {k: v for k, v in self.headers.items()}, body))
                code = state.statuses.pop(0) if state.statuses else state.status
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


LOOPBACK = ("127.0.0.0/8", "::1/128", "localhost")


@pytest.fixture(autouse=True)
def loopback_receivers(runtime, monkeypatch):
    """The suite's receivers listen on loopback over plain http: a test policy allow-lists loopback (urls.allow), as an
    operator would for a receiver on the same host, and runs as `govern serve --dev` does (http allowed)."""
    webhooks = replace(runtime.policy.webhooks, allow=AllowList.parse(LOOPBACK))
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, webhooks=webhooks))
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, dev=True))


@pytest.fixture
def shipped_policy(runtime, monkeypatch, loopback_receivers):
    """policies/webhooks.yaml as shipped (no allow-list), outside dev mode: what production enforces."""
    from govern.policies import load_policy

    monkeypatch.setattr(runtime, "policy", load_policy(runtime.settings.policies_dir))
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, dev=False))


@pytest.fixture
def admin(client_as):
    return client_as("admin")


@pytest.fixture
def make_endpoint(admin):
    """make_endpoint(kind, owner_id, url, events=…) -> (endpoint id, secret), registered through the API by an admin."""

    def make(kind: str, owner_id, url: str, events=("subject.erased", "subject.rectified", "subject.restricted",
                                                    "subject.restriction_lifted", "subject.processing_stopped"), **extra):
        r = admin.post("/api/v1/webhooks/endpoints", json={"url": url, "owner": {"kind": kind, "id": str(owner_id)}, "event_types": list(events), **extra})
        assert r.status_code == 201, r.json
        return r.json["id"], r.json["secret"]

    return make


@pytest.fixture
def crm_component(make_principal):
    """A CRM component (a service principal) -> its id."""

    def make(role: str = "sales_service"):
        principal, _ = make_principal(role)
        return principal.id

    return make


@pytest.fixture
def complete(runtime):
    """complete(request_id): carries a verified request out through requests.flows.complete, as privacy staff."""
    from govern.subject_requests import flows
    from tests.subject_requests.conftest import STAFF

    def run(request_id):
        with runtime.database.unit_of_work() as session:
            return flows.complete(
                session=session, policy=runtime.policy, envelope=runtime.envelope, actor=STAFF, request_id=request_id,
                ledgers=runtime.ledgers,
            )

    return run


@pytest.fixture
def deliver(runtime):
    """deliver(now=None, **kw): one run of the delivery worker."""
    from govern.identity.actor import Actor
    from govern.webhooks import delivery
    from govern.webhooks.egress import Guard

    def run(**kw):
        kw.setdefault("guard", Guard.of(runtime))  # the runtime's policy, dev setting and resolver, as `govern webhooks deliver`
        return delivery.deliver_due(database=runtime.database, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), **kw)

    return run


@pytest.fixture
def deliveries(runtime):
    """deliveries() -> every outbox row, oldest first."""
    from sqlalchemy import select

    from govern.webhooks.models import WebhookDelivery

    def read():
        with runtime.database.unit_of_work() as session:
            return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.id)))

    return read
