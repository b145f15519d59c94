"""Benchmark: a blast through the worker against the provider stand-in, and a naive baseline.

    python bench/blast.py --messages 20000 --latency-ms 50
    OUTREACH_SMS_RATE=50 python bench/blast.py --channel sms --messages 1000 --latency-ms 50

Enqueues N messages to N synthetic signers in a fresh SQLite store, runs worker processes
(`concurrency` sender threads each) against the stand-in running in its own process with the
given latency, then, in a process of its own, a serial loop calling the SendGrid SDK once per
message (what a small team writes first) on a smaller N, and prints one JSON object:
messages, seconds, msgs_per_s, duplicates and lost as the stand-in saw them, the baseline,
the ratio, and the CPU per message of the worker processes (worker_cpu_ms_per_message) and per
call of the serial loop (sdk_cpu_ms_per_call). Both CPU figures are each process's own
(getrusage: all its threads, the stand-in's excluded) over its sending, and again, as
*_with_start, over its whole life (RUSAGE_CHILDREN: imports and setup included).
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(port_queue: multiprocessing.Queue, latency: float, sms_rate: float | None,
          email_rate: float | None) -> None:
    from outreach.testing.providers import ProviderStandIn, RunningProviders

    running = RunningProviders(ProviderStandIn(latency=latency, sms_per_second=sms_rate,
                                               email_per_second=email_rate))
    port_queue.put(running.url)
    while True:
        time.sleep(3600)


def start_standin(latency: float, sms_rate: float | None = None,
                  email_rate: float | None = None) -> tuple[multiprocessing.Process, str]:
    context = multiprocessing.get_context("spawn")
    urls = context.Queue()
    process = context.Process(target=serve, args=(urls, latency, sms_rate, email_rate),
                              daemon=True)
    process.start()
    return process, urls.get(timeout=60)


def standin_summary(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_standin/summary", timeout=30) as response:
        return json.loads(response.read())


def prepare_store(path: Path | str, count: int, channel: str):  # type: ignore[no-untyped-def]
    """A store (a SQLite file, or a database URL) with `count` signers and one queued
    welcome message to each."""
    import pandas as pd

    from outreach.store import outbox as box
    from outreach.store.db import open_store
    from outreach.store.signers import insert_signers

    engine = open_store(path if isinstance(path, str) else f"sqlite:///{path}")
    now = datetime.now(UTC)
    signers = pd.DataFrame({
        "email": [f"s{i}@example.org" for i in range(count)],
        "email_key": [f"s{i}@example.org" for i in range(count)],
        "phone": [f"+1215{2000000 + i:07d}" for i in range(count)],
        "phone_type": None, "first_name": [f"S{i}" for i in range(count)], "last_name": None,
        "street": None, "city": None, "state": None, "zip": None, "email_opt_in": True,
        "sms_opt_in": True, "source": "bench", "referred_by": None, "signed_at": now,
        "created_at": now,
        "updated_at": now})
    with engine.begin() as connection:
        ids = insert_signers(connection, signers)
        box.enqueue(connection, [box.NewMessage("bench", "welcome", channel, "signer",
                                                str(i), "welcome", {}, now - timedelta(1))
                                 for i in ids], now)
    return engine


def cpu_seconds(who: int) -> float:
    """User + system CPU of this process (RUSAGE_SELF: all its threads) or of its children
    that ended and were waited for (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_worker(engine, url: str, concurrency: int, channel: str,  # type: ignore[no-untyped-def]
               pacing: str = "shared", batch_size: int | None = None):
    """One worker. Its pace (OUTREACH_EMAIL_RATE / OUTREACH_SMS_RATE: the account's) is kept
    in a budget shared with the other workers (pacing "shared": in Redis with
    OUTREACH_REDIS_URL, else in the store), or, as before issue 18, in a bucket of its own at
    the full rate (pacing "process"). Returns its seconds, its stats and the CPU seconds its
    process spent sending (from its first claim to its last record: not the imports and
    roster load before)."""
    from outreach.campaigns.render import Renderer, Sender
    from outreach.config import Settings
    from outreach.roster.offices import load_roster
    from outreach.sending.transports.sendgrid import SendGridTransport
    from outreach.sending.transports.twilio import TwilioTransport
    from outreach.sending.worker import Worker, WorkerOptions
    from outreach.us.counties import load_counties

    settings = Settings.from_env()
    roster = load_roster(settings.data.roster_path,
                         load_counties(settings.data.data_dir / "counties.csv"))
    renderer = Renderer(engine, roster, settings.campaigns.templates_dir,
                        Sender("Bench <bench@bench-campaign.org>", "+12155550199", "Bench",
                               "Nowhere", "https://bench.example"))
    from outreach.testing.providers import ProviderStandIn

    keys = ProviderStandIn()
    # One kept-alive connection per sender thread; older revisions (compare.sh) had no pools.
    pooled = {"pool_size": concurrency} \
        if "pool_size" in inspect.signature(SendGridTransport).parameters else {}
    transports = {
        "email": SendGridTransport(keys.sendgrid_key, url, timeout=10, **pooled),
        "sms": TwilioTransport(keys.twilio_sid, keys.twilio_token, from_number="+12155550199",
                               base_url=url, timeout=10, **pooled),
    }
    rates = {"email": settings.send.email_rate, "sms": settings.send.sms_rate}
    options = WorkerOptions(concurrency=concurrency,
                            batch_size=batch_size or max(200, concurrency * 4))
    try:
        from outreach.sending.pacing import (
            Budget,
            Ledger,
            SharedBudget,
            TokenBucket,
            account_digest,
            budget_key,
        )
        from outreach.store.rates import RedisLedger, StoreLedger
    except ImportError:  # a revision before shared budgets (compare.sh): rates per process
        options.rates = rates  # type: ignore[attr-defined]
        worker = Worker(engine, transports, renderer, options=options)
        budgets = {}
    else:
        budgets: dict[str, Budget] = {channel: TokenBucket(rate)  # type: ignore[no-redef]
                                      for channel, rate in rates.items()}
        if pacing == "shared":
            ledger: Ledger = RedisLedger(settings.send.redis_url) if settings.send.redis_url \
                else StoreLedger(engine)
            accounts = {"email": account_digest(keys.sendgrid_key), "sms": keys.twilio_sid}
            budgets = {channel: SharedBudget(ledger, budget_key(
                channel, transports[channel].name, accounts[channel]), rate)
                for channel, rate in rates.items()}
        worker = Worker(engine, transports, renderer, budgets=budgets, options=options)
    started, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    stats = worker.run(once=True)
    for channel, budget in budgets.items():  # slots a shared budget could not use on time
        if getattr(budget, "given_up", 0):
            stats[f"{channel}_slots_given_up"] += budget.given_up
    return (time.perf_counter() - started, dict(stats),
            cpu_seconds(resource.RUSAGE_SELF) - cpu)


def _worker_process(store: str, url: str, concurrency: int, channel: str, pacing: str,
                    batch_size: int | None, results: multiprocessing.Queue) -> None:
    from outreach.store.db import open_store

    results.put(run_worker(open_store(store), url, concurrency, channel, pacing, batch_size))


def run_workers(db_path: Path | str, url: str, concurrency: int, channel: str,
                processes: int, pacing: str = "shared",
                batch_size: int | None = None) -> tuple[float, dict, float, float]:
    """`processes` worker processes sharing the store (a SQLite file or a database URL), as
    several hosts would. Returns the
    seconds from their start, their summed stats, the CPU seconds they spent sending (each
    measured in its own process) and their whole CPU (RUSAGE_CHILDREN: imports included)."""
    store = db_path if isinstance(db_path, str) else f"sqlite:///{db_path}"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_worker_process,
                               args=(store, url, concurrency, channel, pacing, batch_size,
                                     results))
               for _ in range(processes)]
    children = cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for process in workers:
        process.start()
    outcomes = [results.get(timeout=3600) for _ in workers]
    seconds = time.perf_counter() - started
    for process in workers:
        process.join()
    stats: dict[str, int] = {}
    for _, worker_stats, _ in outcomes:
        for key, value in worker_stats.items():
            stats[key] = stats.get(key, 0) + value
    return (seconds, stats, sum(cpu for _, _, cpu in outcomes),
            cpu_seconds(resource.RUSAGE_CHILDREN) - children)


