"""Chaos: kill -9 the worker at random points of a blast, restart it, count what arrived.

    python bench/chaos.py --kills 10
    python bench/chaos.py --kills 10 --channel sms   # between 13:00 and 21:00 Eastern

Runs `outreach worker` as a real process against a SQLite store and the provider stand-in (in
its own process), kills it with SIGKILL at a random moment K times, restarting it each time;
then lets a last worker finish, reconciling the sends the kills interrupted. Prints one JSON
object: duplicates and lost as the stand-in saw them (lost: neither accepted by the provider nor
in a reported terminal state), the outbox states, and the `unknown` rows (maybe sent: SendGrid
cannot be asked; `outreach report` lists them). The worker is the real one, compliance gate
included: its synthetic signers have no known time zone, so texts go out only in the hours
open in every U.S. time zone (13:00-21:00 Eastern); at other hours the SMS run waits.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from blast import prepare_store, standin_summary, start_standin  # noqa: E402

from outreach.store import outbox as box  # noqa: E402
from outreach.testing.providers import ProviderStandIn  # noqa: E402


def worker_env(db_path: Path, url: str, channel: str) -> dict[str, str]:
    keys = ProviderStandIn()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({
        "OUTREACH_DATABASE_URL": f"sqlite:///{db_path}",
        "OUTREACH_EMAIL_TRANSPORT": "sendgrid", "OUTREACH_SENDGRID_API_KEY": keys.sendgrid_key,
        "OUTREACH_SENDGRID_BASE_URL": url, "OUTREACH_PUBLIC_URL": "https://bench.example",
        "OUTREACH_MAILING_ADDRESS": "PO Box 1, Washington, DC 20001",
        "OUTREACH_SMS_TRANSPORT": "twilio", "OUTREACH_TWILIO_ACCOUNT_SID": keys.twilio_sid,
        "OUTREACH_TWILIO_AUTH_TOKEN": keys.twilio_token, "OUTREACH_TWILIO_FROM": "+12155550199",
        "OUTREACH_TWILIO_BASE_URL": url,
        # Short enough for a benchmark: claims of a killed worker free after 1 s, its
        # interrupted sends reconciled after 2 s.
        "OUTREACH_CLAIM_LEASE_SECONDS": "1", "OUTREACH_STALE_SENDING_SECONDS": "2",
    })
    return env


def start_worker(env: dict[str, str], once: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-m", "outreach.cli", "worker", "--concurrency", "32"]
    if once:
        command.append("--once")
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def settle(env: dict[str, str], engine, deadline: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Run a last worker until nothing is pending (interrupted sends reconciled on the way)."""
    while True:
        subprocess.run([sys.executable, "-m", "outreach.cli", "worker", "--once"], env=env,
                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False, timeout=600)
        with engine.connect() as connection:
            counts = box.state_counts(connection)
        pending = counts["queued"] + counts["claimed"] + counts["sending"] + counts["retry"]
        if pending == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(1)  # let leases and the stale-send threshold pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--channel", choices=("email", "sms"), default="email")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    chance = random.Random(args.seed)
    process, url = start_standin(args.latency_ms / 1000)
    try:
        with tempfile.TemporaryDirectory() as folder:
            db_path = Path(folder) / "chaos.sqlite3"
            engine = prepare_store(db_path, args.messages, args.channel)
            env = worker_env(db_path, url, args.channel)
            kills = 0
            while kills < args.kills:
                worker = start_worker(env)
                time.sleep(chance.uniform(1.5, 4.0))  # start-up takes about a second
                if worker.poll() is not None:
                    break  # it finished the blast before this kill
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                kills += 1
            counts = settle(env, engine, time.monotonic() + 600)
            with engine.connect() as connection:
                rows = {r.id: r for r in box.rows_in(connection, box.OUTBOX_STATES)}
        seen = standin_summary(url)
    finally:
        process.kill()
    reported = {i for i, r in rows.items() if r.state in ("failed", "unknown", "skipped")}
    if args.channel == "email":
        accepted = [int(i) for i in seen["email_ids"]]
        duplicates = len(accepted) - len(set(accepted))
        lost = sum(1 for i in rows if i not in set(accepted) and i not in reported)
    else:
        bodies = seen["sms_bodies"]  # every body names its signer (S<n>): unique per message
        duplicates = len(bodies) - len(set(bodies))
        lost = len(rows) - len(reported) - len(set(bodies))
    print(json.dumps({
        "channel": args.channel, "messages": args.messages, "kills": kills,
        "duplicates": duplicates, "lost": lost, "states": counts,
        "unknown": sum(1 for r in rows.values() if r.state == "unknown"),
        "unknown_rows_first": sorted(i for i, r in rows.items() if r.state == "unknown")[:20],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
