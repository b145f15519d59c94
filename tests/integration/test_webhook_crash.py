"""`outreach serve` killed (SIGKILL) while it applies a webhook, then the provider's retry of
the identical signed request: every opt-out ends up applied (DESIGN 9, audit F2), on SQLite and
PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from outreach.signers.intake import intake
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.db import open_store
from outreach.store.schema import outbox, signers
from outreach.testing.webhooks import SendGridCaller, TwilioCaller
from tests.store_locks import hold_table
from tests.web_helpers import ROOT, TWILIO_TOKEN

PHONE = "+12155550188"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`outreach serve` in its own process, as deployed, on a loopback port."""

    def __init__(self, url: str, tmp_path: Path, sendgrid: SendGridCaller):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.env = {**os.environ, "OUTREACH_DATABASE_URL": url, "OUTREACH_PUBLIC_URL": self.base,
                    "OUTREACH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                    "OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid.public_key,
                    "OUTREACH_SESSION_SECRET": "crash-test-session-secret-0123456789",
                    "OUTREACH_DATA_DIR": str(ROOT / "data"),
                    "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
                    "OUTREACH_JOBS_DIR": str(ROOT / "jobs")}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "serve", "--port", str(self.port)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                requests.get(f"{self.base}/healthz", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("outreach serve did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _counter(url: str, sql: str) -> Callable[[], int]:
    """A count read the way a dashboard would, without taking SQLite's write lock."""
    if url.startswith("sqlite"):
        path = make_url(url).database

        def count_sqlite() -> int:
            with sqlite3.connect(path) as reader:
                return reader.execute(sql).fetchone()[0]
        return count_sqlite
    engine = create_engine(url)

    def count_postgres() -> int:
        with engine.connect() as connection:
            return connection.exec_driver_sql(sql).scalar_one()
    return count_postgres


def _in_background(send: Callable[[], object]) -> threading.Thread:
    """The provider's first delivery, whose connection the kill cuts."""
    def deliver() -> None:
        with contextlib.suppress(requests.RequestException):
            send()
    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_sendgrid_batch_killed_midway_is_applied_whole_by_the_retry(store_url, tmp_path):
    caller = SendGridCaller()
    running = Server(store_url, tmp_path, caller)
    open_store(store_url).dispose()
    events = [SendGridCaller.event("unsubscribe", f"gone{i}@example.org", None)
              for i in range(3000)]
    body, headers = caller.request(events)  # signed once: the retry is the identical request
    url = f"{running.base}/hooks/sendgrid/events"
    suppressed = _counter(store_url, "SELECT count(*) FROM suppressions")
    try:
        running.start()
        first = _in_background(lambda: requests.post(url, data=body.encode(), headers=headers,
                                                     timeout=60))
        _wait(lambda: suppressed() > 0, 30, "the first suppressions")
        running.kill()
        first.join(timeout=10)
        at_kill = suppressed()
        assert 0 < at_kill < 3000, "the kill came too late to test anything"
        running.start()
        retry = requests.post(url, data=body.encode(), headers=headers, timeout=60)
        assert retry.status_code == 200
        assert retry.json() == {"duplicate": at_kill, "suppressed": 3000 - at_kill}
    finally:
        running.stop()
    assert suppressed() == 3000


def test_twilio_stop_killed_while_waiting_is_applied_by_the_retry(store_url, tmp_path):
    engine = open_store(store_url)
    signers_csv = tmp_path / "signers.csv"
    signers_csv.write_text(f"first_name,email,phone,zip,sms_opt_in\nAna,ana@example.org,{PHONE},"
                           "19107,yes\n")
    intake(signers_csv, engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "call", "sms", "signer", "1",
                                                "call_your_da", {}, now)], now)
    running = Server(store_url, tmp_path, SendGridCaller())
    twilio = TwilioCaller(TWILIO_TOKEN)
    stop = twilio.inbound(PHONE, "STOP")
    url = f"{running.base}/hooks/twilio/inbound"
    waiting = _counter(store_url, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                       if store_url.startswith("postgresql") else "SELECT 1")
    try:
        running.start()
        holder = hold_table(store_url, "suppressions")
        try:
            first = _in_background(lambda: twilio.post(url, stop))
            if store_url.startswith("postgresql"):
                _wait(lambda: waiting() > 0, 10, "the opt-out to wait on the lock")
            else:
                time.sleep(1)  # the request is in; its transaction waits for the lock
            running.kill()
            first.join(timeout=10)
        finally:
            holder.rollback()
            holder.close()
        running.start()
        retry = twilio.post(url, stop)  # Twilio's retry: the same MessageSid, the same signature
        assert retry.status_code == 200
    finally:
        running.stop()
    with engine.connect() as connection:
        suppressed = suppressions.suppressed_among(connection, "sms", [PHONE])
        consent = connection.execute(select(signers.c.sms_opt_in)).scalar_one()
        text = connection.execute(select(outbox.c.state)).scalar_one()
    engine.dispose()
    assert suppressed == {PHONE}
    assert (consent, text) == (False, "skipped")