def naive_sendgrid(url: str, count: int) -> tuple[float, float]:
    """A serial loop, one SDK call per message: the baseline. Returns its seconds and the CPU
    seconds of this process during the loop."""
    from sendgrid import SendGridAPIClient
    from sendgrid.helpers.mail import Mail

    from outreach.testing.providers import ProviderStandIn

    client = SendGridAPIClient(api_key=ProviderStandIn().sendgrid_key, host=url)
    started, cpu = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
    for i in range(count):
        client.send(Mail(from_email="bench@example.org", to_emails=f"n{i}@example.org",
                         subject="Thank you", plain_text_content="Thanks for signing."))
    return time.perf_counter() - started, cpu_seconds(resource.RUSAGE_SELF) - cpu


def _naive_process(url: str, count: int, results: multiprocessing.Queue) -> None:
    results.put(naive_sendgrid(url, count))


def run_naive(url: str, count: int) -> tuple[float, float, float]:
    """The serial loop in its own process, measured as the workers are: its seconds, its CPU
    during the loop, and its whole CPU (RUSAGE_CHILDREN)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_naive_process, args=(url, count, results))
    children = cpu_seconds(resource.RUSAGE_CHILDREN)
    process.start()
    seconds, cpu = results.get(timeout=3600)
    process.join()
    return seconds, cpu, cpu_seconds(resource.RUSAGE_CHILDREN) - children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int,
                        help="sender threads per process (default: 64 for email, 8 for sms, "
                             "where a paced rate needs few calls in flight)")
    parser.add_argument("--channel", choices=("email", "sms"), default="email")
    parser.add_argument("--baseline-messages", type=int, default=200)
    parser.add_argument("--processes", type=int,
                        help="worker processes sharing the store, timed from their start "
                             "(default: 2 for email; 1 for sms, whose rate one process paces)")
    args = parser.parse_args()
    args.concurrency = args.concurrency or (64 if args.channel == "email" else 8)
    args.processes = args.processes or (2 if args.channel == "email" else 1)
    sms_rate = float(os.environ["OUTREACH_SMS_RATE"]) if os.environ.get("OUTREACH_SMS_RATE") \
        else None
    process, url = start_standin(args.latency_ms / 1000, sms_rate=sms_rate)
    try:
        with tempfile.TemporaryDirectory() as folder:
            db_path = Path(folder) / "blast.sqlite3"
            engine = prepare_store(db_path, args.messages, args.channel)
            seconds, stats, worker_cpu, worker_cpu_all = run_workers(
                db_path, url, args.concurrency, args.channel, args.processes)
            from outreach.store import outbox as box

            with engine.connect() as connection:
                rows = {r.id: r.state for r in box.rows_in(connection, box.OUTBOX_STATES)}
        seen = standin_summary(url)
        if args.channel == "email":
            accepted = [int(i) for i in seen["email_ids"]]
        else:
            accepted = list(range(len(seen["sms_bodies"])))  # bodies repeat: count only
        duplicates = len(accepted) - len(set(accepted))
        reported = {i for i, s in rows.items() if s in ("failed", "unknown", "skipped")}
        if args.channel == "email":
            lost = sum(1 for i in rows if i not in set(accepted) and i not in reported)
        else:
            lost = len(rows) - len(reported) - len(accepted)
        naive_count = min(args.baseline_messages, args.messages)
        naive = run_naive(url, naive_count) if args.channel == "email" else None
    finally:
        process.kill()
    rate = args.messages / seconds
    result = {
        "channel": args.channel,
        "messages": args.messages,
        "latency_ms": args.latency_ms,
        "processes": args.processes,
        "concurrency_per_process": args.concurrency,
        "seconds": round(seconds, 2),
        "msgs_per_s": round(rate, 1),
        "duplicates": duplicates,
        "lost": lost,
        "states": {s: sum(1 for v in rows.values() if v == s) for s in set(rows.values())},
        "provider_answers": seen["answered"],
        # TCP connections the stand-in accepted (all clients): kept-alive pools open few.
        "provider_connections": seen.get("connections"),
        "worker": stats,
        # CPU of the worker processes while sending, per message (the stand-in's excluded),
        # and with their start (imports, roster load) included.
        "worker_cpu_ms_per_message": round(1000 * worker_cpu / args.messages, 3),
        "worker_cpu_ms_per_message_with_start": round(1000 * worker_cpu_all / args.messages,
                                                      3),
    }
    if sms_rate:
        # The rate the provider saw: from its first to its last arrival.
        arrivals = sorted(seen["sms_arrivals"])
        provider_rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        result["sms_rate_asked"] = sms_rate
        result["sms_rate_at_provider"] = round(provider_rate, 2)
        result["sms_rate_within_5_percent"] = abs(provider_rate - sms_rate) <= 0.05 * sms_rate
    if naive:
        naive_seconds, naive_cpu, naive_cpu_all = naive
        baseline_rate = naive_count / naive_seconds
        result["baseline"] = {"messages": naive_count, "seconds": round(naive_seconds, 2),
                              "msgs_per_s": round(baseline_rate, 1)}
        result["ratio"] = round(rate / baseline_rate, 1)
        # The serial SDK loop's CPU per call, measured the same way in its own process.
        result["sdk_cpu_ms_per_call"] = round(1000 * naive_cpu / naive_count, 3)
        result["sdk_cpu_ms_per_call_with_start"] = round(1000 * naive_cpu_all / naive_count, 3)
        result["worker_cpu_over_sdk_cpu"] = round(worker_cpu / args.messages
                                                  / (naive_cpu / naive_count), 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
