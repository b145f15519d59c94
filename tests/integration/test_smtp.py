"""SMTP transport against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from outreach.message import Message
from outreach.sending.transports.smtp import SmtpTransport

MESSAGE = Message(outbox_id=3, channel="email", to="ana@example.org",
                  sender="Team <team@mj-campaign.org>", subject="Thanks", text="Thank you.",
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


def test_list_unsubscribe_reaches_the_server_unencoded(smtp_server, tmp_path):
    """RFC 2369: the header's mailto must stay a readable <mailto:...>; folding it into RFC 2047
    encoded-words (Python's default at 78 characters) breaks mail clients' unsubscribe."""
    from outreach.sending.transports.files import FilesTransport

    token = "1MNzvIFAVxXncISwPuFT6Q"
    header = (f"<https://act.reformorg.example/u/{token}>, "
              f"<mailto:team@marijuana-justice.example.org?subject=unsubscribe-{token}>")
    message = Message(outbox_id=4, channel="email", to="ana@example.org",
                      sender="Team <team@mj-campaign.org>", subject="Thanks", text="Thank you.",
                      headers={"List-Unsubscribe": header,
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    controller, recorder = smtp_server
    assert SmtpTransport(url(controller), timeout=5).send(message).outcome == "sent"
    FilesTransport(tmp_path, "email").send(message)
    for raw in (recorder.messages[0].content, (tmp_path / "email" / "0000000004.eml").read_bytes()):
        assert b"=?utf-8?" not in raw
        assert f"<mailto:team@marijuana-justice.example.org?subject=unsubscribe-{token}>".encode() \
            in raw
        assert email.message_from_bytes(raw)["List-Unsubscribe"] == header
