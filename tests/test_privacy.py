"""Contact details are masked in the texts the engine stores and shows."""

from __future__ import annotations

from pathlib import Path

from outreach.privacy import MaskingFilter, mask, mask_text, scrub
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


def test_mask_text_finds_emails_phones_and_street_addresses():
    text = mask_text("failed for ana.lopez@example.org at (215) 555-0100, 1421 Arch Street")
    assert text == "failed for a***@example.org at 21555***0100, [street address]"
    assert mask_text("outbox row 1234 claimed by worker 7") == \
        "outbox row 1234 claimed by worker 7"


def test_logs_are_masked_whatever_logged_them(caplog):
    import logging

    logger = logging.getLogger("outreach.test")
    caplog.handler.addFilter(MaskingFilter())
    try:
        raise ValueError("bad recipient +12155550100")
    except ValueError:
        logger.exception("send to %s failed", "ana@example.org")
    assert "ana@example.org" not in caplog.text and "2155550100" not in caplog.text
    assert "a***@example.org" in caplog.text


def test_a_full_demo_run_logs_no_signers_contact(tmp_path):
    import csv
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    done = subprocess.run([sys.executable, "-m", "outreach.cli", "demo", "--dir",
                           str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    sample = Path(__file__).resolve().parent.parent / "data" / "sample_signers.csv"
    with sample.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    emails = {r["Email Address"] for r in rows if "@" in r["Email Address"]}
    phones = {"".join(c for c in r["Mobile Phone"] if c.isdigit())[-10:] for r in rows
              if r["Mobile Phone"]}
    logged = done.stdout + done.stderr
    assert not [e for e in emails if e in logged]
    digit_lines = ["".join(c for c in line if c.isdigit()) for line in logged.splitlines()]
    assert not [p for p in phones if len(p) == 10 and any(p in d for d in digit_lines)]
