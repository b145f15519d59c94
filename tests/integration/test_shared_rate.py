"""Three worker processes on one PostgreSQL outbox, each told OUTREACH_SMS_RATE=30, against a
Twilio stand-in that allows the account 30 texts a second (issue 18.2): together they keep the
account's rate, as the provider counts it: no 429, no one-second window above 30, and at least
27 a second overall (the pace is 4% under the rate: 28.8).

Real parts: worker processes built as deployments build them (tests/paced_worker.py), the
`twilio` SDK, the stand-in counting every arrival in sliding one-second windows. Runs in CI:
OUTREACH_TEST_POSTGRES=required fails it, rather than skips it, without a PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.signers import insert_signers
from outreach.testing.providers import ProviderStandIn, RunningProviders, busiest_second

ROOT = Path(__file__).resolve().parents[2]
TEXTS = 300
RATE = 30


def _queue_texts(url: str, count: int) -> None:
    engine = open_store(url)
    now = datetime.now(UTC)
    signers = pd.DataFrame({
        "email": None, "email_key": None,
        "phone": [f"+1215{4000000 + i:07d}" for i in range(count)], "phone_type": None,
        "first_name": [f"S{i}" for i in range(count)], "last_name": None, "street": None,
        "city": None, "state": None, "zip": None, "email_opt_in": False, "sms_opt_in": True,
        "source": "test", "referred_by": None, "signed_at": now, "created_at": now,
        "updated_at": now})
    with engine.begin() as connection:
        ids = insert_signers(connection, signers)
        box.enqueue(connection, [box.NewMessage("rate", "welcome", "sms", "signer", str(i),
                                                "welcome", {}, now - timedelta(hours=1))
                                 for i in ids], now)
    engine.dispose()


def _worker_env(tmp_path: Path, url: str, providers: RunningProviders) -> dict[str, str]:
    standin = providers.standin
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({
        "OUTREACH_DATABASE_URL": url, "OUTREACH_SMS_RATE": str(RATE),
        "OUTREACH_SMS_TRANSPORT": "twilio", "OUTREACH_TWILIO_ACCOUNT_SID": standin.twilio_sid,
        "OUTREACH_TWILIO_AUTH_TOKEN": standin.twilio_token,
        "OUTREACH_TWILIO_FROM": "+12155550199", "OUTREACH_TWILIO_BASE_URL": providers.url,
        "OUTREACH_OUTBOX_DIR": str(tmp_path / "outbox"), "PYTHONPATH": str(ROOT)})
    return env


@pytest.mark.postgres
@pytest.mark.timing
def test_three_workers_on_postgresql_keep_the_accounts_sms_rate(tmp_path, postgres_store):
    postgres_store.reset()
    _queue_texts(postgres_store.url, TEXTS)
    providers = RunningProviders(ProviderStandIn(latency=0.05, sms_per_second=RATE))
    try:
        env = _worker_env(tmp_path, postgres_store.url, providers)
        workers = [subprocess.Popen([sys.executable, "-m", "tests.paced_worker"], cwd=ROOT,
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(3)]
        answers = [worker.communicate(timeout=120) for worker in workers]
        summary = providers.standin.summary()
    finally:
        providers.close()
    for worker, (_, errors) in zip(workers, answers, strict=True):
        assert worker.returncode == 0, errors[-2000:]
    stats = [json.loads(out.strip().splitlines()[-1]) for out, _ in answers]
    arrivals = sorted(summary["sms_arrivals"])
    assert len(arrivals) == TEXTS and sum(s.get("sent", 0) for s in stats) == TEXTS
    assert all(s.get("sent", 0) >= TEXTS / 10 for s in stats), stats  # all three sent
    assert summary["rate_limited"].get("sms", 0) == 0  # no 429
    assert summary["max_window"]["sms"] <= RATE  # as the stand-in counted arrivals
    assert busiest_second(arrivals) <= RATE  # and as it recorded the accepted ones
    overall = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert overall >= 27, overall
