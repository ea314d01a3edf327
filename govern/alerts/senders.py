"""How a notice leaves: e-mail through the SMTP server GOVERN_SMTP_URL names (smtp://host:25, smtp://host:587?starttls=1,
smtps://user:password@host:465), or an HTTP POST to the rota's webhook URL through the webhooks' egress guard (the
same https rule and allow-list as every webhook, the address checked is the one connected to). Each returns None when
sent, or the reason it was not (a short code and an exception's type: never the server's words, which may echo data)."""

from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from govern import __version__
from govern.errors import Invalid
from govern.webhooks import delivery
from govern.webhooks.egress import Guard, Refused
from govern.webhooks.service import check_url


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool  # smtps://
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> "SmtpServer":
        """GOVERN_SMTP_URL; ValueError naming what is wrong (never echoing the password)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("GOVERN_SMTP_URL: scheme must be smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("GOVERN_SMTP_URL: a host is required")
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps" else 25), implicit_tls=parts.scheme == "smtps",
            starttls=query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None, password=unquote(parts.password) if parts.password else None,
        )


def send_email(*, smtp_url: str | None, sender: str, to: str, subject: str, body: str, timeout: float) -> str | None:
    if not smtp_url:
        return "smtp_not_configured"
    try:
        server = SmtpServer.parse(smtp_url)
    except ValueError:
        return "smtp_url_invalid"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = make_msgid(domain="govern")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to an alert
    message.set_content(body, charset="utf-8")
    try:
        client = (smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=ssl.create_default_context()) if server.implicit_tls
                  else smtplib.SMTP(server.host, server.port, timeout=timeout))
        with client:
            if server.starttls:
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password or "")
            client.send_message(message)
    except smtplib.SMTPException as exc:
        return f"smtp: {type(exc).__name__}"
    except (OSError, ssl.SSLError) as exc:
        return f"unreachable: {type(exc).__name__}"
    return None


def send_webhook(*, guard: Guard, url: str, payload: dict, message_id: str, timeout: float) -> str | None:
    try:
        target = guard.check(check_url(url))
    except Invalid:  # check_url refused it (validation_failed)
        return "url_refused_by_policy"
    except Refused as exc:
        return f"refused: {exc.reason}"
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"govern-alerts/{__version__}", "webhook-id": message_id}
    answer = delivery.post(target, body, headers, timeout)
    if answer.error:
        return answer.error
    return None if answer.status is not None and 200 <= answer.status < 300 else f"status {answer.status}"
