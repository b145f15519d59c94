"""SMTP transport against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from outreach.transports.base import Message
from outreach.transports.smtp import SmtpTransport

MESSAGE = Message(outbox_id=3, channel="email", to="ana@example.org",
                  sender="Team <team@mj.example>", subject="Thanks", text="Thank you.",
                  headers={"List-Unsubscribe": "<https://mj.example/u/t>"})


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []
        self.reply: str | None = None

    async def handle_RCPT(self, server, session: Session, envelope: Envelope, address: str,
                          options: list) -> str:
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Recorder]]:
    recorder = Recorder()
    with socket.socket() as probe:  # a free port: the Controller cannot be given port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, recorder
    controller.stop()


def url(controller: Controller) -> str:
    return f"smtp://127.0.0.1:{controller.port}"


def test_message_is_delivered_with_its_headers(smtp_server):
    controller, recorder = smtp_server
    result = SmtpTransport(url(controller), timeout=5).send(MESSAGE)
    assert result.outcome == "sent"
    [envelope] = recorder.messages
    assert envelope.rcpt_tos == ["ana@example.org"]
    parsed = email.message_from_bytes(envelope.content)
    assert parsed["Subject"] == "Thanks"
    assert parsed["List-Unsubscribe"] == "<https://mj.example/u/t>"
    assert parsed["Message-ID"] == result.provider_message_id


@pytest.mark.parametrize(("reply", "outcome"), [("450 Mailbox busy", "retry"),
                                                ("550 No such user", "failed")])
def test_smtp_reply_codes_map_to_retry_or_failed(smtp_server, reply, outcome):
    controller, recorder = smtp_server
    recorder.reply = reply
    result = SmtpTransport(url(controller), timeout=5).send(MESSAGE)
    assert result.outcome == outcome
    assert result.error.startswith(f"SMTP {reply[:3]}")


def test_required_starttls_refuses_a_plain_server(smtp_server):
    controller, _ = smtp_server
    result = SmtpTransport(url(controller) + "?starttls=required", timeout=5).send(MESSAGE)
    assert result.outcome == "failed" and "STARTTLS" in result.error


def test_unreachable_server_is_retry():
    result = SmtpTransport("smtp://127.0.0.1:1", timeout=2).send(MESSAGE)
    assert result.outcome == "retry"


def test_bad_url_is_refused():
    with pytest.raises(ValueError, match="smtp://user:pass@host:587"):
        SmtpTransport("mailto:x@example.org")
