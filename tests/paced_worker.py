"""`outreach worker` as deployments build it (outreach.ops.wiring: the account's shared send
budget included), sending until the queue is empty and printing its stats as JSON, for the
shared-rate test that runs three of them on one outbox.

    python -m tests.paced_worker [--batch 10] [--process-local]

The compliance gate is left out (its quiet hours follow the wall clock and would make the test
depend on the hour it runs at): pacing is what is under test. `--process-local` gives the
worker today's pacing instead, a bucket of its own at the full rate (the test's control).
"""

from __future__ import annotations

import argparse
import json

from outreach.config import Settings
from outreach.ops.wiring import build_worker
from outreach.sending.gate import gate_stub
from outreach.sending.pacing import TokenBucket


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=10, help="rows claimed at a time")
    parser.add_argument("--process-local", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env()
    worker = build_worker(settings, concurrency=8)
    worker.gate = gate_stub
    worker.options.batch_size = args.batch
    if args.process_local:
        worker.buckets = {"email": TokenBucket(settings.send.email_rate),
                          "sms": TokenBucket(settings.send.sms_rate)}
    print(json.dumps(dict(worker.run(once=True))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
