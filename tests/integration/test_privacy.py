"""Contact details are masked in the texts the engine stores and shows."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from outreach.message import Message
from outreach.privacy import MaskingFilter, mask, mask_text, scrub
from outreach.sending.transports.twilio import TwilioTransport
from outreach.testing.providers import ProviderStandIn, RunningProviders


def test_mask_keeps_enough_to_recognize_not_to_contact():
    assert mask("ana.lopez@example.org") == "a***@example.org"
    # At most the last two digits of a number, U.S. or international (audit F16).
    assert mask("+12155550100") == "+*********00"
    assert mask("+442079460958") == "+**********58"
    assert mask("+44 20 7946 0958") == "+** ** **** **58"
    assert mask("12") == "**" and mask("") == "***"


def test_scrub_masks_every_spelling_of_the_number():
    text = "The 'To' number +12155550100 (2155550100) is not valid"
    assert scrub(text, "+12155550100") == "The 'To' number +*********00 (********00) is not valid"


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
    assert "2155550100" not in result.error and "+*********00" in result.error


def test_mask_text_finds_emails_phones_and_street_addresses():
    text = mask_text("failed for ana.lopez@example.org at (215) 555-0100, 1421 Arch Street")
    assert text == "failed for a***@example.org at (***) ***-**00, [street address]"
    assert mask_text("outbox row 1234 claimed by worker 7 at 2026-12-01 10:00:05") == \
        "outbox row 1234 claimed by worker 7 at 2026-12-01 10:00:05"


def test_mask_text_finds_international_numbers():
    text = mask_text("DETAIL:  Key (phone)=(+442079460958) already exists; "
                     "call +44 20 7946 0958, +33 1 23 45 67 89 or 4915112345678")
    assert text == ("DETAIL:  Key (phone)=(+**********58) already exists; "
                    "call +** ** **** **58, +** * ** ** ** 89 or ***********78")


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


# A duplicate signer, as a double click on the petition form stores it twice (audit F4, F5):
# the statement's text carries the addresses on both databases, PostgreSQL's DETAIL line too.
_DUPLICATE_SIGNER = """
import logging, sys
from outreach.privacy import install_log_masking
from outreach.store.db import open_store

install_log_masking(json_lines=sys.argv[2] == "json")
engine = open_store(sys.argv[1])
def add(email, phone):
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO signers (email, email_key, phone, email_opt_in, sms_opt_in, signed_at,"
            " created_at, updated_at) VALUES"
            f" ('{email}', '{email}', '{phone}', TRUE, TRUE, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
add("pg.racer@example.org", "+442079460958")
for email, phone in (("pg.racer@example.org", "+12155550166"),
                     ("other@example.net", "+442079460958")):
    try:
        add(email, phone)
    except Exception:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_database_errors_traceback_is_masked_in_every_log_format(store_url, log_format):
    done = subprocess.run([sys.executable, "-c", _DUPLICATE_SIGNER, store_url, log_format],
                          capture_output=True, text=True, timeout=120, check=True)
    logged = done.stderr
    assert logged.count("IntegrityError") >= 2  # the tracebacks are there, masked
    assert "pg.racer@example.org" not in logged and "other@example.net" not in logged
    assert "2079460958" not in logged and "2155550166" not in logged
    assert "***@example.org" in logged and "+**********58" in logged
    if log_format == "json":
        records = [json.loads(line) for line in logged.splitlines()]
        assert [r["logger"] for r in records] == ["uvicorn.error"] * 2
        assert all("IntegrityError" in r["exc_info"] for r in records)


def test_extra_fields_of_json_logs_are_masked_too():
    code = ("import logging; from outreach.privacy import install_log_masking; "
            "install_log_masking(json_lines=True); logging.getLogger('outreach.x').warning("
            "'bounce', extra={'recipient': '+442079460958', 'tries': 3})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    record = json.loads(done.stderr)
    assert record["recipient"] == "+**********58" and record["tries"] == 3


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`outreach demo` in a fresh folder, started as a shell would with the usual umask 022."""
    folder = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    done = subprocess.run([sys.executable, "-m", "outreach.cli", "demo", "--dir",
                           str(folder)], env=env, capture_output=True, text=True,
                          timeout=300, check=False, umask=0o022)
    assert done.returncode == 0, done.stderr
    return folder, done.stdout + done.stderr


def test_the_store_and_the_outbox_are_private(demo_run):
    folder, _ = demo_run
    created = list(folder.rglob("*"))
    modes = {path.relative_to(folder).as_posix(): stat.S_IMODE(path.stat().st_mode)
             for path in created}
    assert {"outreach.sqlite3", "sample_signers.rejects.csv", "outbox/email"} <= set(modes)
    assert any(name.endswith(".eml") for name in modes)
    assert {name: mode for name, mode in modes.items()
            if mode != (0o700 if (folder / name).is_dir() else 0o600)} == {}
    # SQLite gives its -wal and -shm files the database file's own mode, whatever the umask.
    connection = sqlite3.connect(folder / "outreach.sqlite3")
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("UPDATE signers SET first_name = first_name")
        connection.commit()
        for suffix in ("-wal", "-shm"):
            journal = folder / f"outreach.sqlite3{suffix}"
            assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    finally:
        connection.close()


def test_a_full_demo_run_logs_no_signers_contact(demo_run):
    import csv

    _, logged = demo_run
    sample = Path(__file__).resolve().parents[2] / "data" / "sample_signers.csv"
    with sample.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    emails = {r["Email Address"] for r in rows if "@" in r["Email Address"]}
    phones = {"".join(c for c in r["Mobile Phone"] if c.isdigit())[-10:] for r in rows
              if r["Mobile Phone"]}
    assert not [e for e in emails if e in logged]
    digit_lines = ["".join(c for c in line if c.isdigit()) for line in logged.splitlines()]
    assert not [p for p in phones if len(p) == 10 and any(p in d for d in digit_lines)]
