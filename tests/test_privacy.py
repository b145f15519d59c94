"""Contact details are masked in the texts the engine stores and shows."""

from __future__ import annotations

from outreach.privacy import mask, scrub
from outreach.testing.providers import ProviderStandIn, RunningProviders
from outreach.transports.base import Message
from outreach.transports.twilio import TwilioTransport


def test_mask_keeps_enough_to_recognize_not_to_contact():
    assert mask("ana.lopez@example.org") == "a***@example.org"
    assert mask("+12155550100") == "+1215***0100"
    assert mask("12") == "***"


def test_scrub_masks_every_spelling_of_the_number():
    text = "The 'To' number +12155550100 (2155550100) is not valid"
    assert scrub(text, "+12155550100") == "The 'To' number +1215***0100 (21555***0100) is not valid"


def test_provider_error_texts_are_scrubbed_before_they_are_stored():
    running = RunningProviders(ProviderStandIn())
    try:
        running.standin.invalid_numbers.add("+12155550100")
        transport = TwilioTransport(running.standin.twilio_sid, running.standin.twilio_token,
                                    from_number="+12155550199", base_url=running.url,
                                    timeout=2)
        result = transport.send(Message(1, "sms", "+12155550100", "+12155550199", "hi"))
    finally:
        running.close()
    assert result.outcome == "failed"
    assert "2155550100" not in result.error and "+1215***0100" in result.error
