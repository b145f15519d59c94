"""Benchmark: SendGrid Event Webhook ingestion by a live `outreach serve`, and a baseline.

    python bench/webhooks.py --events 20000 --batch 1000

A fresh SQLite store holds N sent emails. The web app runs in its own process (uvicorn, as
deployed); this script signs and posts their `delivered` events the way SendGrid does (a JSON
array per request, ECDSA-signed), then posts a tenth as many events one per request (the
baseline: what per-event delivery would cost), and prints one JSON object: events, seconds,
events_per_s, the baseline's rate, the ratio, and how many outbox rows ended `delivered`.
Twilio sends one event per request, so its two webhooks are timed beside (`twilio_status`:
`delivered` callbacks for sent texts; `twilio_stop`: inbound STOPs from distinct numbers),
N/40 requests each (at most 10,000): batching cannot speed them, and they must not get
slower.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.store import outbox as box  # noqa: E402
from outreach.store.db import open_store  # noqa: E402
from outreach.store.schema import outbox  # noqa: E402
from outreach.testing.webhooks import SendGridCaller, TwilioCaller  # noqa: E402

TWILIO_TOKEN = "bench-twilio-auth-token"


def prepare(database: str, count: int, texts: int = 0) -> None:
    engine = open_store(database)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        box.enqueue(connection, [box.NewMessage("bench", "welcome", "email", "signer", str(i),
                                                "welcome", {}, now) for i in range(count)], now)
        box.enqueue(connection, [box.NewMessage("bench", "welcome", "sms", "signer", str(i),
                                                "welcome", {}, now) for i in range(texts)], now)
        connection.execute(outbox.update().values(state="sent", sent_at=now))
        connection.execute(outbox.update().where(outbox.c.channel == "sms").values(
            provider_message_id="SMbench" + outbox.c.recipient_id))
    engine.dispose()


def post_twilio(url: str, caller: TwilioCaller, requests_params: list[dict[str, str]]) -> float:
    """Seconds to post these Twilio webhooks one per request, each answered 2xx."""
    started = time.perf_counter()
    for params in requests_params:
        caller.post(url, params).raise_for_status()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_all(url: str, caller: SendGridCaller, ids: range, batch: int) -> float:
    stamp = int(time.time())
    started = time.perf_counter()
    for start in range(ids.start, ids.stop, batch):
        events = [SendGridCaller.event("delivered", f"b{i}@example.org", i + 1, stamp)
                  for i in range(start, min(start + batch, ids.stop))]
        answer = caller.post(url, events)
        answer.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="outreach-webhooks-"))
    database = f"sqlite:///{folder / 'bench.sqlite3'}"
    baseline_events = max(args.events // 10, 100)
    texts = min(max(args.events // 40, 50), 10000)  # numbers +1215555xxxx
    prepare(database, args.events + baseline_events, texts)
    caller = SendGridCaller()
    twilio = TwilioCaller(TWILIO_TOKEN)
    port = free_port()
    env = {**os.environ, "OUTREACH_DATABASE_URL": database,
           "OUTREACH_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY": caller.public_key,
           "OUTREACH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
           "OUTREACH_SESSION_SECRET": "bench" * 8}
    server = subprocess.Popen([sys.executable, "-m", "outreach.cli", "serve", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hooks/sendgrid/events"
    try:
        for _ in range(200):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        seconds = post_all(url, caller, range(0, args.events), args.batch)
        baseline = post_all(url, caller, range(args.events, args.events + baseline_events), 1)
        hooks = f"http://127.0.0.1:{port}/hooks/twilio"
        statuses = post_twilio(f"{hooks}/status", twilio, [
            {"MessageSid": f"SMbench{i}", "MessageStatus": "delivered", "To": f"+1215{i:07d}",
             "From": twilio.our_number, "AccountSid": twilio.account_sid}
            for i in range(texts)])
        stops = post_twilio(f"{hooks}/inbound", twilio, [
            twilio.inbound(f"+1215555{i:04d}", "STOP") for i in range(texts)])
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = open_store(database)
    with engine.connect() as connection:
        delivered = connection.execute(outbox.select().where(
            outbox.c.delivery_status == "delivered", outbox.c.channel == "email")).all()
    rate, base_rate = args.events / seconds, baseline_events / baseline
    print(json.dumps({"events": args.events, "batch": args.batch, "seconds": round(seconds, 2),
                      "events_per_s": round(rate, 1),
                      "baseline": {"events": baseline_events, "batch": 1,
                                   "events_per_s": round(base_rate, 1)},
                      "ratio": round(rate / base_rate, 1),
                      "delivered_rows": len(delivered),
                      "twilio_status": {"events": texts,
                                        "events_per_s": round(texts / statuses, 1)},
                      "twilio_stop": {"events": texts, "events_per_s": round(texts / stops, 1)}},
                     indent=2))


if __name__ == "__main__":
    main()
