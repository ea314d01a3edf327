"""A real SMTP server on loopback (aiosmtpd), the rota as recipients of a test policy, and the factories of requests,
incidents and webhook receivers."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, replace

import pytest
from aiosmtpd.controller import Controller

from govern.alerts.policy import Recipient
from tests.webhooks.conftest import loopback_receivers, receiver  # noqa: F401  (fixtures: a receiver on loopback, allowed)


@dataclass
class Mail:
    sender: str
    to: list[str]
    subject: str
    body: str
    headers: dict[str, str]


class Inbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.url = ""  # what GOVERN_SMTP_URL says to reach it
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), str(message["Subject"]), message.get_content(),
                                   {k: str(v) for k, v in message.items()}))
        return "250 OK"

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if address in m.to]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(runtime, monkeypatch):
    """An SMTP server on loopback that GOVERN_SMTP_URL names for the test."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, smtp_url=inbox.url))
    yield inbox
    controller.stop()


@pytest.fixture
def rota(runtime, monkeypatch):
    """rota(*recipients): the test policy's recipients (Recipient or dicts)."""

    def make(*recipients):
        listed = tuple(r if isinstance(r, Recipient) else Recipient(**{"email": None, "webhook": None, **r, "kinds": frozenset(r["kinds"])})
                       for r in recipients)
        monkeypatch.setattr(runtime, "policy", replace(runtime.policy, alerts=replace(runtime.policy.alerts, recipients=listed)))

    return make
