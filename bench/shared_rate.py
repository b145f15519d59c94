"""Benchmark: several worker processes on one outbox keep one account's rate (issue 18.2).

    python bench/shared_rate.py                       # 3 workers, PostgreSQL, 30/s
    python bench/shared_rate.py --store sqlite --messages 600
    OUTREACH_REDIS_URL=redis://127.0.0.1:6379/0 python bench/shared_rate.py

Queues N texts in a fresh store (PostgreSQL: a scratch database on OUTREACH_TEST_POSTGRES_URL's
server, dropped after; SQLite: a temporary file), starts the Twilio stand-in allowing `--rate`
texts a second (counted in sliding one-second windows), and runs `--processes` worker processes
each given OUTREACH_SMS_RATE=`--rate`, twice in one session:

- shared: the account's budget shared by the workers (in the store, or in Redis when
  OUTREACH_REDIS_URL is set);
- baseline: each worker with a bucket of its own at the full rate, as before issue 18 (the
  README asked operators to split the rate by hand).

Prints one JSON object: for each run, what the provider saw (the most arrivals in any
one-second window, its 429s, the rate from its first to its last accepted text), duplicates,
and the workers' stats. Worker processes are timed from their start: the overall rate counts
only the provider's arrivals. The baseline stops at its first pass (texts answered 429 wait in
`retry` with their backoff).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import blast  # noqa: E402  (bench/blast.py: the stand-in, the store and the workers)

POSTGRES_ADMIN_URL = os.environ.get("OUTREACH_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin(*statements: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def run(args: argparse.Namespace, pacing: str, folder: Path) -> dict:
    """One blast of `args.messages` texts by `args.processes` workers pacing as `pacing`."""
    name = f"outreach_bench_rate_{os.getpid()}_{pacing}"
    if args.store == "postgres":
        _admin(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        store = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    else:
        store = f"sqlite:///{folder / (name + '.sqlite3')}"
    process, url = blast.start_standin(args.latency_ms / 1000, sms_rate=args.rate)
    try:
        engine = blast.prepare_store(store, args.messages, "sms")
        seconds, stats, _, _ = blast.run_workers(store, url, args.concurrency, "sms",
                                                 args.processes, pacing=pacing,
                                                 batch_size=args.batch)
        engine.dispose()
        seen = blast.standin_summary(url)
    finally:
        process.kill()
        if args.store == "postgres":
            _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    arrivals = sorted(seen["sms_arrivals"])
    overall = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    bodies = seen["sms_bodies"]
    return {
        "pacing": pacing,
        "max_one_second_window": seen["max_window"].get("sms", 0),
        "provider_429s": seen["rate_limited"].get("sms", 0),
        "accepted": len(arrivals),
        "rate_at_provider": round(overall, 2),
        "duplicates": len(bodies) - len(set(bodies)),
        "seconds": round(seconds, 2),
        "worker": stats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=450)
    parser.add_argument("--rate", type=float, default=30.0,
                        help="the provider's limit and OUTREACH_SMS_RATE, texts per second")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="sender threads per process")
    parser.add_argument("--batch", type=int, default=10,
                        help="rows a worker claims at a time (small: the workers share them)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    os.environ["OUTREACH_SMS_RATE"] = str(args.rate)  # the spawned workers' settings
    with tempfile.TemporaryDirectory() as folder:
        shared = run(args, "shared", Path(folder))
        baseline = run(args, "process", Path(folder))
    result = {
        "messages": args.messages, "processes": args.processes, "rate": args.rate,
        "store": args.store, "ledger": "redis" if os.environ.get("OUTREACH_REDIS_URL")
        else "store", "latency_ms": args.latency_ms,
        "shared": shared, "baseline": baseline,
        "ok": shared["provider_429s"] == 0 and shared["max_one_second_window"] <= args.rate
        and shared["rate_at_provider"] >= 0.9 * args.rate and shared["duplicates"] == 0,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
