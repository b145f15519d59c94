"""A worker whose clock is 5 minutes off the provider's, killed 8 times mid-blast, sends no text
twice (security audit F23): reconciliation matches interrupted sends by what Twilio returns
(recipient, body), never by comparing our clock with Twilio's.

The worker is a real process with its wall clock shifted (tests/skewed_worker.py); the Twilio
stand-in runs here on the true clock and, for
the strictest reading of Twilio's DateSent filter, compares full timestamps. Each text's body
names its signer, so a duplicate is a body the stand-in accepted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.signers import insert_signers
from outreach.testing.providers import ProviderStandIn, RunningProviders

ROOT = Path(__file__).resolve().parents[2]
TEXTS = 160
KILLS = 8


def _store(path: Path):  # type: ignore[no-untyped-def]
    engine = open_store(f"sqlite:///{path}")
    now = datetime.now(UTC)
    signers = pd.DataFrame({
        "email": None, "email_key": None,
        "phone": [f"+1215{3000000 + i:07d}" for i in range(TEXTS)], "phone_type": None,
        "first_name": [f"S{i}" for i in range(TEXTS)], "last_name": None, "street": None,
        "city": None, "state": None, "zip": None, "email_opt_in": False, "sms_opt_in": True,
        "source": "test", "referred_by": None, "signed_at": now, "created_at": now,
        "updated_at": now})
    with engine.begin() as connection:
        ids = insert_signers(connection, signers)
        box.enqueue(connection, [box.NewMessage("skew", "welcome", "sms", "signer", str(i),
                                                "welcome", {}, now - timedelta(hours=1))
                                 for i in ids], now)
    return engine


def _pending(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        counts = box.state_counts(connection)
    return counts["queued"] + counts["claimed"] + counts["sending"] + counts["retry"]


@pytest.mark.parametrize("offset", [300, -300], ids=["5 min ahead", "5 min behind"])
def test_a_worker_5_minutes_off_killed_8_times_mid_blast_sends_no_text_twice(tmp_path, offset):
    # Accepted, then answered 0.2 s later: each kill leaves texts Twilio has but we never
    # recorded, which only reconciliation can settle.
    providers = RunningProviders(ProviderStandIn(latency=0.01, answer_latency=0.2))
    standin = providers.standin
    engine = _store(tmp_path / "skew.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({
        "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'skew.sqlite3'}",
        "OUTREACH_SMS_TRANSPORT": "twilio", "OUTREACH_TWILIO_ACCOUNT_SID": standin.twilio_sid,
        "OUTREACH_TWILIO_AUTH_TOKEN": standin.twilio_token,
        "OUTREACH_TWILIO_FROM": "+12155550199", "OUTREACH_TWILIO_BASE_URL": providers.url,
        "OUTREACH_OUTBOX_DIR": str(tmp_path / "outbox"),
        "OUTREACH_CLAIM_LEASE_SECONDS": "1", "OUTREACH_STALE_SENDING_SECONDS": "2",
    })
    command = [sys.executable, "-m", "tests.skewed_worker", "--offset", str(offset)]
    try:
        kills = 0
        while kills < KILLS:
            seen = len(standin.sms)
            worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            deadline = time.monotonic() + 30
            while len(standin.sms) < seen + 8 and worker.poll() is None and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited early: {worker.stderr.read()[-2000:]}")
            worker.send_signal(signal.SIGKILL)  # mid-blast: texts in flight
            worker.wait()
            kills += 1
        deadline = time.monotonic() + 60
        while _pending(engine) and time.monotonic() < deadline:
            time.sleep(2.1)  # the interrupted sends become stale, then are reconciled
            finished = subprocess.run([*command, "--once"], cwd=ROOT, env=env,
                                      capture_output=True, text=True, timeout=60)
            assert finished.returncode == 0, finished.stderr[-2000:]
    finally:
        providers.close()
    bodies = [m["body"] for m in standin.sms]
    with engine.connect() as connection:
        states = box.state_counts(connection)
    assert len(bodies) - len(set(bodies)) == 0  # no text twice
    assert len(set(bodies)) == TEXTS and states["sent"] == TEXTS  # and none lost
