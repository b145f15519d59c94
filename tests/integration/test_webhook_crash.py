"""`outreach serve` killed (SIGKILL) while it applies a webhook, then the provider's retry of
the identical signed request: every opt-out ends up applied, and nothing already applied is
applied again (DESIGN 9, audit F2), on SQLite and PostgreSQL."""

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
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import make_url

from outreach.sending.delivery import CHUNK_EVENTS
from outreach.signers.intake import intake
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.db import open_store
from outreach.store.schema import message_events, outbox, signers
from outreach.store.schema import suppressions as suppression_table
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
                requests.get(f"{self.base}/healthz", timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up yet; a busy machine
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


def _mailed_signers(url: str, tmp_path: Path, count: int) -> dict[str, int]:
    """`count` signers, each sent a welcome email (the outbox row the events are about) and
    with a call email still queued (what an opt-out withdraws); email -> welcome row id."""
    engine = open_store(url)
    path = tmp_path / "signers.csv"
    path.write_text("first_name,email,zip,email_opt_in\n" + "".join(
        f"S{i},s{i}@example.org,19107,yes\n" for i in range(count)))
    intake(path, engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        ids = dict(connection.execute(select(signers.c.email, signers.c.id)).all())
        box.enqueue(connection, [box.NewMessage("mj", step, "email", "signer", str(i), step,
                                                {}, now) for i in ids.values()
                                 for step in ("welcome", "call")], now)
        connection.execute(update(outbox).where(outbox.c.step == "welcome")
                           .values(state="sent", sent_at=now))
        welcome = dict(connection.execute(select(outbox.c.recipient_id, outbox.c.id)
                                          .where(outbox.c.step == "welcome")).all())
    engine.dispose()
    return {email: welcome[str(signer)] for email, signer in ids.items()}


class NextChunkHeld:
    """The lock the server's next chunk needs, taken once the chunk under way has committed,
    and kept: the server then waits, mid-batch, to be killed. PostgreSQL: an exclusive lock on
    suppressions, so the next chunk has logged its events (uncommitted) when it blocks;
    SQLite: the store's one write lock, taken in the pause between two chunks."""

    def __init__(self, url: str):
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            self.holder = hold_table(url, "suppressions")
            return
        self.writer = sqlite3.connect(make_url(url).database, isolation_level=None, timeout=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError:
                assert time.monotonic() < deadline, "never got the write lock between chunks"
                time.sleep(0.0002)

    def count(self, sql: str) -> int:
        """A count on the holding connection (another reader would wait on PostgreSQL)."""
        if self.postgres:
            return self.holder.exec_driver_sql(sql).scalar_one()
        return self.writer.execute(sql).fetchone()[0]

    def release(self) -> None:
        if self.postgres:
            self.holder.rollback()
            self.holder.close()
        else:
            self.writer.rollback()
            self.writer.close()


def test_a_sendgrid_batch_killed_mid_batch_loses_no_opt_out_and_its_retry_applies_nothing_twice(
        store_url, tmp_path):
    """4,000 signers' `delivered` and `unsubscribe` events in one signed batch (16 chunks):
    the server is killed with some chunks committed and the next one waiting (on PostgreSQL,
    its events already logged in its open transaction); SendGrid's retry of the identical
    request then applies exactly the rest."""
    caller = SendGridCaller()
    welcome = _mailed_signers(store_url, tmp_path, 4000)
    stamp = int(time.time())
    events = [SendGridCaller.event(name, email, row, stamp + offset)
              for email, row in welcome.items()
              for name, offset in (("delivered", 0), ("unsubscribe", 1))]
    body, headers = caller.request(events)  # signed once: the retry is the identical request
    running = Server(store_url, tmp_path, caller)
    url = f"{running.base}/hooks/sendgrid/events"
    suppressed = _counter(store_url, "SELECT count(*) FROM suppressions")
    try:
        running.start()
        first = _in_background(lambda: requests.post(url, data=body.encode(), headers=headers,
                                                     timeout=60))
        _wait(lambda: suppressed() > 0, 30, "the first chunk to commit")
        held = NextChunkHeld(store_url)
        try:
            if held.postgres:
                _wait(lambda: held.count("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0,
                      10, "the next chunk to wait on the lock")
            else:
                time.sleep(0.3)  # the next chunk waits for the write lock
            at_kill = held.count("SELECT count(*) FROM suppressions")
            running.kill()
            first.join(timeout=10)
        finally:
            held.release()
        assert 0 < at_kill < 4000, "the kill came too late to test anything"
        assert at_kill % (CHUNK_EVENTS // 2) == 0  # whole chunks, each with its effects
        applied_before = _applied(store_url)
        running.start()
        retry = requests.post(url, data=body.encode(), headers=headers, timeout=60)
        assert retry.status_code == 200
        assert retry.json() == {"duplicate": 2 * at_kill, "delivered": 4000 - at_kill,
                                "suppressed": 4000 - at_kill}
    finally:
        running.stop()
    after = _applied(store_url)
    assert len(after["suppressed"]) == 4000 and after["logged"] == 8000
    assert {status for status, _ in after["status"].values()} == {"unsubscribe"}
    assert len(after["status"]) == 4000
    assert after["opted_in"] == 0 and after["queued_calls"] == 0
    # What was committed before the kill was not applied a second time by the retry.
    for field in ("suppressed", "status"):
        assert {k: after[field][k] for k in applied_before[field]} == applied_before[field]


def _applied(url: str) -> dict:
    """What the events have done so far: suppressions (address -> created_at), delivery
    statuses (row -> (status, updated_at)) reached, events logged, signers still opted in,
    call emails still queued."""
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {
            "suppressed": dict(connection.execute(
                select(suppression_table.c.address, suppression_table.c.created_at)).all()),
            "status": {row.id: (row.delivery_status, row.delivery_updated_at)
                       for row in connection.execute(
                           select(outbox.c.id, outbox.c.delivery_status,
                                  outbox.c.delivery_updated_at).where(
                               outbox.c.step == "welcome",
                               outbox.c.delivery_status.is_not(None)))},
            "logged": connection.execute(select(func.count()).select_from(message_events)
                                         ).scalar_one(),
            "opted_in": connection.execute(select(func.count()).select_from(signers).where(
                signers.c.email_opt_in.is_(True))).scalar_one(),
            "queued_calls": connection.execute(select(func.count()).select_from(outbox).where(
                outbox.c.step == "call", outbox.c.state == "queued")).scalar_one()}
    engine.dispose()
    return found


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
