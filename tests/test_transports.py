"""Transports through the official SDKs against a local stand-in speaking the providers' formats."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from outreach.testing.providers import ProviderStandIn, RunningProviders
from outreach.transports.base import Message, SendResult
from outreach.transports.files import FilesTransport
from outreach.transports.sendgrid import SendGridTransport
from outreach.transports.twilio import TwilioTransport

EMAIL = Message(outbox_id=42, channel="email", to="ana@example.org",
                sender="Marijuana Justice <team@mj.example>", subject="Thank you",
                text="Thanks for signing.", html="<p>Thanks for signing.</p>",
                reply_to="Ana <ana@example.org>",
                headers={"List-Unsubscribe": "<https://mj.example/u/tok>"})
SMS = Message(outbox_id=7, channel="sms", to="+12155550100", sender="+12155550199",
              text="Call DA Krasner: (215) 686-8000. Reply STOP to opt out.")


@pytest.fixture
def providers() -> Iterator[RunningProviders]:
    running = RunningProviders(ProviderStandIn(stall_seconds=1.5))
    yield running
    running.close()


def sendgrid(providers: RunningProviders, **kwargs) -> SendGridTransport:
    kwargs.setdefault("timeout", 1.0)
    return SendGridTransport(providers.standin.sendgrid_key, providers.url, **kwargs)


def twilio(providers: RunningProviders, **kwargs) -> TwilioTransport:
    kwargs.setdefault("timeout", 1.0)
    return TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                           from_number="+12155550199", base_url=providers.url, **kwargs)


def test_files_transport_writes_a_whole_rfc5322_message(tmp_path):
    transport = FilesTransport(tmp_path, "email")
    result = transport.send(EMAIL)
    assert result == SendResult("sent", provider_message_id="0000000042.eml")
    parsed = email.message_from_bytes((tmp_path / "email" / "0000000042.eml").read_bytes())
    assert parsed["To"] == "ana@example.org" and parsed["Subject"] == "Thank you"
    assert parsed["Reply-To"] == "Ana <ana@example.org>"
    assert parsed["List-Unsubscribe"] == "<https://mj.example/u/tok>"
    assert parsed.is_multipart()
    assert transport.find_sent(EMAIL, datetime.now(UTC)) == "0000000042.eml"
    assert not list((tmp_path / "email").glob("*.tmp"))


def test_files_transport_journals_sms(tmp_path):
    transport = FilesTransport(tmp_path, "sms")
    assert transport.find_sent(SMS, datetime.now(UTC)) is None
    transport.send(SMS)
    [line] = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["body"] == SMS.text
    assert transport.find_sent(SMS, datetime.now(UTC)) == "sms-7"


def test_sendgrid_accepts_and_keeps_only_our_opaque_id(providers):
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == "sent" and result.provider_message_id
    [accepted] = providers.standin.emails
    assert accepted["custom_args"] == {"outreach_id": "42"}
    assert accepted["reply_to"] == "ana@example.org"
    assert accepted["headers"] == {"List-Unsubscribe": "<https://mj.example/u/tok>"}
    assert [c["type"] for c in accepted["content"]] == ["text/plain", "text/html"]


@pytest.mark.parametrize(("status", "outcome"), [(429, "retry"), (500, "retry"),
                                                 (503, "retry"), (400, "failed"),
                                                 (403, "failed"), (413, "failed")])
def test_sendgrid_errors_map_to_retry_or_failed(providers, status, outcome):
    providers.standin.fail_next(1, status=status, retry_after="7" if status == 429 else None)
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == outcome
    assert result.error.startswith(f"SendGrid HTTP {status}")
    if status == 429:
        assert result.retry_after == 7


def test_sendgrid_bad_key_fails_with_sendgrids_reason(providers):
    transport = SendGridTransport("SG.wrong", providers.url, timeout=1.0)
    result = transport.send(EMAIL)
    assert result.outcome == "failed"
    assert "authorization grant is invalid" in result.error


def test_sendgrid_lost_answer_is_unknown_not_retry(providers):
    providers.standin.lose_next_answers(1)
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == "unknown"
    assert len(providers.standin.emails) == 1  # it did arrive: a retry would duplicate it


def test_sendgrid_unreachable_is_retry(providers):
    url = providers.url
    providers.close()
    result = SendGridTransport("SG.x", url, timeout=1.0).send(EMAIL)
    assert result.outcome == "retry" and "unreachable" in result.error


def test_twilio_sends_and_the_list_finds_it(providers):
    transport = twilio(providers, status_callback="https://mj.example/hooks/twilio/status")
    before = datetime.now(UTC) - timedelta(seconds=5)
    result = transport.send(SMS)
    assert result.outcome == "sent" and result.provider_message_id.startswith("SM")
    assert providers.standin.sms[0]["status_callback"] == \
        "https://mj.example/hooks/twilio/status"
    assert transport.find_sent(SMS, before) == result.provider_message_id


@pytest.mark.parametrize(("numbers", "code", "suppress"), [
    ("unsubscribed_numbers", 21610, True),
    ("invalid_numbers", 21211, False),
    ("landline_numbers", 21614, False),
])
def test_twilio_permanent_errors(providers, numbers, code, suppress):
    getattr(providers.standin, numbers).add(SMS.to)
    result = twilio(providers).send(SMS)
    assert (result.outcome, result.suppress) == ("failed", suppress)
    assert f"error {code}" in result.error


def test_twilio_429_retries_after_what_twilio_says(providers):
    providers.standin.fail_next(1, status=429, retry_after="3")
    result = twilio(providers).send(SMS)
    assert (result.outcome, result.retry_after) == ("retry", 3.0)


def test_twilio_lost_answer_is_unknown_and_reconciles_to_sent(providers):
    providers.standin.lose_next_answers(1)
    transport = twilio(providers)
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert transport.send(SMS).outcome == "unknown"
    assert transport.find_sent(SMS, before) == providers.standin.sms[0]["sid"]


def test_twilio_unreachable_is_retry(providers):
    url = providers.url
    providers.close()
    transport = TwilioTransport("AC" + "0" * 32, "t", from_number="+1", base_url=url,
                                timeout=1.0)
    assert transport.send(SMS).outcome == "retry"


def test_unsubscribe_headers_reach_every_email_transport(tmp_path, providers):
    headers = {"List-Unsubscribe": "<https://x.example/u/t>, <mailto:u@x.example>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    message = Message(9, "email", "ana@example.org", "Org <o@x.example>", "hi", subject="s",
                      headers=headers)
    FilesTransport(tmp_path, "email").send(message)
    parsed = email.message_from_bytes((tmp_path / "email" / "0000000009.eml").read_bytes())
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sendgrid(providers).send(message)
    assert providers.standin.emails[-1]["headers"] == headers
